/*
 * tftp-pull HOST PORT FILE COUNT BLKSIZE WINDOWSIZE EXPECTED [TIMEOUT_MS RETRIES]
 *
 * COUNT TFTP read transfers of FILE at once, as firmware makes them, in one process on one
 * epoll loop: each its own UDP socket (the server answers each from a port of its own, so
 * a transfer is known by the socket its packets arrive on), RFC 2348 blksize and, with
 * WINDOWSIZE above 1, RFC 7440 windowsize; an ACK per block in lock-step, per window
 * otherwise, and one ACK of the last good block per gap; the last packet sent again after
 * TIMEOUT_MS (default 1000) of silence, RETRIES times (default 5); "unknown transfer ID"
 * to a stray TID. The same rules as the storm's Node client (bench/clients/tftp.ts). Every block is compared
 * with the same bytes of EXPECTED, the file as the server has it, so a copy that differs
 * anywhere fails. Compiled, it costs the server it measures far less CPU than a load
 * generator in Node would (issue: the generator must never be the limit).
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { RRQ = 1, DATA = 3, ACK = 4, ERROR = 5, OACK = 6 };
enum outcome { RUNNING, OK, FAILED };
/* Failure reasons, counted by kind in the output. */
static const char *const REASONS[] = {"timeout", "server error", "wrong bytes", "too long", "bad packet"};
enum reason { TIMEOUT, SERVER_ERROR, WRONG_BYTES, TOO_LONG, BAD_PACKET, REASON_COUNT };

