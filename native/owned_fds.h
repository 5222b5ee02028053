/*
 * The fds the addon owns, one record per Node environment: every socket it
 * creates (socket, accept4, socketpair) or adopts from a number, from then
 * until JavaScript closes it through the addon.  At environment teardown
 * (process exit, a worker's exit or terminate()) the cleanup hook closes
 * whatever is still recorded, so no socket outlives the environment that
 * owned it and every peer sees end of stream or a reset.
 *
 * A bitset indexed by fd number: O(1) to record and to forget (amortised:
 * it grows by doubling), nothing per event.  fd numbers are process-wide,
 * but each environment records only what it made, so a worker's teardown
 * never closes another environment's socket.  Not thread-safe: each record
 * is used only on its environment's thread.
 */
#ifndef DANGA_OWNED_FDS_H
#define DANGA_OWNED_FDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct danga_fds {
  uint64_t *bits; /* bit fd % 64 of word fd / 64: owned */
  size_t words;   /* allocated words */
  bool closed;    /* danga_fds_close_all() ran: nothing is recorded any more */
} danga_fds;

/* Records `fd` (>= 0) as owned: 0, or -ENOMEM (the record could not grow),
 * or -ESHUTDOWN (after danga_fds_close_all(): the environment is going).
 * On failure the caller still holds `fd`. */
int danga_fds_add(danga_fds *s, int fd);

/* Forgets `fd` (before it is closed); a number not recorded is ignored. */
void danga_fds_remove(danga_fds *s, int fd);

/* Closes every recorded fd and forgets them all; from then on nothing is
 * recorded.  Returns how many it closed. */
size_t danga_fds_close_all(danga_fds *s);

/* Frees the record's memory (closes nothing). */
void danga_fds_free(danga_fds *s);

#endif /* DANGA_OWNED_FDS_H */
