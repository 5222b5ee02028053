#include "io_slots.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "args.h"
#include "counters.h"

void danga_io_release(napi_env env, danga_io *io) {
  if (io->ref != NULL) napi_delete_reference(env, io->ref);
  io->ref = NULL;
  io->slots = NULL;
}

/* ioInit(slots: Float64Array): takes the array of at least DANGA_IO_SLOTS
 * elements as this environment's slots (a later call replaces it).  The
 * array must stay private to the library: C keeps its data pointer. */
napi_value danga_io_init(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 1, argv, danga_io, io);
  bool is_ta = false;
  napi_typedarray_type type;
  size_t len = 0;
  void *data = NULL;
  DANGA_NAPI(env, napi_is_typedarray(env, argv[0], &is_ta));
  if (is_ta)
    DANGA_NAPI(env, napi_get_typedarray_info(env, argv[0], &type, &len, &data,
                                             NULL, NULL));
  if (!is_ta || type != napi_float64_array || len < DANGA_IO_SLOTS ||
      data == NULL)
    return danga_internal_error(
        env, "ioInit(): slots must be a Float64Array of length >= 4");
  napi_ref ref;
  DANGA_NAPI(env, napi_create_reference(env, argv[0], 1, &ref));
  danga_io_release(env, io);
  io->ref = ref;
  io->slots = data;
  return NULL;
}

/*
 * The buffer argument and the slots' offset and length -> the byte range,
 * checked to lie inside the view (the memory check).  The slots hold what
 * JavaScript stored: a NaN or a fraction fails the range check or is cut
 * (never read past the view).
 */
static bool io_range(napi_env env, napi_callback_info info, bool whole,
                     danga_io **io_out, int *fd, uint8_t **ptr, size_t *len) {
  size_t argc = 1;
  napi_value buf;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, &buf, NULL, &data) != napi_ok) {
    danga_napi_failed(env);
    return false;
  }
  danga_io *io = data;
  if (io->slots == NULL) {
    danga_internal_error(env, "readIo()/writeIo() called before ioInit()");
    return false;
  }
  uint8_t *base;
  size_t size;
  if (whole) {
    void *p = NULL;
    if (napi_get_arraybuffer_info(env, buf, &p, &size) != napi_ok) {
      danga_internal_error(env, "buf must be an ArrayBuffer");
      return false;
    }
    base = p;
  } else if (!danga_view(env, buf, "buf must be a TypedArray", &base, &size)) {
    return false;
  }
  const double *s = io->slots;
  double off = s[DANGA_IO_OFFSET], n = s[DANGA_IO_LENGTH];
  if (!(off >= 0 && n >= 0 && off <= (double)size && n <= (double)size - off)) {
    danga_internal_error(env, "offset + length is outside the buffer");
    return false;
  }
  double fdv = s[DANGA_IO_FD];
  if (!(fdv >= INT32_MIN && fdv <= INT32_MAX)) {
    danga_internal_error(env, "fd is no int32");
    return false;
  }
  *io_out = io;
  *fd = (int)fdv;
  *ptr = base + (size_t)off;
  *len = (size_t)n;
  return true;
}

/* readIo(buf: ArrayBuffer): read(2) of slots[FD] into
 * buf[offset..offset+length);
 * slots[RESULT] = bytes read, 0 at end of stream, or -errno. */
napi_value danga_read_io(napi_env env, napi_callback_info info) {
  danga_io *io;
  int fd;
  uint8_t *p;
  size_t len;
  if (!io_range(env, info, true, &io, &fd, &p, &len)) return NULL;
  ssize_t n;
  do danga_counts.read++, n = read(fd, p, len);
  while (n < 0 && errno == EINTR);
  io->slots[DANGA_IO_RESULT] = n < 0 ? -(double)errno : (double)n;
  return NULL;
}

/* writeIo(buf): write(2) of buf[offset..offset+length) to slots[FD];
 * slots[RESULT] = bytes written or -errno. */
napi_value danga_write_io(napi_env env, napi_callback_info info) {
  danga_io *io;
  int fd;
  uint8_t *p;
  size_t len;
  if (!io_range(env, info, false, &io, &fd, &p, &len)) return NULL;
  ssize_t n;
  do danga_counts.write++, n = write(fd, p, len);
  while (n < 0 && errno == EINTR);
  io->slots[DANGA_IO_RESULT] = n < 0 ? -(double)errno : (double)n;
  return NULL;
}
