#include "errors.h"

#include <stdbool.h>
#include <stdio.h>

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
