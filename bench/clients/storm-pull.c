/*
 * storm-pull SERVER BIND MACS SPREAD_S NBP
 *
 * The boot storm's load generator: one simulated UEFI PXE client per line of MACS, arriving
 * evenly over SPREAD_S seconds, each doing on the wire what OVMF's EDK2 and then iPXE do,
 * all in one process on one epoll loop:
 *
 *   DISCOVER (EDK2's options) → OFFER;  REQUEST to 4011 → ACK naming the NBP;
 *   TFTP of the NBP (blksize 1468, windowsize 4, as EDK2 asks), every block compared with
 *   the same bytes of NBP, the file as the server has it;
 *   DISCOVER as iPXE (user class iPXE, option 175) → OFFER naming the script URL;
 *   GET the URL → the chain script;  GET its target with the MAC → the machine's script,
 *   which must have a kernel line.
 *
 * DHCP goes through one relay socket (bound to BIND:67, giaddr BIND), as a site's relay
 * forwards a fleet's broadcasts, and answers are matched to clients by xid; a DHCP step is
 * sent again after 4 s, four tries in all. TFTP by the rules of tftp-read.h, the last
 * packet again after 1 s of silence, eight times. HTTP: one connection per request, as
 * separate firmware would open. The
 * same steps as the Node client it replaced (bench/storm-client.ts, which spent most of a
 * core at 10,000 clients over 30 s and so could not measure the storm's wall time).
 *
 * Prints one JSON line: clients, ok, failed, failures by "stage: reason", wall seconds
 * from the first arrival to the last client's end, p50/p90/p99/max of a client's time from
 * its first DISCOVER to its script, DHCP retries, TFTP retransmits, the generator's CPU seconds.
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "tftp-read.h"

enum stage { DISCOVER, REQUEST_4011, TFTP, IPXE_DISCOVER, CHAIN, SCRIPT, DONE };
static const char *const STAGE_NAMES[] = {"discover", "request-4011", "tftp", "ipxe-discover", "chain", "script", "done"};
enum { DHCP_TRIES = 4, TFTP_RETRIES = 8 };
static const double DHCP_TIMEOUT_S = 4, TFTP_TIMEOUT_S = 1, HTTP_TIMEOUT_S = 30;
enum { BLKSIZE = 1468, WINDOWSIZE = 4, HTTP_MAX = 16384 };
/* epoll data: the client's index shifted left, and what the descriptor is. */
enum { TAG_TFTP = 1, TAG_HTTP = 2, TAG_RELAY = 3, TAG_PXE = 4 };

struct client {
  unsigned char mac[6];
  enum stage stage;
  int failed;
  const char *reason;
  double arrives, started, ended, deadline;
  int tries;
  uint32_t xid;
  int fd; /* the TFTP socket or the HTTP connection, -1 between them */
  char nbp[128];
  struct tftp_read read;
  /* HTTP */
  char url[256];
  char *response;
  size_t response_len;
  size_t request_sent;
};

static struct client *clients;
static int client_count;
static struct sockaddr_in server, bind_address;
static int relay_fd, pxe_fd, epoll_fd;
static unsigned char *nbp_bytes;
static long long nbp_size;
static int dhcp_retries, tftp_retransmits, running;

/* The p-th percentile (nearest rank) of N ascending values, as bench/clients/stats.ts has it. */
static double percentile(const double *sorted, int n, double p) {
  int rank = (int)((p / 100) * n + 0.999999999);
  return sorted[rank < 1 ? 0 : rank > n ? n - 1 : rank - 1];
}

static void watch(int fd, int index, int tag, uint32_t events) {
  struct epoll_event event = {.events = events, .data.u64 = (uint64_t)index << 3 | (uint64_t)tag};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event);
}

