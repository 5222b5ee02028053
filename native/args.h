/*
 * Argument parsing helpers shared by every exported function.
 *
 * All helpers return true on success.  On failure they leave a pending
 * JavaScript exception (TypeError for a wrong type, RangeError for a value
 * out of range) and return false; the caller then returns NULL.
 *
 * None of them allocate: they are used on the hot path.
 */
#ifndef DANGA_ARGS_H
#define DANGA_ARGS_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* Fetch up to `n` arguments into `argv` (missing ones are `undefined`). */
#define DANGA_ARGS(env, info, n, argv)                                        \
  napi_value argv[(n)];                                                       \
  do {                                                                        \
    size_t argc_ = (n);                                                       \
    if (napi_get_cb_info((env), (info), &argc_, argv, NULL, NULL) != napi_ok) \
      return danga_napi_failed(env);                                          \
  } while (0)

/* Evaluate an N-API call; on failure make sure an exception is pending and
 * return NULL from the calling function. */
#define DANGA_NAPI(env, call)                                                 \
  do {                                                                        \
    if ((call) != napi_ok) return danga_napi_failed(env);                     \
  } while (0)

/* Largest integer a double holds exactly (2^53 - 1). */
#define DANGA_MAX_SAFE_INTEGER 9007199254740991.0

/* True for a finite double with no fractional part.  Doubles of magnitude
 * 2^53 and above are all integers (and may not fit an int64 cast). */
static inline bool danga_is_integer(double d) {
  if (d != d || d - d != 0.0) return false; /* NaN, +-Infinity */
  if (d >= 9007199254740992.0 || d <= -9007199254740992.0) return true;
  return (double)(int64_t)d == d;
}

/* A number with no fractional part, in int32 range. */
static inline bool danga_arg_int32(napi_env env, napi_value v,
                                   const char *what, int32_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !danga_is_integer(d)) {
    danga_throw_type_error(env, "%s must be an integer", what);
    return false;
  }
  if (d < (double)INT32_MIN || d > (double)INT32_MAX) {
    danga_throw_range_error(env, "%s is out of range: %.0f", what, d);
    return false;
  }
  *out = (int32_t)d;
  return true;
}

/* A non-negative safe integer (buffer offsets, lengths, list indexes). */
static inline bool danga_arg_index(napi_env env, napi_value v,
                                   const char *what, size_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !danga_is_integer(d)) {
    danga_throw_type_error(env, "%s must be an integer", what);
    return false;
  }
  if (d < 0 || d > DANGA_MAX_SAFE_INTEGER) {
    danga_throw_range_error(env, "%s is out of range: %.0f", what, d);
    return false;
  }
  *out = (size_t)d;
  return true;
}

/* A millisecond timeout: any number; negative means "none" (-1). */
static inline bool danga_arg_timeout(napi_env env, napi_value v,
                                     const char *what, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != d) {
    danga_throw_type_error(env, "%s must be a number", what);
    return false;
  }
  if (d < 0 || d - d != 0.0) { /* negative or +Infinity: no timer */
    *out = -1;
    return true;
  }
  if (d > DANGA_MAX_SAFE_INTEGER) d = DANGA_MAX_SAFE_INTEGER;
  int64_t ms = (int64_t)d;
  if ((double)ms < d) ms++; /* round a fractional timeout up */
  *out = ms;
  return true;
}

/* A boolean; `undefined` counts as false. */
static inline bool danga_arg_bool(napi_env env, napi_value v,
                                  const char *what, bool *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) {
    danga_napi_failed(env);
    return false;
  }
  if (t == napi_undefined) {
    *out = false;
    return true;
  }
  if (t != napi_boolean || napi_get_value_bool(env, v, out) != napi_ok) {
    danga_throw_type_error(env, "%s must be a boolean", what);
    return false;
  }
  return true;
}

static inline size_t danga_typedarray_elem_size(napi_typedarray_type t) {
  switch (t) {
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      return 8;
    default: /* int8, uint8, uint8_clamped (and anything unknown) */
      return 1;
  }
}

/*
 * Raw bytes of a TypedArray (Buffer included) or DataView.  The pointer
 * already includes the view's byte offset.  Returns false without throwing
 * when `v` is not such a view, so the caller can word the TypeError.
 */
static inline bool danga_view_bytes(napi_env env, napi_value v,
                                    uint8_t **data, size_t *len) {
  bool is = false;
  void *p = NULL;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type t;
    size_t n = 0;
    if (napi_get_typedarray_info(env, v, &t, &n, &p, NULL, NULL) != napi_ok)
      return false;
    *data = (uint8_t *)p;
    *len = n * danga_typedarray_elem_size(t);
    return true;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    size_t n = 0;
    if (napi_get_dataview_info(env, v, &n, &p, NULL, NULL) != napi_ok)
      return false;
    *data = (uint8_t *)p;
    *len = n;
    return true;
  }
  return false;
}

/*
 * buf, offset, length -> pointer to buf[offset] and length, validated:
 * TypeError for a non-view or non-integer, RangeError when
 * offset + length runs past the end of the view.
 */
static inline bool danga_arg_slice(napi_env env, napi_value vbuf,
                                   napi_value voff, napi_value vlen,
                                   uint8_t **ptr, size_t *len) {
  uint8_t *data = NULL;
  size_t size = 0, off, n;
  if (!danga_view_bytes(env, vbuf, &data, &size)) {
    danga_throw_type_error(env, "buf must be a Uint8Array");
    return false;
  }
  if (!danga_arg_index(env, voff, "offset", &off) ||
      !danga_arg_index(env, vlen, "length", &n))
    return false;
  if (off > size || n > size - off) {
    danga_throw_range_error(env,
                            "offset + length (%zu + %zu) exceeds the buffer "
                            "size (%zu)",
                            off, n, size);
    return false;
  }
  *ptr = data + off;
  *len = n;
  return true;
}

#endif /* DANGA_ARGS_H */
