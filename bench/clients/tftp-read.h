/*
 * One TFTP read as a client makes it, shared by the bench's C load generators (tftp-pull.c,
 * storm-pull.c): the RRQ with RFC 2348 blksize and, above 1, RFC 7440 windowsize; an ACK
 * per block in lock-step, per window otherwise, and one ACK of the last good block per gap;
 * "unknown transfer ID" to a stray TID (RFC 1350), so a second transfer the server started
 * for a retransmitted request ends at once instead of resending until it times out. Every
 * block is compared with the same bytes of the file as the server has it. No sockets are
 * made here and no clock is kept beyond each send's deadline: the caller owns the loop.
 */
#ifndef TFTP_READ_H
#define TFTP_READ_H

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "generator.h"

enum { TFTP_RRQ = 1, TFTP_DATA = 3, TFTP_ACK = 4, TFTP_ERROR = 5, TFTP_OACK = 6 };

/* What a datagram did to the read: nothing final yet, the whole file, or why it failed. */
enum tftp_result { TFTP_GOING, TFTP_COMPLETE, TFTP_SERVER_ERROR, TFTP_WRONG_BYTES, TFTP_TOO_LONG, TFTP_BAD_PACKET };

struct tftp_read {
  int fd;
  struct sockaddr_in server; /* port 69 (or the one given); the server's TID once it answers */
  int answered;              /* whether server.sin_port is the server's TID yet */
  uint32_t expected;         /* the next block, counted without wrapping */
  uint32_t since_ack;
  uint32_t gap_reported_at;
  int blksize, windowsize;
  long long bytes;
  const unsigned char *file_bytes; /* the file as the server has it */
  long long file_size;
  unsigned char last[600]; /* the last packet sent: RRQ or ACK */
  size_t last_len;
  int tries;
  double timeout_s, deadline;
};

/* The whole of the file at PATH, the bytes a read is compared with; NULL when it cannot be read. */
static inline unsigned char *tftp_load_file(const char *path, long long *size) {
  FILE *file = fopen(path, "rb");
  if (file == NULL) return NULL;
  fseek(file, 0, SEEK_END);
  *size = ftell(file);
  rewind(file);
  unsigned char *bytes = *size < 0 ? NULL : malloc((size_t)*size + 1);
  if (bytes != NULL && fread(bytes, 1, (size_t)*size, file) != (size_t)*size) {
    free(bytes);
    bytes = NULL;
  }
  fclose(file);
  return bytes;
}

/* Sends the last packet again (or first), and sets when to give up waiting for an answer. */
static inline void tftp_send_last(struct tftp_read *t) {
  sendto(t->fd, t->last, t->last_len, 0, (const struct sockaddr *)&t->server, sizeof t->server);
  t->deadline = monotonic_seconds() + t->timeout_s;
}

static inline void tftp_send_ack(struct tftp_read *t, uint32_t block) {
  t->last[0] = 0;
  t->last[1] = TFTP_ACK;
  t->last[2] = (unsigned char)(block >> 8);
  t->last[3] = (unsigned char)block;
  t->last_len = 4;
  t->tries = 0;
  tftp_send_last(t);
}

/* Begins a read of NAME on the bound socket FD: the RRQ goes out. */
static inline void tftp_start(struct tftp_read *t, int fd, const struct sockaddr_in *server, const char *name, int blksize, int windowsize,
                              const unsigned char *file_bytes, long long file_size, double timeout_s) {
  memset(t, 0, sizeof *t);
  t->fd = fd;
  t->server = *server;
  t->expected = 1;
  t->blksize = 512; /* until an OACK says otherwise: a server without options sends 512 */
  t->windowsize = 1;
  t->file_bytes = file_bytes;
  t->file_size = file_size;
  t->timeout_s = timeout_s;
  t->last[1] = TFTP_RRQ;
  int length = windowsize > 1 ? snprintf((char *)t->last + 2, sizeof t->last - 2, "%s%coctet%cblksize%c%d%cwindowsize%c%d%c", name, 0, 0, 0,
                                         blksize, 0, 0, windowsize, 0)
                              : snprintf((char *)t->last + 2, sizeof t->last - 2, "%s%coctet%cblksize%c%d%c", name, 0, 0, 0, blksize, 0);
  t->last_len = (size_t)length + 2;
  tftp_send_last(t);
}

/* The value of option NAME in an OACK, or -1. */
static inline long tftp_oack_option(const unsigned char *packet, ssize_t length, const char *name) {
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

/*
 * A datagram from the server's address and FROM_PORT. The final ACK leaves before this
 * returns TFTP_COMPLETE: a caller that closes the socket then has sent it (the server would
 * resend its last window otherwise).
 */
static inline enum tftp_result tftp_receive(struct tftp_read *t, const unsigned char *packet, ssize_t length, uint16_t from_port) {
  if (length < 4) return TFTP_GOING;
  int opcode = packet[0] << 8 | packet[1];
  /* The server's TID is the port of the packet that answers the request: an OACK, an ERROR or DATA block 1. */
  int answers_request = opcode == TFTP_OACK || opcode == TFTP_ERROR || (opcode == TFTP_DATA && packet[2] == 0 && packet[3] == 1);
  if (!t->answered && answers_request) {
    t->answered = 1;
    t->server.sin_port = from_port;
  }
  if (!t->answered || from_port != t->server.sin_port) {
    if (opcode != TFTP_ERROR) {
      static const unsigned char unknown_tid[] = {0, TFTP_ERROR, 0, 5, 'u', 'n', 'k', 'n', 'o', 'w', 'n', ' ', 'T', 'I', 'D', 0};
      struct sockaddr_in to = t->server;
      to.sin_port = from_port;
      sendto(t->fd, unknown_tid, sizeof unknown_tid, 0, (struct sockaddr *)&to, sizeof to);
    }
    return TFTP_GOING;
  }
  if (opcode == TFTP_ERROR) return TFTP_SERVER_ERROR;
  if (opcode == TFTP_OACK) {
    long blksize = tftp_oack_option(packet, length, "blksize"), windowsize = tftp_oack_option(packet, length, "windowsize");
    if (blksize > 0) t->blksize = (int)blksize;
    t->windowsize = windowsize > 0 ? (int)windowsize : 1;
    tftp_send_ack(t, 0);
    return TFTP_GOING;
  }
  if (opcode != TFTP_DATA) return TFTP_BAD_PACKET;
  uint32_t block = (uint32_t)(packet[2] << 8 | packet[3]);
  ssize_t payload = length - 4;
  if (block == (t->expected & 0xffff)) {
    if (payload > t->blksize || t->bytes + payload > t->file_size) return TFTP_TOO_LONG;
    if (memcmp(packet + 4, t->file_bytes + t->bytes, (size_t)payload) != 0) return TFTP_WRONG_BYTES;
    t->bytes += payload;
    t->expected++;
    t->since_ack++;
    if (payload < t->blksize) {
      tftp_send_ack(t, block);
      return t->bytes == t->file_size ? TFTP_COMPLETE : TFTP_WRONG_BYTES;
    }
    if (t->since_ack >= (uint32_t)t->windowsize) {
      tftp_send_ack(t, block);
      t->since_ack = 0;
    } else {
      t->deadline = monotonic_seconds() + t->timeout_s;
    }
  } else if (t->gap_reported_at != t->expected) {
    /* A gap or a duplicate: the last good block, once per gap (RFC 7440 section 4). */
    t->gap_reported_at = t->expected;
    tftp_send_ack(t, (t->expected - 1) & 0xffff);
    t->since_ack = 0;
  }
  return TFTP_GOING;
}

#endif
