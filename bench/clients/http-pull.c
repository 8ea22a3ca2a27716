/*
 * http-pull HOST PORT[,PORT...] PATH CONNECTIONS SECONDS
 *
 * CONNECTIONS simulated agents, each downloading PATH once over its own TCP connection, all
 * at the same moment, in one process on one epoll loop. The bodies are discarded in the
 * kernel (recv with MSG_TRUNC drops TCP data without copying it to user space, tcp(7)), so
 * the generator costs far less CPU per byte than the server it measures: a wrk or curl
 * would copy every byte and, on a small machine, become the limit itself. With several
 * ports, agent i downloads from the (i mod n)th: metalbox's file threads each serve a port
 * of their own, and metalbox names them to machines in turn.
 *
 * Stops when every download has finished or after SECONDS, whichever comes first, and
 * prints one JSON line: bytes received, seconds, finished downloads, failures, downloads
 * still without the response's headers, the smallest / median / largest bytes any one
 * connection received (an agent starved by the
 * others shows there), and the generator's own CPU seconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "generator.h"

enum phase { HEADERS, BODY, DONE, FAILED };

struct agent {
  int fd;
  enum phase phase;
  char head[8192];
  size_t head_len;
  long long remaining; /* body bytes still to come */
  long long received;  /* body bytes received */
};

static int compare(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

/* Takes the status line and Content-Length from the header block; the rest of the buffer is body. */
static int parse_headers(struct agent *agent) {
  char *end = memmem(agent->head, agent->head_len, "\r\n\r\n", 4);
  if (end == NULL) return agent->head_len < sizeof agent->head ? 0 : -1;
  *end = '\0';
  if (strncmp(agent->head, "HTTP/1.1 200", 12) != 0) return -1;
  char *length = strcasestr(agent->head, "\r\ncontent-length:");
  if (length == NULL) return -1;
  agent->remaining = atoll(length + 17);
  size_t body = agent->head_len - (size_t)(end + 4 - agent->head);
  agent->received = (long long)body;
  agent->remaining -= (long long)body;
  agent->phase = agent->remaining <= 0 ? DONE : BODY;
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: http-pull HOST PORT[,PORT...] PATH CONNECTIONS SECONDS\n");
    return 2;
  }
  const char *host = argv[1], *path = argv[3];
  int count = atoi(argv[4]);
  double seconds = atof(argv[5]);
  struct sockaddr_in server = {.sin_family = AF_INET};
  uint16_t ports[64];
  int port_count = 0, bad_port = 0;
  for (char *port = strtok(argv[2], ","); port != NULL; port = strtok(NULL, ",")) {
    int value = atoi(port);
    if (value <= 0 || value > 65535 || port_count == 64) bad_port = 1;
    else ports[port_count++] = (uint16_t)value;
  }
  if (count <= 0 || port_count == 0 || bad_port || inet_pton(AF_INET, host, &server.sin_addr) != 1) {
    fprintf(stderr, "http-pull: bad host, port or connection count\n");
    return 2;
  }
  char request[1024];
  int request_len = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);

  struct agent *agents = calloc((size_t)count, sizeof *agents);
  int epoll = epoll_create1(0);
  double started = monotonic_seconds();
  for (int i = 0; i < count; i++) {
    server.sin_port = htons(ports[i % port_count]);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&server, sizeof server) != 0 || write(fd, request, (size_t)request_len) != request_len) {
      perror("http-pull: connect");
      return 1;
    }
    agents[i].fd = fd;
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
  }

  int open = count, failures = 0, finished = 0;
  struct epoll_event events[256];
  while (open > 0) {
    double left = seconds - (monotonic_seconds() - started);
    if (left <= 0) break;
    int ready = epoll_wait(epoll, events, 256, (int)(left * 1000) + 1);
    for (int e = 0; e < ready; e++) {
      struct agent *agent = &agents[events[e].data.u32];
      ssize_t got;
      if (agent->phase == HEADERS) {
        got = recv(agent->fd, agent->head + agent->head_len, sizeof agent->head - agent->head_len, 0);
        if (got > 0) {
          agent->head_len += (size_t)got;
          if (parse_headers(agent) < 0) agent->phase = FAILED;
        }
      } else {
        got = recv(agent->fd, NULL, (size_t)agent->remaining, MSG_TRUNC);
        if (got > 0) {
          agent->received += got;
          agent->remaining -= got;
          if (agent->remaining <= 0) agent->phase = DONE;
        }
      }
      if (got == 0 && agent->phase != DONE) agent->phase = FAILED;
      if (got < 0 && errno != EAGAIN && errno != EINTR) agent->phase = FAILED;
      if (agent->phase == DONE || agent->phase == FAILED) {
        if (agent->phase == DONE) finished++;
        else failures++;
        close(agent->fd);
        open--;
      }
    }
  }
  double elapsed = monotonic_seconds() - started;

  long long total = 0, *received = malloc(sizeof(long long) * (size_t)count);
  int unanswered = 0;
  for (int i = 0; i < count; i++) {
    total += agents[i].received;
    received[i] = agents[i].received;
    if (agents[i].phase == HEADERS) unanswered++;
  }
  qsort(received, (size_t)count, sizeof *received, compare);
  double cpu = own_cpu_seconds();
  printf("{\"bytes\":%lld,\"seconds\":%.3f,\"finished\":%d,\"failed\":%d,\"unfinished\":%d,\"unanswered\":%d,"
         "\"minBytes\":%lld,\"medianBytes\":%lld,\"maxBytes\":%lld,\"cpuSeconds\":%.3f}\n",
         total, elapsed, finished, failures, open, unanswered, received[0], received[count / 2], received[count - 1], cpu);
  return 0;
}
