/*
 * The hot path's calls: read(2) and write(2) whose numbers travel through a
 * Float64Array shared with JavaScript once (`ioInit`) instead of as
 * arguments.  JavaScript stores fd, offset and length in slots 0-2, calls
 * `readIo(buf)` or `writeIo(buf)`, and finds the result (bytes, or -errno)
 * in slot 3.  Per call that spares N-API three number conversions and the
 * creation of the result (4 of the 6 N-API calls of `read`), which the
 * profile of a 64-byte ping-pong put at about a third of a crossing's cost
 * in Node.  The buffer is still an argument: its length is looked up at
 * every call, so a view whose ArrayBuffer was detached (transferred) since
 * is the internal error, never a write to freed memory.
 */
#ifndef DANGA_IO_SLOTS_H
#define DANGA_IO_SLOTS_H

#include <node_api.h>

/* Slots of the shared array. */
enum { DANGA_IO_FD = 0, DANGA_IO_OFFSET = 1, DANGA_IO_LENGTH = 2, DANGA_IO_RESULT = 3, DANGA_IO_SLOTS = 4 };

/* Per environment (a member of the loop's instance data). */
typedef struct danga_io {
  double *slots; /* NULL until ioInit() */
  napi_ref ref;  /* keeps the array (and so `slots`) alive */
} danga_io;

/* Drops the reference (environment teardown). */
void danga_io_release(napi_env env, danga_io *io);

napi_value danga_io_init(napi_env env, napi_callback_info info);
napi_value danga_read_io(napi_env env, napi_callback_info info);
napi_value danga_write_io(napi_env env, napi_callback_info info);

#endif /* DANGA_IO_SLOTS_H */
