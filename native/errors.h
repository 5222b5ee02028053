/*
 * Node-style errors.
 *
 * An errno error is an Error whose `code` is the errno name ("EADDRINUSE",
 * via libuv's uv_err_name_r), `errno` the negative errno (as Node reports
 * it), `syscall` the failing call and, when known, `address` + `port` or
 * `path`.  Its message reads like Node's net module:
 *     "<syscall> <CODE>"                     no address
 *     "<syscall> <CODE> <address>:<port>"    TCP
 *     "<syscall> <CODE> <path>"              Unix socket
 */
#ifndef DANGA_ERRORS_H
#define DANGA_ERRORS_H

#include <node_api.h>
#include <stddef.h>

#if defined(__GNUC__)
#define DANGA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DANGA_PRINTF(f, a)
#endif

/* `err` is a positive errno value. */
void danga_throw_errno(napi_env env, int err, const char *syscall);
void danga_throw_errno_hostport(napi_env env, int err, const char *syscall,
                                const char *address, int port);
/* `path` may hold NUL bytes (Linux abstract socket names): give its length. */
void danga_throw_errno_path(napi_env env, int err, const char *syscall,
                            const char *path, size_t path_len);

/* TypeError / RangeError with Node's codes (ERR_INVALID_ARG_TYPE,
 * ERR_OUT_OF_RANGE) and a printf-style message. */
void danga_throw_type_error(napi_env env, const char *fmt, ...)
    DANGA_PRINTF(2, 3);
void danga_throw_range_error(napi_env env, const char *fmt, ...)
    DANGA_PRINTF(2, 3);

/* After an N-API call failed: make sure some exception is pending.
 * Always returns NULL so callers can `return danga_napi_failed(env);`. */
napi_value danga_napi_failed(napi_env env);

#endif /* DANGA_ERRORS_H */
