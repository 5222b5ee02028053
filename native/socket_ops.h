/*
 * Socket operations.  Nothing here throws for an OS error:
 *
 * - accept, setNoDelay, setCork, socketError return a number (>= 0, or
 *   -errno);
 * - listenTcp, connectTcp, listenUnix, connectUnix return the new fd, or on
 *   failure { errno: -errno, syscall: "socket" | "setsockopt" | "bind" |
 *   "listen" | "connect" } (the step that failed, for the error JS makes);
 * - socketpair returns [fd, fd] or -errno; getsockname / getpeername the
 *   address object or -errno.
 *
 * Every fd created here is SOCK_NONBLOCK | SOCK_CLOEXEC and recorded as
 * owned by the environment (owned_fds.h: the functions that create fds take
 * the record as their data); no error path leaks one.
 */
#ifndef DANGA_SOCKET_OPS_H
#define DANGA_SOCKET_OPS_H

#include <node_api.h>

napi_value danga_accept(napi_env env, napi_callback_info info);
napi_value danga_set_no_delay(napi_env env, napi_callback_info info);
napi_value danga_set_cork(napi_env env, napi_callback_info info);
napi_value danga_socket_error(napi_env env, napi_callback_info info);
napi_value danga_listen_tcp(napi_env env, napi_callback_info info);
napi_value danga_connect_tcp(napi_env env, napi_callback_info info);
napi_value danga_listen_unix(napi_env env, napi_callback_info info);
napi_value danga_connect_unix(napi_env env, napi_callback_info info);
napi_value danga_socketpair(napi_env env, napi_callback_info info);
napi_value danga_getsockname(napi_env env, napi_callback_info info);
napi_value danga_getpeername(napi_env env, napi_callback_info info);

#endif /* DANGA_SOCKET_OPS_H */
