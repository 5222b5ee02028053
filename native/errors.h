/*
 * Errors the addon throws itself.  There are few: OS errors are returned to
 * JavaScript as -errno numbers and JavaScript builds every user-visible Error
 * (src/core/errors.ts).  What is left is one internal error, `code`
 * "ERR_DANGA_NATIVE": a broken N-API call, or arguments that would make C
 * touch memory it must not (a buffer range outside its view).  JavaScript
 * validates every argument before it calls the addon, so users never see it.
 */
#ifndef DANGA_ERRORS_H
#define DANGA_ERRORS_H

#include <node_api.h>

#if defined(__GNUC__)
#define DANGA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DANGA_PRINTF(f, a)
#endif

/* Throws Error { code: "ERR_DANGA_NATIVE", message: what }.  Always returns
 * NULL so callers can `return danga_internal_error(env, "...");`. */
napi_value danga_internal_error(napi_env env, const char *what);

/* After an N-API call failed: make sure some exception is pending (the
 * internal error, with N-API's description of the failure).  Always returns
 * NULL so callers can `return danga_napi_failed(env);`. */
napi_value danga_napi_failed(napi_env env);

/*
 * Used only by epoll_loop.c (its init/start/arm), kept until that file
 * stops using them: an errno Error ("<syscall> <CODE>", `code`, `errno`,
 * `syscall`; `err` is a positive errno), and TypeError / RangeError with
 * Node's codes (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE).
 */
void danga_throw_errno(napi_env env, int err, const char *syscall);
void danga_throw_type_error(napi_env env, const char *fmt, ...)
    DANGA_PRINTF(2, 3);
void danga_throw_range_error(napi_env env, const char *fmt, ...)
    DANGA_PRINTF(2, 3);

#endif /* DANGA_ERRORS_H */
