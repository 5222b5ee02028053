#include "owned_fds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORD_BITS 64u

/* Smallest record allocated: fds 0..1023. */
#define MIN_WORDS 16u

int danga_fds_add(danga_fds *s, int fd) {
  if (s->closed) return -ESHUTDOWN;
  if (fd < 0) return -EBADF;
  size_t w = (size_t)fd / WORD_BITS;
  if (w >= s->words) {
    /* Doubling keeps recording O(1) amortised; fd numbers are dense (the
     * kernel hands out the lowest free one), so the record stays small:
     * 128 KiB at a million fds. */
    size_t n = s->words < MIN_WORDS ? MIN_WORDS : s->words;
    while (n <= w) n *= 2;
    uint64_t *bits = realloc(s->bits, n * sizeof *bits);
    if (bits == NULL) return -ENOMEM;
    memset(bits + s->words, 0, (n - s->words) * sizeof *bits);
    s->bits = bits;
    s->words = n;
  }
  s->bits[w] |= UINT64_C(1) << ((unsigned)fd % WORD_BITS);
  return 0;
}

void danga_fds_remove(danga_fds *s, int fd) {
  if (fd < 0) return;
  size_t w = (size_t)fd / WORD_BITS;
  if (w < s->words) s->bits[w] &= ~(UINT64_C(1) << ((unsigned)fd % WORD_BITS));
}

size_t danga_fds_close_all(danga_fds *s) {
  size_t closed = 0;
  s->closed = true;
  for (size_t w = 0; w < s->words; w++) {
    uint64_t word = s->bits[w];
    s->bits[w] = 0;
    while (word != 0) {
      unsigned bit = (unsigned)__builtin_ctzll(word);
      word &= word - 1;
      /* close(2) on Linux frees the fd even when it fails with EINTR: never
       * retried.  EBADF would mean somebody closed it behind our back:
       * nothing left to do either. */
      (void)close((int)(w * WORD_BITS + bit));
      closed++;
    }
  }
  return closed;
}

void danga_fds_free(danga_fds *s) {
  free(s->bits);
  s->bits = NULL;
  s->words = 0;
}
