/*
 * Socket operations.
 *
 * accept and setsockopt are on the hot path: they return -errno and never
 * throw for OS errors.  The setup calls (listen / connect / socketpair /
 * getsockopt / getsockname / getpeername) throw Node-style errno errors.
 * Every fd created here is SOCK_NONBLOCK | SOCK_CLOEXEC, and no error path
 * leaks one.
 */
#ifndef DANGA_SOCKET_OPS_H
#define DANGA_SOCKET_OPS_H

#include <node_api.h>

napi_value danga_accept(napi_env env, napi_callback_info info);
napi_value danga_setsockopt(napi_env env, napi_callback_info info);
napi_value danga_getsockopt(napi_env env, napi_callback_info info);
napi_value danga_listen_tcp(napi_env env, napi_callback_info info);
napi_value danga_connect_tcp(napi_env env, napi_callback_info info);
napi_value danga_listen_unix(napi_env env, napi_callback_info info);
napi_value danga_connect_unix(napi_env env, napi_callback_info info);
napi_value danga_socketpair(napi_env env, napi_callback_info info);
napi_value danga_getsockname(napi_env env, napi_callback_info info);
napi_value danga_getpeername(napi_env env, napi_callback_info info);

#endif /* DANGA_SOCKET_OPS_H */
