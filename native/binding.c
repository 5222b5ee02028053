/*
 * danga_native: module init, exports table, per-environment instance data.
 *
 * See native/API.md for the contract with the TypeScript side.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "epoll_loop.h"
#include "errors.h"
#include "fd_ops.h"
#include "socket_ops.h"

typedef struct {
  const char *name;
  int value;
} constant;

#define C(name) {#name, name}
static const constant constants[] = {
    C(SOL_SOCKET),    C(IPPROTO_TCP),   C(IPPROTO_IPV6),  C(SO_REUSEADDR),
    C(SO_REUSEPORT),  C(SO_ERROR),      C(SO_TYPE),       C(SO_RCVBUF),
    C(SO_SNDBUF),     C(SO_KEEPALIVE),  C(TCP_NODELAY),   C(TCP_CORK),
    C(IPV6_V6ONLY),   C(SHUT_RD),       C(SHUT_WR),       C(SHUT_RDWR),
    C(EPOLL_CTL_ADD), C(EPOLL_CTL_DEL), C(EPOLL_CTL_MOD), C(EPOLLIN),
    C(EPOLLOUT),      C(EPOLLERR),      C(EPOLLHUP),      C(EPOLLRDHUP),
    {"IOV_MAX", DANGA_IOV_MAX},
    C(EAGAIN),        C(EINTR),         C(EPIPE),         C(ECONNRESET),
    C(EBADF),         C(ENOTSOCK),      C(ENOPROTOOPT),   C(EOPNOTSUPP),
    C(EEXIST),        C(ENOENT),        C(EINPROGRESS),   C(EMFILE),
    C(ENFILE),
};
#undef C

static napi_value make_constants(napi_env env) {
  napi_value obj, v;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
    if (napi_create_int32(env, constants[i].value, &v) != napi_ok ||
        napi_set_named_property(env, obj, constants[i].name, v) != napi_ok)
      return NULL;
  }
  if (napi_object_freeze(env, obj) != napi_ok) return NULL;
  return obj;
}

#define FN(js, c) {js, NULL, c, NULL, NULL, NULL, napi_enumerable, NULL}
#define LOOP_FN(js, c) {js, NULL, c, NULL, NULL, NULL, napi_enumerable, loop}

static napi_value init_module(napi_env env, napi_value exports) {
  danga_loop *loop = danga_loop_new(env);
  if (loop == NULL) {
    napi_throw_error(env, "ERR_DANGA_NATIVE", "out of memory");
    return NULL;
  }
  /* The instance data's finalizer frees the state when the environment
   * goes away; the async cleanup hook, which runs first, closes the uv
   * handles and the epoll fd (the environment waits for it). */
  if (napi_set_instance_data(env, loop, danga_loop_finalize, NULL) !=
      napi_ok) {
    danga_loop_finalize(env, loop, NULL);
    return danga_napi_failed(env);
  }
  napi_async_cleanup_hook_handle hook;
  if (napi_add_async_cleanup_hook(env, danga_loop_async_cleanup, loop,
                                  &hook) != napi_ok)
    return danga_napi_failed(env);

  napi_value consts = make_constants(env);
  if (consts == NULL) return danga_napi_failed(env);

  const napi_property_descriptor props[] = {
      /* the loop (epoll_loop.c) */
      LOOP_FN("init", danga_loop_init),
      LOOP_FN("start", danga_loop_start),
      LOOP_FN("arm", danga_loop_arm),
      LOOP_FN("stop", danga_loop_stop),
      LOOP_FN("poll", danga_loop_poll),
      LOOP_FN("ctl", danga_loop_ctl),
      /* fd ops (fd_ops.c) */
      FN("read", danga_read),
      FN("write", danga_write),
      FN("writev", danga_writev),
      FN("close", danga_close),
      FN("shutdown", danga_shutdown),
      FN("fdType", danga_fd_type),
      FN("setNonBlocking", danga_set_non_blocking),
      /* socket ops (socket_ops.c) */
      FN("accept", danga_accept),
      FN("setsockopt", danga_setsockopt),
      FN("getsockopt", danga_getsockopt),
      FN("listenTcp", danga_listen_tcp),
      FN("connectTcp", danga_connect_tcp),
      FN("listenUnix", danga_listen_unix),
      FN("connectUnix", danga_connect_unix),
      FN("socketpair", danga_socketpair),
      FN("getsockname", danga_getsockname),
      FN("getpeername", danga_getpeername),
      {"constants", NULL, NULL, NULL, NULL, consts, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0],
                             props) != napi_ok)
    return danga_napi_failed(env);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
