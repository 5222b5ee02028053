/*
 * Argument helpers shared by the exported functions.
 *
 * JavaScript (src/engines/epoll/) validates every argument before it calls
 * the addon, so C converts without checking types and keeps only the checks
 * that protect memory: a buffer range inside its view, an index inside its
 * list.  Those fail with the one internal error (danga_internal_error); so
 * does an argument N-API cannot convert (danga_napi_failed).
 *
 * All helpers return true on success; on failure an exception is pending
 * and the caller returns NULL.  None of them allocate: they are used on the
 * hot path.
 */
#ifndef DANGA_ARGS_H
#define DANGA_ARGS_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* Fetch up to `n` arguments into `argv` (missing ones are `undefined`). */
#define DANGA_ARGS(env, info, n, argv)                                         \
  napi_value argv[(n)];                                                        \
  do {                                                                         \
    size_t argc_ = (n);                                                        \
    if (napi_get_cb_info((env), (info), &argc_, argv, NULL, NULL) != napi_ok)  \
      return danga_napi_failed(env);                                           \
  } while (0)

/* The same, and the function's data pointer (the environment's record of
 * owned fds, owned_fds.h) into `data` (of type `type *`): no extra call. */
#define DANGA_ARGS_DATA(env, info, n, argv, type, data)                        \
  napi_value argv[(n) > 0 ? (n) : 1];                                          \
  type *data = NULL;                                                           \
  do {                                                                         \
    size_t argc_ = (n);                                                        \
    void *data_ = NULL;                                                        \
    if (napi_get_cb_info((env), (info), &argc_, (n) > 0 ? argv : NULL, NULL,   \
                         &data_) != napi_ok)                                   \
      return danga_napi_failed(env);                                           \
    data = data_;                                                              \
  } while (0)

/* Evaluate an N-API call; on failure make sure an exception is pending and
 * return NULL from the calling function. */
#define DANGA_NAPI(env, call)                                                  \
  do {                                                                         \
    if ((call) != napi_ok) return danga_napi_failed(env);                      \
  } while (0)

/* A JS number as an int32 (fds, flags): one N-API call, no type check
 * beyond N-API's own (a non-number is the internal error). */
static inline bool danga_int32(napi_env env, napi_value v, int32_t *out) {
  if (napi_get_value_int32(env, v, out) == napi_ok) return true;
  danga_napi_failed(env);
  return false;
}

/* A JS boolean. */
static inline bool danga_bool(napi_env env, napi_value v, bool *out) {
  if (napi_get_value_bool(env, v, out) == napi_ok) return true;
  danga_napi_failed(env);
  return false;
}

/*
 * Raw bytes of a TypedArray (Buffer included) or DataView, and its length
 * in bytes: one N-API call (napi_get_buffer_info takes any ArrayBufferView
 * and costs less than napi_get_typedarray_info, which also works out the
 * element type).  The pointer already includes the view's byte offset.
 * Anything else is the internal error, worded with `what`.
 */
static inline bool danga_view(napi_env env, napi_value v, const char *what,
                              uint8_t **data, size_t *size) {
  void *p = NULL;
  if (napi_get_buffer_info(env, v, &p, size) != napi_ok) {
    danga_internal_error(env, what);
    return false;
  }
  *data = (uint8_t *)p;
  return true;
}

/*
 * buf, offset, length -> pointer to buf[offset] and length, with
 * 0 <= offset <= offset + length <= the view's byte length (the memory
 * check).  Three N-API calls.
 */
static inline bool danga_slice(napi_env env, napi_value vbuf, napi_value voff,
                               napi_value vlen, uint8_t **ptr, size_t *len) {
  uint8_t *data;
  size_t size;
  int64_t off, n;
  if (!danga_view(env, vbuf, "buf must be a TypedArray", &data, &size))
    return false;
  if (napi_get_value_int64(env, voff, &off) != napi_ok ||
      napi_get_value_int64(env, vlen, &n) != napi_ok) {
    danga_napi_failed(env);
    return false;
  }
  if (off < 0 || n < 0 || (uint64_t)off > size ||
      (uint64_t)n > size - (uint64_t)off) {
    danga_internal_error(env, "offset + length is outside the buffer");
    return false;
  }
  *ptr = data + off;
  *len = (size_t)n;
  return true;
}

#endif /* DANGA_ARGS_H */