static void close_fd(struct client *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

static void end(struct client *c, const char *reason) {
  close_fd(c);
  free(c->response);
  c->response = NULL;
  c->failed = reason != NULL;
  c->reason = reason;
  c->ended = monotonic_seconds();
  if (!c->failed) c->stage = DONE;
  running--;
}

/* ---- DHCP ---- */

static size_t put_option(unsigned char *at, int code, const void *data, size_t length) {
  at[0] = (unsigned char)code;
  at[1] = (unsigned char)length;
  memcpy(at + 2, data, length);
  return length + 2;
}

/* A DISCOVER (relayed) or a REQUEST to 4011 (from our address), as pxeRequest in the Node client. */
static void send_dhcp(struct client *c) {
  unsigned char packet[400] = {0};
  int to_4011 = c->stage == REQUEST_4011, ipxe = c->stage == IPXE_DISCOVER;
  packet[0] = 1; /* BOOTREQUEST */
  packet[1] = 1;
  packet[2] = 6;
  packet[3] = 1; /* hops: relayed */
  memcpy(packet + 4, &(uint32_t){htonl(c->xid)}, 4);
  packet[9] = 4; /* secs */
  if (!to_4011) packet[10] = 0x80;  /* broadcast flag */
  if (to_4011) memcpy(packet + 12, &bind_address.sin_addr, 4); /* ciaddr */
  else memcpy(packet + 24, &bind_address.sin_addr, 4);          /* giaddr */
  memcpy(packet + 28, c->mac, 6);
  memcpy(packet + 236, "\x63\x82\x53\x63", 4);
  size_t at = 240;
  at += put_option(packet + at, 53, (unsigned char[]){to_4011 ? 3 : 1}, 1);
  at += put_option(packet + at, 57, "\x05\xc0", 2);
  unsigned char uuid[17] = {0};
  memcpy(uuid + 1, c->mac, 6);
  at += put_option(packet + at, 97, uuid, 17);
  at += put_option(packet + at, 94, "\x01\x03\x00", 3);
  at += put_option(packet + at, 93, "\x00\x07", 2);
  const char *vendor = ipxe ? "PXEClient:Arch:00007:UNDI:003016" : "PXEClient:Arch:00007:UNDI:003000";
  at += put_option(packet + at, 60, vendor, strlen(vendor));
  if (ipxe) {
    at += put_option(packet + at, 77, "iPXE", 4);
    at += put_option(packet + at, 175, "\x13\x01\x01\x11\x01\x01", 6);
  }
  packet[at++] = 255;
  if (at < 300) at = 300;
  struct sockaddr_in to = server;
  to.sin_port = htons(to_4011 ? 4011 : 67);
  sendto(to_4011 ? pxe_fd : relay_fd, packet, at, 0, (struct sockaddr *)&to, sizeof to);
  c->deadline = monotonic_seconds() + DHCP_TIMEOUT_S;
}

static void start_dhcp(struct client *c, enum stage stage) {
  c->stage = stage;
  c->tries = 1;
  c->xid = (uint32_t)(c - clients) * 4 + (uint32_t)(stage == DISCOVER ? 1 : stage == REQUEST_4011 ? 2 : 3);
  send_dhcp(c);
}

/* The value of option CODE in an answer, or NULL; its length in *length. */
static const unsigned char *dhcp_option(const unsigned char *packet, ssize_t size, int code, int *length) {
  ssize_t at = 240;
  while (at < size) {
    int option = packet[at];
    if (option == 255) break;
    if (option == 0) {
      at++;
      continue;
    }
    if (at + 1 >= size || at + 2 + packet[at + 1] > size) break;
    if (option == code) {
      *length = packet[at + 1];
      return packet + at + 2;
    }
    at += 2 + packet[at + 1];
  }
  return NULL;
}

static void start_tftp(struct client *c);
static void start_http(struct client *c, const char *url);

static void dhcp_answer(const unsigned char *packet, ssize_t size) {
  if (size < 240 || packet[0] != 2) return;
  uint32_t xid = ntohl(*(const uint32_t *)(packet + 4));
  uint32_t index = xid / 4;
  if (xid == 0 || index >= (uint32_t)client_count) return;
  struct client *c = &clients[index];
  if (c->xid != xid || c->reason != NULL || (c->stage != DISCOVER && c->stage != REQUEST_4011 && c->stage != IPXE_DISCOVER)) return;
  int length = 0;
  const unsigned char *type = dhcp_option(packet, size, 53, &length);
  char file[129] = {0};
  memcpy(file, packet + 108, 128);
  if (file[0] == 0) {
    const unsigned char *named = dhcp_option(packet, size, 67, &length);
    if (named != NULL) memcpy(file, named, (size_t)length < 128 ? (size_t)length : 128);
  }
  if (c->stage == DISCOVER) {
    if (type == NULL || type[0] != 2) {
      end(c, "not an OFFER");
      return;
    }
    start_dhcp(c, REQUEST_4011);
  } else if (c->stage == REQUEST_4011) {
    if (file[0] == 0) {
      end(c, "the ACK names no boot file");
      return;
    }
    snprintf(c->nbp, sizeof c->nbp, "%s", file);
    start_tftp(c);
  } else {
    if (strncmp(file, "http://", 7) != 0) {
      end(c, "iPXE was offered no URL");
      return;
    }
    c->stage = CHAIN;
    start_http(c, file);
  }
}

/* ---- TFTP ---- */

static void start_tftp(struct client *c) {
  c->stage = TFTP;
  c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) {
    end(c, "no socket");
    return;
  }
  struct sockaddr_in local = bind_address;
  local.sin_port = 0;
  bind(c->fd, (struct sockaddr *)&local, sizeof local);
  watch(c->fd, (int)(c - clients), TAG_TFTP, EPOLLIN);
  struct sockaddr_in to = server;
  to.sin_port = htons(69);
  tftp_start(&c->read, c->fd, &to, c->nbp, BLKSIZE, WINDOWSIZE, nbp_bytes, nbp_size, TFTP_TIMEOUT_S);
}

