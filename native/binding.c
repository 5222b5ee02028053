/*
 * danga_native: module init, exports table, per-environment instance data.
 *
 * See native/API.md for the contract with the TypeScript side.
 */
#include <sys/epoll.h>

#include "counters.h"
#include "epoll_loop.h"
#include "errors.h"
#include "fd_ops.h"
#include "io_slots.h"
#include "socket_ops.h"

/*
 * No constants are exported.  The numbers JavaScript passes or receives are
 * fixed here instead: the event bits, which the engine hands between the
 * kernel and the core untouched (src/core/constants.ts: POLLIN = 1, ...),
 * and the epoll_ctl ops (src/engines/epoll/binding.ts: EPOLL_CTL).
 */
_Static_assert(EPOLLIN == 1, "POLLIN in src/core/constants.ts");
_Static_assert(EPOLLOUT == 4, "POLLOUT in src/core/constants.ts");
_Static_assert(EPOLLERR == 8, "POLLERR in src/core/constants.ts");
_Static_assert(EPOLLHUP == 16, "POLLHUP in src/core/constants.ts");
_Static_assert(EPOLL_CTL_ADD == 1 && EPOLL_CTL_DEL == 2 && EPOLL_CTL_MOD == 3,
               "EPOLL_CTL in src/engines/epoll/binding.ts");

#define FN(js, c)                                                              \
  { js, NULL, c, NULL, NULL, NULL, napi_enumerable, NULL }
#define LOOP_FN(js, c)                                                         \
  { js, NULL, c, NULL, NULL, NULL, napi_enumerable, loop }
/* Functions that create, adopt or close fds get the environment's record of
 * owned fds (owned_fds.h), which teardown closes. */
#define OWN_FN(js, c)                                                          \
  { js, NULL, c, NULL, NULL, NULL, napi_enumerable, fds }
/* The hot path's read and write get the environment's shared slots. */
#define IO_FN(js, c)                                                           \
  { js, NULL, c, NULL, NULL, NULL, napi_enumerable, io }

static napi_value init_module(napi_env env, napi_value exports) {
  danga_loop *loop = danga_loop_new(env);
  if (loop == NULL) return danga_internal_error(env, "out of memory");
  /* The instance data's finalizer frees the state when the environment
   * goes away; the async cleanup hook, which runs first, closes the sockets
   * the addon still owns, the uv handles and the epoll fd (the environment
   * waits for it). */
  if (napi_set_instance_data(env, loop, danga_loop_finalize, NULL) != napi_ok) {
    danga_loop_finalize(env, loop, NULL);
    return danga_napi_failed(env);
  }
  danga_fds *fds = danga_loop_fds(loop);
  danga_io *io = danga_loop_io(loop);
  napi_async_cleanup_hook_handle hook;
  if (napi_add_async_cleanup_hook(env, danga_loop_async_cleanup, loop, &hook) !=
      napi_ok)
    return danga_napi_failed(env);

  const napi_property_descriptor props[] = {
      /* the loop (epoll_loop.c) */
      LOOP_FN("init", danga_loop_init),
      LOOP_FN("start", danga_loop_start),
      LOOP_FN("arm", danga_loop_arm),
      LOOP_FN("stop", danga_loop_stop),
      LOOP_FN("ctl", danga_loop_ctl),
      /* fd ops (fd_ops.c) */
      FN("read", danga_read),
      FN("write", danga_write),
      IO_FN("ioInit", danga_io_init),
      IO_FN("readIo", danga_read_io),
      IO_FN("writeIo", danga_write_io),
      FN("writev", danga_writev),
      FN("sendfile", danga_sendfile),
      OWN_FN("close", danga_close),
      FN("shutdown", danga_shutdown),
      FN("dup", danga_dup),
      FN("fdType", danga_fd_type),
      OWN_FN("adopt", danga_adopt),
      /* socket ops (socket_ops.c) */
      OWN_FN("accept", danga_accept),
      FN("setNoDelay", danga_set_no_delay),
      FN("setCork", danga_set_cork),
      FN("socketError", danga_socket_error),
      OWN_FN("listenTcp", danga_listen_tcp),
      OWN_FN("connectTcp", danga_connect_tcp),
      OWN_FN("listenUnix", danga_listen_unix),
      OWN_FN("connectUnix", danga_connect_unix),
      OWN_FN("socketpair", danga_socketpair),
      FN("getsockname", danga_getsockname),
      FN("getpeername", danga_getpeername),
      /* for tests (counters.c) */
      FN("syscalls", danga_syscalls),
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0],
                             props) != napi_ok)
    return danga_napi_failed(env);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
