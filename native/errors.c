#include "errors.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

/* Room for "<syscall> <CODE> <address or path>:<port>" (a Unix socket path
 * is at most 107 bytes, an address at most ~64). */
#define MSG_MAX 256

static void set_str(napi_env env, napi_value obj, const char *key,
                    const char *s, size_t len) {
  napi_value v;
  if (napi_create_string_utf8(env, s, len, &v) == napi_ok)
    napi_set_named_property(env, obj, key, v);
}

static void set_int(napi_env env, napi_value obj, const char *key, int n) {
  napi_value v;
  if (napi_create_int32(env, n, &v) == napi_ok)
    napi_set_named_property(env, obj, key, v);
}

static void throw_errno_full(napi_env env, int err, const char *syscall,
                             const char *address, int port, const char *path,
                             size_t path_len) {
  char code[64];
  char msg[MSG_MAX];
  int n;

  /* uv_err_name_r, unlike uv_err_name, never allocates (uv_err_name leaks
   * a string for unknown codes). */
  uv_err_name_r(-err, code, sizeof code);

  if (address != NULL) {
    n = snprintf(msg, sizeof msg, "%s %s %s:%d", syscall, code, address, port);
  } else if (path != NULL) {
    n = snprintf(msg, sizeof msg, "%s %s ", syscall, code);
    /* Append the path, showing NUL bytes (abstract names) as '@'. */
    for (size_t i = 0; i < path_len && n >= 0 && (size_t)n + 1 < sizeof msg;
         i++)
      msg[n++] = path[i] != '\0' ? path[i] : '@';
    if (n >= 0 && (size_t)n < sizeof msg) msg[n] = '\0';
  } else {
    n = snprintf(msg, sizeof msg, "%s %s", syscall, code);
  }
  (void)n;

  napi_value vcode, vmsg, error;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &vcode) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &vmsg) != napi_ok ||
      napi_create_error(env, vcode, vmsg, &error) != napi_ok) {
    danga_napi_failed(env);
    return;
  }
  set_int(env, error, "errno", -err);
  set_str(env, error, "syscall", syscall, NAPI_AUTO_LENGTH);
  if (address != NULL) {
    set_str(env, error, "address", address, NAPI_AUTO_LENGTH);
    set_int(env, error, "port", port);
  } else if (path != NULL) {
    set_str(env, error, "path", path, path_len);
  }
  napi_throw(env, error);
}

void danga_throw_errno(napi_env env, int err, const char *syscall) {
  throw_errno_full(env, err, syscall, NULL, 0, NULL, 0);
}

void danga_throw_errno_hostport(napi_env env, int err, const char *syscall,
                                const char *address, int port) {
  throw_errno_full(env, err, syscall, address, port, NULL, 0);
}

void danga_throw_errno_path(napi_env env, int err, const char *syscall,
                            const char *path, size_t path_len) {
  throw_errno_full(env, err, syscall, NULL, 0, path, path_len);
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

napi_value danga_napi_failed(napi_env env) {
  /* Read the failure's description first: napi_is_exception_pending()
   * resets the last-error record. */
  char what[128] = "N-API call failed";
  const napi_extended_error_info *info = NULL;
  if (napi_get_last_error_info(env, &info) == napi_ok && info != NULL &&
      info->error_message != NULL)
    snprintf(what, sizeof what, "N-API call failed: %s", info->error_message);
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && !pending)
    napi_throw_error(env, "ERR_DANGA_NATIVE", what);
  return NULL;
}