static const char *const TFTP_FAILURES[] = {
    [TFTP_SERVER_ERROR] = "server error", [TFTP_WRONG_BYTES] = "wrong bytes", [TFTP_TOO_LONG] = "too long", [TFTP_BAD_PACKET] = "bad packet"};

static void tftp_receive_datagram(struct client *c, const unsigned char *packet, ssize_t length, uint16_t from_port) {
  enum tftp_result result = tftp_receive(&c->read, packet, length, from_port);
  if (result == TFTP_GOING) return;
  if (result != TFTP_COMPLETE) {
    end(c, TFTP_FAILURES[result]);
    return;
  }
  close_fd(c);
  start_dhcp(c, IPXE_DISCOVER);
}

/*
 * A window's datagrams in one system call (recvmmsg): a window of 4 arrives together, and
 * reading them one per wake cost the generator an epoll_wait and a recvfrom per datagram.
 */
static void tftp_read(struct client *c) {
  static unsigned char buffers[WINDOWSIZE * 2][BLKSIZE + 64];
  static struct sockaddr_in from[WINDOWSIZE * 2];
  struct mmsghdr messages[WINDOWSIZE * 2];
  struct iovec vectors[WINDOWSIZE * 2];
  for (int i = 0; i < WINDOWSIZE * 2; i++) {
    vectors[i] = (struct iovec){.iov_base = buffers[i], .iov_len = sizeof buffers[i]};
    messages[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &from[i], .msg_namelen = sizeof from[i], .msg_iov = &vectors[i], .msg_iovlen = 1}};
  }
  int fd = c->fd;
  int count = recvmmsg(fd, messages, WINDOWSIZE * 2, MSG_DONTWAIT, NULL);
  /* A datagram that ends the transfer closes its socket: the rest of the batch is stale. */
  for (int i = 0; i < count && c->stage == TFTP && c->fd == fd; i++)
    if (from[i].sin_addr.s_addr == server.sin_addr.s_addr) tftp_receive_datagram(c, buffers[i], (ssize_t)messages[i].msg_len, from[i].sin_port);
}

/* ---- HTTP ---- */

