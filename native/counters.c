#include "counters.h"

#include "args.h"

_Thread_local struct danga_counts danga_counts;

static bool set_count(napi_env env, napi_value obj, const char *name,
                      uint64_t n) {
  napi_value v;
  return napi_create_double(env, (double)n, &v) == napi_ok &&
         napi_set_named_property(env, obj, name, v) == napi_ok;
}

napi_value danga_syscalls(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj;
  DANGA_NAPI(env, napi_create_object(env, &obj));
  const struct danga_counts c = danga_counts;
  if (!set_count(env, obj, "read", c.read) ||
      !set_count(env, obj, "write", c.write) ||
      !set_count(env, obj, "writev", c.writev) ||
      !set_count(env, obj, "sendfile", c.sendfile) ||
      !set_count(env, obj, "epollCtl", c.epoll_ctl))
    return danga_napi_failed(env);
  return obj;
}
