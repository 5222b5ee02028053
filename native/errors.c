#include "errors.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <uv.h>

/* Room for any message made here. */
#define MSG_MAX 256

napi_value danga_internal_error(napi_env env, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && !pending)
    napi_throw_error(env, "ERR_DANGA_NATIVE", what);
  return NULL;
}

napi_value danga_napi_failed(napi_env env) {
  /* Read the failure's description first: napi_is_exception_pending()
   * resets the last-error record. */
  char what[128] = "N-API call failed";
  const napi_extended_error_info *info = NULL;
  if (napi_get_last_error_info(env, &info) == napi_ok && info != NULL &&
      info->error_message != NULL)
    snprintf(what, sizeof what, "N-API call failed: %s", info->error_message);
  return danga_internal_error(env, what);
}

/* ---- used only by epoll_loop.c ------------------------------------------ */

void danga_throw_errno(napi_env env, int err, const char *syscall) {
  char code[64];
  char msg[MSG_MAX];
  /* uv_err_name_r, unlike uv_err_name, never allocates (uv_err_name leaks
   * a string for unknown codes). */
  uv_err_name_r(-err, code, sizeof code);
  snprintf(msg, sizeof msg, "%s %s", syscall, code);

  napi_value vcode, vmsg, verrno, vsyscall, error;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &vcode) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &vmsg) != napi_ok ||
      napi_create_error(env, vcode, vmsg, &error) != napi_ok ||
      napi_create_int32(env, -err, &verrno) != napi_ok ||
      napi_set_named_property(env, error, "errno", verrno) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &vsyscall) !=
          napi_ok ||
      napi_set_named_property(env, error, "syscall", vsyscall) != napi_ok) {
    danga_napi_failed(env);
    return;
  }
  napi_throw(env, error);
}

void danga_throw_type_error(napi_env env, const char *fmt, ...) {
  char msg[MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

void danga_throw_range_error(napi_env env, const char *fmt, ...) {
  char msg[MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
}