static void start_http(struct client *c, const char *url) {
  snprintf(c->url, sizeof c->url, "%s", url);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(80)};
  char host[64];
  const char *rest = url + 7;
  size_t host_len = strcspn(rest, ":/");
  if (host_len >= sizeof host) {
    end(c, "bad URL");
    return;
  }
  memcpy(host, rest, host_len);
  host[host_len] = 0;
  if (rest[host_len] == ':') to.sin_port = htons((uint16_t)atoi(rest + host_len + 1));
  if (inet_pton(AF_INET, host, &to.sin_addr) != 1) {
    end(c, "bad URL");
    return;
  }
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) {
    end(c, "no socket");
    return;
  }
  if (connect(c->fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS) {
    end(c, "connect failed");
    return;
  }
  c->response = malloc(HTTP_MAX + 1);
  c->response_len = 0;
  c->request_sent = 0;
  c->deadline = monotonic_seconds() + HTTP_TIMEOUT_S;
  watch(c->fd, (int)(c - clients), TAG_HTTP, EPOLLOUT | EPOLLIN);
}

static void http_request_text(struct client *c, char *out, size_t size) {
  const char *rest = c->url + 7;
  size_t host_len = strcspn(rest, "/");
  const char *path = rest[host_len] ? rest + host_len : "/";
  snprintf(out, size, "GET %s HTTP/1.1\r\nHost: %.*s\r\nConnection: close\r\n\r\n", path, (int)host_len, rest);
}

/* Replaces the first NAME in TEXT (size SIZE) with VALUE. */
static void substitute(char *text, size_t size, const char *name, const char *value) {
  char *at = strstr(text, name);
  if (at == NULL) return;
  char tail[256];
  snprintf(tail, sizeof tail, "%s", at + strlen(name));
  snprintf(at, size - (size_t)(at - text), "%s%s", value, tail);
}

static void http_response(struct client *c) {
  c->response[c->response_len] = 0;
  const char *body = strstr(c->response, "\r\n\r\n");
  int status = 0;
  sscanf(c->response, "HTTP/1.%*d %d", &status);
  if (status != 200 || body == NULL) {
    end(c, c->stage == CHAIN ? "the chain script: not 200" : "the machine's script: not 200");
    return;
  }
  body += 4;
  if (c->stage == SCRIPT) {
    end(c, strncmp(body, "kernel ", 7) == 0 || strstr(body, "\nkernel ") != NULL ? NULL : "the machine's script has no kernel");
    return;
  }
  const char *chain = strncmp(body, "chain ", 6) == 0 ? body : strstr(body, "\nchain ");
  if (chain == NULL) {
    end(c, "the chain script names nothing");
    return;
  }
  chain += chain[0] == '\n' ? 7 : 6;
  char target[256];
  size_t target_len = strcspn(chain, " \r\n");
  if (target_len >= 200) {
    end(c, "the chain target is too long");
    return;
  }
  memcpy(target, chain, target_len);
  target[target_len] = 0;
  char hexhyp[18];
  snprintf(hexhyp, sizeof hexhyp, "%02x-%02x-%02x-%02x-%02x-%02x", c->mac[0], c->mac[1], c->mac[2], c->mac[3], c->mac[4], c->mac[5]);
  substitute(target, sizeof target, "${mac:hexhyp}", hexhyp);
  substitute(target, sizeof target, "${buildarch}", "x86_64");
  substitute(target, sizeof target, "${platform}", "efi");
  if (strncmp(target, "http://", 7) != 0) {
    end(c, "the chain target is not a URL");
    return;
  }
  close_fd(c);
  free(c->response);
  c->response = NULL;
  c->stage = SCRIPT;
  start_http(c, target);
}

static void http_ready(struct client *c, uint32_t events) {
  if (c->request_sent == 0 || events & EPOLLOUT) {
    char request[400];
    http_request_text(c, request, sizeof request);
    size_t length = strlen(request);
    if (c->request_sent < length) {
      ssize_t sent = send(c->fd, request + c->request_sent, length - c->request_sent, MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EAGAIN || errno == EINPROGRESS) return;
        end(c, strerror(errno));
        return;
      }
      c->request_sent += (size_t)sent;
      if (c->request_sent == length) {
        struct epoll_event event = {.events = EPOLLIN, .data.u64 = (uint64_t)(c - clients) << 3 | TAG_HTTP};
        epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &event);
      }
      return;
    }
  }
  for (;;) {
    if (c->response_len >= HTTP_MAX) {
      end(c, "answer too long");
      return;
    }
    ssize_t got = recv(c->fd, c->response + c->response_len, HTTP_MAX - c->response_len, 0);
    if (got > 0) {
      c->response_len += (size_t)got;
      continue;
    }
    if (got == 0) {
      http_response(c);
      return;
    }
    if (errno == EAGAIN) return;
    end(c, strerror(errno));
    return;
  }
}

