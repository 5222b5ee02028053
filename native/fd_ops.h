/*
 * File descriptor operations.  Every function returns a number: >= 0 on
 * success, -errno on failure; EINTR is retried here.  Nothing is thrown for
 * an OS error (see errors.h for the one internal error).  close and adopt
 * take the environment's record of owned fds (owned_fds.h) as their data.
 */
#ifndef DANGA_FD_OPS_H
#define DANGA_FD_OPS_H

#include <node_api.h>

/* Most iovecs one writev() call takes (Linux's IOV_MAX). */
#define DANGA_IOV_MAX 1024

napi_value danga_read(napi_env env, napi_callback_info info);
napi_value danga_write(napi_env env, napi_callback_info info);
napi_value danga_writev(napi_env env, napi_callback_info info);
napi_value danga_sendfile(napi_env env, napi_callback_info info);
napi_value danga_close(napi_env env, napi_callback_info info);
napi_value danga_shutdown(napi_env env, napi_callback_info info);
napi_value danga_dup(napi_env env, napi_callback_info info);
napi_value danga_fd_type(napi_env env, napi_callback_info info);
napi_value danga_adopt(napi_env env, napi_callback_info info);

#endif /* DANGA_FD_OPS_H */
