/*
 * tftp-pull HOST PORT FILE COUNT BLKSIZE WINDOWSIZE EXPECTED [TIMEOUT_MS RETRIES]
 *
 * COUNT TFTP read transfers of FILE at once, as firmware makes them, in one process on one
 * epoll loop: each its own UDP socket (the server answers each from a port of its own, so
 * a transfer is known by the socket its packets arrive on), each read by the rules of
 * tftp-read.h (shared with the storm's client): WINDOWSIZE 1 is lock-step; the last packet
 * sent again after TIMEOUT_MS (default 1000) of silence, RETRIES times (default 5). Every
 * block is compared with the same bytes of EXPECTED, the file as the server has it, so a
 * copy that differs anywhere fails. Compiled, it costs the server it measures far less CPU
 * than a load generator in Node would (issue: the generator must never be the limit).
 *
 * Prints one JSON line: count, ok, failed, errors by reason, seconds to the last transfer's
 * end, bytes received by the good copies, median and largest transfer time in ms,
 * retransmits, and the generator's own CPU seconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tftp-read.h"

enum outcome { RUNNING, OK, FAILED };
/* Failure reasons, counted by kind in the output: a tftp_result's, and a timeout. */
static const char *const REASONS[] = {[TFTP_SERVER_ERROR] = "server error", [TFTP_WRONG_BYTES] = "wrong bytes", [TFTP_TOO_LONG] = "too long",
                                      [TFTP_BAD_PACKET] = "bad packet", [TFTP_BAD_PACKET + 1] = "timeout"};
enum { TIMEOUT = TFTP_BAD_PACKET + 1, REASON_COUNT };

struct transfer {
  struct tftp_read read;
  enum outcome outcome;
  int reason;
  double started, ended;
};

static void finish(struct transfer *t, enum outcome outcome, int reason) {
  t->outcome = outcome;
  t->reason = reason;
  t->ended = monotonic_seconds();
  close(t->read.fd);
  t->read.fd = -1;
}

int main(int argc, char **argv) {
  if (argc != 8 && argc != 10) {
    fprintf(stderr, "usage: tftp-pull HOST PORT FILE COUNT BLKSIZE WINDOWSIZE EXPECTED [TIMEOUT_MS RETRIES]\n");
    return 2;
  }
  struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  const char *file = argv[3];
  int count = atoi(argv[4]), blksize = atoi(argv[5]), windowsize = atoi(argv[6]);
  double timeout_s = (argc == 10 ? atoi(argv[8]) : 1000) / 1000.0;
  int max_retries = argc == 10 ? atoi(argv[9]) : 5;
  if (inet_pton(AF_INET, argv[1], &server.sin_addr) != 1 || count <= 0 || blksize < 8 || windowsize < 1 || strlen(file) > 255) {
    fprintf(stderr, "tftp-pull: bad arguments\n");
    return 2;
  }
  long long expected_size = 0;
  unsigned char *expected_bytes = tftp_load_file(argv[7], &expected_size);
  if (expected_bytes == NULL) {
    perror("tftp-pull: expected file");
    return 2;
  }

  struct transfer *transfers = calloc((size_t)count, sizeof *transfers);
  int epoll = epoll_create1(0);
  double started = monotonic_seconds();
  for (int i = 0; i < count; i++) {
    struct transfer *t = &transfers[i];
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      perror("tftp-pull: socket");
      return 1;
    }
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
    t->started = monotonic_seconds();
    tftp_start(&t->read, fd, &server, file, blksize, windowsize, expected_bytes, expected_size, timeout_s);
  }

  int running = count, retransmits = 0;
  unsigned char packet[70000];
  struct epoll_event events[512];
  double next_scan = monotonic_seconds() + 0.05;
  while (running > 0) {
    int ready = epoll_wait(epoll, events, 512, 50);
    for (int e = 0; e < ready; e++) {
      struct transfer *t = &transfers[events[e].data.u32];
      if (t->read.fd < 0) continue;
      /* One datagram per wake: epoll is level-triggered and reports the socket again while
       * more wait, which spares the read that would only say EAGAIN (lock-step has one). */
      struct sockaddr_in from;
      socklen_t from_len = sizeof from;
      ssize_t length = recvfrom(t->read.fd, packet, sizeof packet, 0, (struct sockaddr *)&from, &from_len);
      if (length < 0 || from.sin_addr.s_addr != server.sin_addr.s_addr) continue;
      enum tftp_result result = tftp_receive(&t->read, packet, length, from.sin_port);
      if (result == TFTP_GOING) continue;
      finish(t, result == TFTP_COMPLETE ? OK : FAILED, result);
      running--;
    }
    double at = monotonic_seconds();
    if (at < next_scan) continue;
    next_scan = at + 0.05;
    for (int i = 0; i < count; i++) {
      struct transfer *t = &transfers[i];
      if (t->outcome != RUNNING || at < t->read.deadline) continue;
      if (t->read.tries >= max_retries) {
        finish(t, FAILED, TIMEOUT);
        running--;
        continue;
      }
      t->read.tries++;
      retransmits++;
      tftp_send_last(&t->read);
    }
  }
  double seconds = monotonic_seconds() - started;

  int ok = 0, failed_by[REASON_COUNT] = {0};
  long long bytes = 0;
  double *times = malloc(sizeof(double) * (size_t)count);
  for (int i = 0; i < count; i++) {
    if (transfers[i].outcome == OK) {
      times[ok++] = (transfers[i].ended - transfers[i].started) * 1000;
      bytes += transfers[i].read.bytes;
    } else {
      failed_by[transfers[i].reason]++;
    }
  }
  qsort(times, (size_t)ok, sizeof *times, compare_doubles);
  double cpu = own_cpu_seconds();
  printf("{\"count\":%d,\"ok\":%d,\"failed\":%d,\"errors\":{", count, ok, count - ok);
  const char *separator = "";
  for (int r = 0; r < REASON_COUNT; r++) {
    if (failed_by[r] == 0) continue;
    printf("%s\"%s\":%d", separator, REASONS[r], failed_by[r]);
    separator = ",";
  }
  printf("},\"seconds\":%.3f,\"bytes\":%lld,", seconds, bytes);
  if (ok > 0) printf("\"p50Ms\":%.1f,\"maxMs\":%.1f,", times[ok / 2], times[ok - 1]);
  else printf("\"p50Ms\":null,\"maxMs\":null,");
  printf("\"retransmits\":%d,\"cpuSeconds\":%.3f}\n", retransmits, cpu);
  return 0;
}
