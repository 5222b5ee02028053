/*
 * Syscalls the addon made on this thread, for tests (`syscalls()`): a test
 * counts, on real sockets, what a framing helper or a write costs, which
 * strace would show but a CI machine may not have. Each attempt counts
 * (an EINTR retry too). Thread-local: a worker thread counts its own; the
 * increments cost a few instructions and no atomic.
 */
#ifndef DANGA_COUNTERS_H
#define DANGA_COUNTERS_H

#include <node_api.h>
#include <stdint.h>

struct danga_counts {
  uint64_t read, write, writev, sendfile, epoll_ctl;
};

extern _Thread_local struct danga_counts danga_counts;

/* syscalls(): { read, write, writev, sendfile, epollCtl } so far. */
napi_value danga_syscalls(napi_env env, napi_callback_info info);

#endif /* DANGA_COUNTERS_H */
