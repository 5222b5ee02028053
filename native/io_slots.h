/*
 * The hot path's calls: read(2) and write(2) whose numbers travel through a
 * Float64Array shared with JavaScript once (`ioInit`) instead of as
 * arguments.  JavaScript stores fd, offset and length in slots 0-2, calls
 * `readIo(buf)` or `writeIo(buf)`, and finds the result (bytes, or -errno)
 * in slot 3.  Per call that spares N-API three number conversions and the
 * creation of the result (4 of the 6 N-API calls of `read`).  `readIo`
 * takes the ArrayBuffer itself (the engine keeps its slab's at hand), whose
 * pointer and length cost N-API far less than a view's; `writeIo` takes
 * the caller's view.  Counted by callgrind per call (user space, Node 20):
 * read() 856 instructions, readIo(view) 704, readIo(ArrayBuffer) 554.
 * The buffer stays an argument: its length is looked up at every call, so
 * a buffer detached (transferred) since is the internal error, never a
 * write to freed memory.
 */
#ifndef DANGA_IO_SLOTS_H
#define DANGA_IO_SLOTS_H

#include <node_api.h>

/* Slots of the shared array. */
enum {
  DANGA_IO_FD = 0,
  DANGA_IO_OFFSET = 1,
  DANGA_IO_LENGTH = 2,
  DANGA_IO_RESULT = 3,
  DANGA_IO_SLOTS = 4
};

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