/* ---- the loop ---- */

static void timeouts(double at) {
  for (int i = 0; i < client_count; i++) {
    struct client *c = &clients[i];
    if (c->started == 0 || c->ended != 0) continue;
    if (c->stage == TFTP) {
      if (at < c->read.deadline) continue;
      if (c->read.tries >= TFTP_RETRIES) {
        end(c, "timeout");
        continue;
      }
      c->read.tries++;
      tftp_retransmits++;
      tftp_send_last(&c->read);
    } else if (at < c->deadline) {
      continue;
    } else if (c->stage == CHAIN || c->stage == SCRIPT) {
      end(c, "timed out");
    } else {
      if (c->tries >= DHCP_TRIES) {
        end(c, "no answer after 4 tries");
        continue;
      }
      c->tries++;
      dhcp_retries++;
      send_dhcp(c);
    }
  }
}

static int udp_socket(uint16_t port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int size = 4 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  struct sockaddr_in local = bind_address;
  local.sin_port = htons(port);
  if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
    perror("storm-pull: bind");
    exit(1);
  }
  return fd;
}

static int read_macs(const char *path) {
  FILE *file = fopen(path, "r");
  if (file == NULL) return -1;
  int capacity = 1024, count = 0;
  clients = calloc((size_t)capacity, sizeof *clients);
  unsigned int m[6];
  while (fscanf(file, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6) {
    if (count == capacity) {
      capacity *= 2;
      clients = realloc(clients, (size_t)capacity * sizeof *clients);
      memset(clients + count, 0, (size_t)(capacity - count) * sizeof *clients);
    }
    for (int i = 0; i < 6; i++) clients[count].mac[i] = (unsigned char)m[i];
    clients[count].fd = -1;
    count++;
  }
  fclose(file);
  return count;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: storm-pull SERVER BIND MACS SPREAD_S NBP\n");
    return 2;
  }
  server.sin_family = bind_address.sin_family = AF_INET;
  double spread_s = atof(argv[4]);
  client_count = read_macs(argv[3]);
  if (inet_pton(AF_INET, argv[1], &server.sin_addr) != 1 || inet_pton(AF_INET, argv[2], &bind_address.sin_addr) != 1 || client_count <= 0 ||
      spread_s < 0) {
    fprintf(stderr, "storm-pull: bad arguments\n");
    return 2;
  }
  nbp_bytes = tftp_load_file(argv[5], &nbp_size);
  if (nbp_bytes == NULL) {
    perror("storm-pull: NBP");
    return 2;
  }
  /* A descriptor per client in TFTP or HTTP at once: up to all of them in a bad storm. */
  struct rlimit files = {.rlim_cur = (rlim_t)client_count + 64, .rlim_max = (rlim_t)client_count + 64};
  setrlimit(RLIMIT_NOFILE, &files);

  epoll_fd = epoll_create1(0);
  relay_fd = udp_socket(67);
  pxe_fd = udp_socket(0);
  watch(relay_fd, 0, TAG_RELAY, EPOLLIN);
  watch(pxe_fd, 0, TAG_PXE, EPOLLIN);

  double first = monotonic_seconds();
  for (int i = 0; i < client_count; i++) clients[i].arrives = first + spread_s * i / client_count;
  int next_arrival = 0;
  running = client_count;
  double next_scan = first + 0.02, next_progress = first + 10;
  unsigned char packet[70000];
  struct epoll_event events[512];
  while (running > 0) {
    double at = monotonic_seconds();
    while (next_arrival < client_count && clients[next_arrival].arrives <= at) {
      struct client *c = &clients[next_arrival++];
      c->started = at;
      start_dhcp(c, DISCOVER);
    }
    int wait_ms = 20;
    if (next_arrival < client_count) {
      double until = (clients[next_arrival].arrives - at) * 1000;
      if (until < wait_ms) wait_ms = until < 0 ? 0 : (int)until;
    }
    int ready = epoll_wait(epoll_fd, events, 512, wait_ms);
    for (int e = 0; e < ready; e++) {
      int tag = (int)(events[e].data.u64 & 7);
      struct client *c = &clients[events[e].data.u64 >> 3];
      if (tag == TAG_RELAY || tag == TAG_PXE) {
        for (int n = 0; n < 64; n++) {
          ssize_t length = recv(tag == TAG_RELAY ? relay_fd : pxe_fd, packet, sizeof packet, 0);
          if (length < 0) break;
          dhcp_answer(packet, length);
        }
      } else if (tag == TAG_TFTP && c->stage == TFTP && c->fd >= 0) {
        tftp_read(c);
      } else if (tag == TAG_HTTP && (c->stage == CHAIN || c->stage == SCRIPT) && c->fd >= 0) {
        http_ready(c, events[e].events);
      }
    }
    at = monotonic_seconds();
    if (at >= next_scan) {
      next_scan = at + 0.02;
      timeouts(at);
    }
    if (at >= next_progress) {
      /* Where the clients under way are, on stderr every 10 s: what a stalled run shows. */
      next_progress = at + 10;
      int by_stage[DONE + 1] = {0};
      for (int i = 0; i < next_arrival; i++)
        if (clients[i].ended == 0) by_stage[clients[i].stage]++;
      fprintf(stderr, "storm-pull at %.0f s: %d arrived, %d running:", at - first, next_arrival, running - (client_count - next_arrival));
      for (int stage = DISCOVER; stage < DONE; stage++) fprintf(stderr, " %s %d", STAGE_NAMES[stage], by_stage[stage]);
      fprintf(stderr, "\n");
    }
  }
  double last_end = first;
  int ok = 0;
  double *times = malloc(sizeof(double) * (size_t)client_count);
  for (int i = 0; i < client_count; i++) {
    if (clients[i].ended > last_end) last_end = clients[i].ended;
    if (!clients[i].failed) times[ok++] = (clients[i].ended - clients[i].started) * 1000;
  }
  qsort(times, (size_t)ok, sizeof *times, compare_doubles);
  double cpu = own_cpu_seconds();
  printf("{\"clients\":%d,\"ok\":%d,\"failed\":%d,\"failures\":{", client_count, ok, client_count - ok);
  /* Failures by stage and reason: few kinds, so counted by a scan per distinct pair. */
  const char *separator = "";
  for (int i = 0; i < client_count; i++) {
    if (!clients[i].failed) continue;
    int seen_before = 0;
    for (int j = 0; j < i && !seen_before; j++)
      seen_before = clients[j].failed && clients[j].stage == clients[i].stage && strcmp(clients[j].reason, clients[i].reason) == 0;
    if (seen_before) continue;
    int n = 0;
    for (int j = i; j < client_count; j++) n += clients[j].failed && clients[j].stage == clients[i].stage && strcmp(clients[j].reason, clients[i].reason) == 0;
    printf("%s\"%s: %s\":%d", separator, STAGE_NAMES[clients[i].stage], clients[i].reason, n);
    separator = ",";
  }
  printf("},\"wallSeconds\":%.3f,", last_end - first);
  if (ok > 0)
    printf("\"p50Ms\":%.1f,\"p90Ms\":%.1f,\"p99Ms\":%.1f,\"maxMs\":%.1f,", percentile(times, ok, 50), percentile(times, ok, 90),
           percentile(times, ok, 99), times[ok - 1]);
  else
    printf("\"p50Ms\":null,\"p90Ms\":null,\"p99Ms\":null,\"maxMs\":null,");
  printf("\"dhcpRetries\":%d,\"tftpRetransmits\":%d,\"cpuSeconds\":%.3f}\n", dhcp_retries, tftp_retransmits, cpu);
  return 0;
}