struct transfer {
  int fd;
  enum outcome outcome;
  enum reason reason;
  uint16_t server_port; /* the server's TID, from its first answer; 0 before */
  uint32_t expected;    /* the next block, counted without wrapping */
  uint32_t since_ack;
  uint32_t gap_reported_at;
  int blksize, windowsize;
  long long bytes;
  unsigned char last[600]; /* the last packet sent: RRQ or ACK */
  size_t last_len;
  int tries;
  double started, deadline, ended;
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static struct sockaddr_in server;
static unsigned char *expected_bytes;
static long long expected_size;
static double timeout_s;
static int max_retries;

static void send_last(struct transfer *t) {
  struct sockaddr_in to = server;
  if (t->server_port != 0) to.sin_port = t->server_port;
  sendto(t->fd, t->last, t->last_len, 0, (struct sockaddr *)&to, sizeof to);
  t->deadline = now() + timeout_s;
}

static void send_ack(struct transfer *t, uint32_t block) {
  t->last[0] = 0;
  t->last[1] = ACK;
  t->last[2] = (unsigned char)(block >> 8);
  t->last[3] = (unsigned char)block;
  t->last_len = 4;
  t->tries = 0;
  send_last(t);
}

static void finish(struct transfer *t, enum outcome outcome, enum reason reason) {
  t->outcome = outcome;
  t->reason = reason;
  t->ended = now();
  close(t->fd);
  t->fd = -1;
}

/* The value of option NAME in an OACK, or -1. */
static long oack_option(const unsigned char *packet, ssize_t length, const char *name) {
  ssize_t at = 2;
  while (at < length) {
    const char *key = (const char *)packet + at;
    size_t key_len = strnlen(key, (size_t)(length - at));
    if (at + (ssize_t)key_len + 1 >= length) return -1;
    const char *value = key + key_len + 1;
    size_t value_len = strnlen(value, (size_t)(length - at - (ssize_t)key_len - 1));
    if (strcasecmp(key, name) == 0) return atol(value);
    at += (ssize_t)(key_len + value_len + 2);
  }
  return -1;
}

static void receive(struct transfer *t, const unsigned char *packet, ssize_t length, uint16_t from_port) {
  if (length < 4) return;
  int opcode = packet[0] << 8 | packet[1];
  /* The server's TID is the port of the packet that answers the request: an OACK, an ERROR
   * or DATA block 1. Anything from another port (the server's answer to a retransmitted
   * request, as a second transfer) gets "unknown transfer ID", as RFC 1350 has a host
   * answer a stray TID, so that transfer ends instead of resending to us until it times out. */
  int answers_request = opcode == OACK || opcode == ERROR || (opcode == DATA && packet[2] == 0 && packet[3] == 1);
  if (t->server_port == 0 && answers_request) t->server_port = from_port;
  if (from_port != t->server_port) {
    if (opcode != ERROR) {
      static const unsigned char unknown_tid[] = {0, ERROR, 0, 5, 'u', 'n', 'k', 'n', 'o', 'w', 'n', ' ', 'T', 'I', 'D', 0};
      struct sockaddr_in to = server;
      to.sin_port = from_port;
      sendto(t->fd, unknown_tid, sizeof unknown_tid, 0, (struct sockaddr *)&to, sizeof to);
    }
    return;
  }
  if (opcode == ERROR) {
    finish(t, FAILED, SERVER_ERROR);
  } else if (opcode == OACK) {
    long blksize = oack_option(packet, length, "blksize");
    long windowsize = oack_option(packet, length, "windowsize");
    if (blksize > 0) t->blksize = (int)blksize;
    t->windowsize = windowsize > 0 ? (int)windowsize : 1;
    send_ack(t, 0);
  } else if (opcode == DATA) {
    uint32_t block = (uint32_t)(packet[2] << 8 | packet[3]);
    ssize_t payload = length - 4;
    if (block == (t->expected & 0xffff)) {
      long long offset = t->bytes;
      if (payload > t->blksize || offset + payload > expected_size) {
        finish(t, FAILED, TOO_LONG);
        return;
      }
      if (memcmp(packet + 4, expected_bytes + offset, (size_t)payload) != 0) {
        finish(t, FAILED, WRONG_BYTES);
        return;
      }
      t->bytes += payload;
      t->expected++;
      t->since_ack++;
      if (payload < t->blksize) {
        send_ack(t, block);
        finish(t, t->bytes == expected_size ? OK : FAILED, WRONG_BYTES);
        return;
      }
      if (t->since_ack >= (uint32_t)t->windowsize) {
        send_ack(t, block);
        t->since_ack = 0;
      } else {
        t->deadline = now() + timeout_s;
      }
    } else if (t->gap_reported_at != t->expected) {
      /* A gap or a duplicate: the last good block, once per gap (RFC 7440 section 4). */
      t->gap_reported_at = t->expected;
      send_ack(t, (t->expected - 1) & 0xffff);
      t->since_ack = 0;
    }
  } else {
    finish(t, FAILED, BAD_PACKET);
  }
}

int main(int argc, char **argv) {
  if (argc != 8 && argc != 10) {
    fprintf(stderr, "usage: tftp-pull HOST PORT FILE COUNT BLKSIZE WINDOWSIZE EXPECTED [TIMEOUT_MS RETRIES]\n");
    return 2;
  }
  server.sin_family = AF_INET;
  server.sin_port = htons((uint16_t)atoi(argv[2]));
  const char *file = argv[3];
  int count = atoi(argv[4]), blksize = atoi(argv[5]), windowsize = atoi(argv[6]);
  timeout_s = (argc == 10 ? atoi(argv[8]) : 1000) / 1000.0;
  max_retries = argc == 10 ? atoi(argv[9]) : 5;
  if (inet_pton(AF_INET, argv[1], &server.sin_addr) != 1 || count <= 0 || blksize < 8 || windowsize < 1 || strlen(file) > 255) {
    fprintf(stderr, "tftp-pull: bad arguments\n");
    return 2;
  }
  FILE *expected = fopen(argv[7], "rb");
  struct stat info;
  if (expected == NULL || fstat(fileno(expected), &info) != 0) {
    perror("tftp-pull: expected file");
    return 2;
  }
  expected_size = info.st_size;
  expected_bytes = malloc((size_t)expected_size + 1);
  if (fread(expected_bytes, 1, (size_t)expected_size, expected) != (size_t)expected_size) return 2;
  fclose(expected);

  /* RRQ: opcode, file, mode, then the options. */
  unsigned char rrq[600];
  size_t rrq_len = 2;
  rrq[0] = 0;
  rrq[1] = RRQ;
  char options[128];
  int options_len = windowsize > 1 ? snprintf(options, sizeof options, "octet%cblksize%c%d%cwindowsize%c%d%c", 0, 0, blksize, 0, 0, windowsize, 0)
                                   : snprintf(options, sizeof options, "octet%cblksize%c%d%c", 0, 0, blksize, 0);
  memcpy(rrq + rrq_len, file, strlen(file) + 1);
  rrq_len += strlen(file) + 1;
  memcpy(rrq + rrq_len, options, (size_t)options_len);
  rrq_len += (size_t)options_len;

  struct transfer *transfers = calloc((size_t)count, sizeof *transfers);
  int epoll = epoll_create1(0);
  double started = now();
  for (int i = 0; i < count; i++) {
    struct transfer *t = &transfers[i];
    t->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (t->fd < 0) {
      perror("tftp-pull: socket");
      return 1;
    }
    t->expected = 1;
    t->gap_reported_at = 0;
    t->blksize = 512; /* until an OACK says otherwise: a server without options sends 512 */
    t->windowsize = 1;
    memcpy(t->last, rrq, rrq_len);
    t->last_len = rrq_len;
    t->started = now();
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(epoll, EPOLL_CTL_ADD, t->fd, &event);
    send_last(t);
  }

  int running = count, retransmits = 0;
  unsigned char packet[70000];
  struct epoll_event events[512];
  double next_scan = now() + 0.05;
  while (running > 0) {
    int ready = epoll_wait(epoll, events, 512, 50);
    for (int e = 0; e < ready; e++) {
      struct transfer *t = &transfers[events[e].data.u32];
      if (t->fd < 0) continue;
      /* One datagram per wake: epoll is level-triggered and reports the socket again while
       * more wait, which spares the read that would only say EAGAIN (lock-step has one). */
      struct sockaddr_in from;
      socklen_t from_len = sizeof from;
      ssize_t length = recvfrom(t->fd, packet, sizeof packet, 0, (struct sockaddr *)&from, &from_len);
      if (length < 0 || from.sin_addr.s_addr != server.sin_addr.s_addr) continue;
      receive(t, packet, length, from.sin_port);
      if (t->outcome != RUNNING) running--;
    }
    double at = now();
    if (at < next_scan) continue;
    next_scan = at + 0.05;
    for (int i = 0; i < count; i++) {
      struct transfer *t = &transfers[i];
      if (t->outcome != RUNNING || at < t->deadline) continue;
      if (t->tries >= max_retries) {
        finish(t, FAILED, TIMEOUT);
        running--;
        continue;
      }
      t->tries++;
      retransmits++;
      send_last(t);
    }
  }
  double seconds = now() - started;

  int ok = 0, failed_by[REASON_COUNT] = {0};
  long long bytes = 0;
  double *times = malloc(sizeof(double) * (size_t)count);
  for (int i = 0; i < count; i++) {
    if (transfers[i].outcome == OK) {
      times[ok++] = (transfers[i].ended - transfers[i].started) * 1000;
      bytes += transfers[i].bytes;
    } else {
      failed_by[transfers[i].reason]++;
    }
  }
  qsort(times, (size_t)ok, sizeof *times, compare_doubles);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
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
