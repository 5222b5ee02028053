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

/* Throws Error { code: "ERR_DANGA_NATIVE", message: what }.  Always returns
 * NULL so callers can `return danga_internal_error(env, "...");`. */
napi_value danga_internal_error(napi_env env, const char *what);

/* After an N-API call failed: make sure some exception is pending (the
 * internal error, with N-API's description of the failure).  Always returns
 * NULL so callers can `return danga_napi_failed(env);`. */
napi_value danga_napi_failed(napi_env env);

#endif /* DANGA_ERRORS_H */
