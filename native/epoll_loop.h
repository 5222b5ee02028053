/*
 * The event loop: one epoll instance per Node environment, watched by a
 * uv_poll_t on Node's own loop.  A wait > 0 is a one-shot uv_timer_t; a
 * wait of 0 a uv_idle_t + uv_check_t pair (the next iteration runs on the
 * next turn of Node's loop, after its timers and I/O, like setImmediate).
 * Each loop iteration hands the whole event batch to JavaScript in one call.
 */
#ifndef DANGA_EPOLL_LOOP_H
#define DANGA_EPOLL_LOOP_H

#include <node_api.h>

#include "io_slots.h"
#include "owned_fds.h"

/* Per-environment state (napi instance data). */
typedef struct danga_loop danga_loop;

/* Created at module init; never throws (NULL on out of memory). */
danga_loop *danga_loop_new(napi_env env);

/* The fds the addon owns in this environment (owned_fds.h). */
danga_fds *danga_loop_fds(danga_loop *L);

/* The hot path's shared slots in this environment (io_slots.h). */
danga_io *danga_loop_io(danga_loop *L);

/* Async cleanup hook (environment teardown): closes every fd the addon
 * still owns, stops and uv_close()s the four handles, closes the epoll fd,
 * then removes the hook `handle`. */
void danga_loop_async_cleanup(napi_async_cleanup_hook_handle handle,
                              void *loop);

/* Instance-data finalizer: releases references and frees the state. */
void danga_loop_finalize(napi_env env, void *loop, void *hint);

napi_value danga_loop_init(napi_env env, napi_callback_info info);
napi_value danga_loop_start(napi_env env, napi_callback_info info);
napi_value danga_loop_arm(napi_env env, napi_callback_info info);
napi_value danga_loop_stop(napi_env env, napi_callback_info info);
napi_value danga_loop_ctl(napi_env env, napi_callback_info info);

#endif /* DANGA_EPOLL_LOOP_H */
