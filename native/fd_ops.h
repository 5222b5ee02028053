/*
 * File descriptor operations.  Hot path: OS errors are returned as -errno,
 * never thrown; EINTR is retried here.  Only bad arguments throw.
 */
#ifndef DANGA_FD_OPS_H
#define DANGA_FD_OPS_H

#include <node_api.h>

/* Most iovecs one writev() call takes (Linux's IOV_MAX). */
#define DANGA_IOV_MAX 1024

napi_value danga_read(napi_env env, napi_callback_info info);
napi_value danga_write(napi_env env, napi_callback_info info);
napi_value danga_writev(napi_env env, napi_callback_info info);
napi_value danga_close(napi_env env, napi_callback_info info);
napi_value danga_shutdown(napi_env env, napi_callback_info info);
napi_value danga_fd_type(napi_env env, napi_callback_info info);
napi_value danga_set_non_blocking(napi_env env, napi_callback_info info);

#endif /* DANGA_FD_OPS_H */
