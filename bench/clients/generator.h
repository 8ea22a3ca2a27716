/*
 * What every C load generator of the bench needs besides its protocol: a monotonic clock,
 * its own CPU (the figure the bench's tables put beside the server's), and an order for
 * sorting times.
 */
#ifndef GENERATOR_H
#define GENERATOR_H

#include <sys/resource.h>
#include <time.h>

static inline double monotonic_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* User and system CPU seconds this process has used. */
static inline double own_cpu_seconds(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static inline int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#endif
