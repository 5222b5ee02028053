#include "epoll_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <uv.h>

#include "args.h"

/* Most events taken from the kernel per iteration, whatever the size of
 * the JS events array. */
#define DANGA_MAX_BATCH 4096

struct danga_loop {
  napi_env env;
  int epfd;                   /* -1 until init() */
  bool handles_init;          /* poll and timer initialised (need uv_close) */
  int open_handles;           /* handles whose close callback is pending */
  bool closing;               /* environment teardown has begun */
  unsigned stop_gen;          /* bumped by every stop, see call_js() */
  bool in_callback;           /* onEvents (and the promise jobs after it) runs */
  int64_t callback_arm;       /* shortest arm() made meanwhile, -1 if none */
  uv_poll_t poll;             /* watches epfd for readability */
  uv_timer_t timer;           /* one-shot wait timeout */
  napi_ref events_ref;        /* the Int32Array */
  napi_ref callback_ref;      /* onEvents */
  napi_async_context async_ctx;
  struct epoll_event *evbuf;  /* epoll_wait() output, evcap entries */
  size_t evcap;
  napi_async_cleanup_hook_handle cleanup_handle;
};

/* Fetch argv and the danga_loop passed as the function's data. */
#define LOOP_ARGS(env, info, n, argv, L)                                       \
  napi_value argv[(n) > 0 ? (n) : 1];                                          \
  danga_loop *L = NULL;                                                        \
  do {                                                                         \
    size_t argc_ = (n);                                                        \
    void *data_ = NULL;                                                        \
    if (napi_get_cb_info((env), (info), &argc_, (n) > 0 ? argv : NULL, NULL,   \
                         &data_) != napi_ok)                                   \
      return danga_napi_failed(env);                                           \
    L = data_;                                                                 \
  } while (0)

static void on_poll(uv_poll_t *handle, int status, int events);
static void on_timer(uv_timer_t *handle);

danga_loop *danga_loop_new(napi_env env) {
  danga_loop *L = calloc(1, sizeof *L);
  if (L == NULL) return NULL;
  L->env = env;
  L->epfd = -1;
  return L;
}

/* ---- timer / stop ------------------------------------------------------- */

static void timer_arm(danga_loop *L, int64_t ms) {
  if (!L->handles_init) return;
  if (ms >= 0)
    uv_timer_start(&L->timer, on_timer, (uint64_t)ms, 0);
  else
    uv_timer_stop(&L->timer);
}

/* Stop both handles: nothing of ours keeps the process alive any more. */
static void stop_all(danga_loop *L) {
  L->stop_gen++;
  if (!L->handles_init) return;
  uv_poll_stop(&L->poll);
  uv_timer_stop(&L->timer);
}

/* ---- one iteration ------------------------------------------------------ */

/*
 * epoll_wait(epfd, buf, cap, 0) into the events array: events[2i] = fd,
 * events[2i+1] = mask.  Returns the count or -errno.  Needs a handle scope.
 */
static int fill_events(danga_loop *L) {
  napi_env env = L->env;
  napi_value events;
  napi_typedarray_type type;
  size_t len = 0;
  void *data = NULL;
  if (L->epfd < 0 || L->events_ref == NULL) return -EBADF;
  if (napi_get_reference_value(env, L->events_ref, &events) != napi_ok ||
      events == NULL ||
      napi_get_typedarray_info(env, events, &type, &len, &data, NULL, NULL) !=
          napi_ok)
    return -EINVAL;
  size_t cap = len / 2;
  if (cap > L->evcap) cap = L->evcap;
  if (cap == 0) return 0; /* the array was detached */

  int n;
  do n = epoll_wait(L->epfd, L->evbuf, (int)cap, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;

  int32_t *out = data;
  for (int i = 0; i < n; i++) {
    out[2 * i] = L->evbuf[i].data.fd;
    out[2 * i + 1] = (int32_t)L->evbuf[i].events;
  }
  return n;
}

/* onEvents failed: stop everything; an exception goes to Node as an
 * uncaught exception. */
static void callback_failed(danga_loop *L) {
  napi_env env = L->env;
  bool pending = false;
  napi_value exc;
  stop_all(L);
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exc) == napi_ok)
    napi_fatal_exception(env, exc);
}

/* onEvents(count) through napi_make_callback, then act on its result. */
static void call_js(danga_loop *L, int count) {
  napi_env env = L->env;
  napi_value cb, recv, arg, result;
  if (napi_get_reference_value(env, L->callback_ref, &cb) != napi_ok ||
      cb == NULL || napi_get_global(env, &recv) != napi_ok ||
      napi_create_int32(env, count, &arg) != napi_ok) {
    callback_failed(L);
    return;
  }
  unsigned gen = L->stop_gen;
  L->in_callback = true;
  L->callback_arm = -1;
  napi_status st =
      napi_make_callback(env, L->async_ctx, recv, cb, 1, &arg, &result);
  L->in_callback = false;
  if (st != napi_ok) {
    callback_failed(L);
    return;
  }
  /* A stop() made while the callback ran wins over its return value. */
  if (L->stop_gen != gen || L->closing) return;

  int32_t r;
  if (napi_get_value_int32(env, result, &r) != napi_ok) r = -1;
  if (r == -2) {
    stop_all(L);
    return;
  }
  /* Promise jobs and nextTicks run inside napi_make_callback, after onEvents
   * returned: an arm() they made (a wake-up) must not be lost to the
   * iteration's own timeout.  The shorter wait wins. */
  int64_t ms = r >= 0 ? r : -1;
  if (L->callback_arm >= 0 && (ms < 0 || L->callback_arm < ms))
    ms = L->callback_arm;
  timer_arm(L, ms);
}

static void run_iteration(danga_loop *L, bool always_call) {
  napi_env env = L->env;
  napi_handle_scope scope;
  if (L->closing || L->callback_ref == NULL) return;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  int n = fill_events(L);
  if (n < 0) n = 0;
  if (n > 0 || always_call) call_js(L, n);
  napi_close_handle_scope(env, scope);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  /* status < 0 (libuv has stopped the watcher): let JS run anyway. */
  run_iteration(handle->data, status < 0);
}

static void on_timer(uv_timer_t *handle) {
  run_iteration(handle->data, true);
}

/* ---- exported functions ------------------------------------------------- */

/* init(events: Int32Array, onEvents: (count) => number): epfd */
napi_value danga_loop_init(napi_env env, napi_callback_info info) {
  LOOP_ARGS(env, info, 2, argv, L);
  bool is_ta = false;
  napi_typedarray_type type;
  size_t len = 0;
  napi_valuetype cb_type;

  if (napi_is_typedarray(env, argv[0], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[0], &type, &len, NULL, NULL, NULL) !=
          napi_ok ||
      type != napi_int32_array) {
    danga_throw_type_error(env, "events must be an Int32Array");
    return NULL;
  }
  if (len < 2) {
    danga_throw_range_error(env,
                            "events must have room for one event (length >= "
                            "2), got %zu",
                            len);
    return NULL;
  }
  DANGA_NAPI(env, napi_typeof(env, argv[1], &cb_type));
  if (cb_type != napi_function) {
    danga_throw_type_error(env, "onEvents must be a function");
    return NULL;
  }
  if (L->closing) {
    napi_throw_error(env, "ERR_DANGA_NATIVE", "the environment is shutting down");
    return NULL;
  }

  /* Event buffer: grows to the largest array given (capped). */
  size_t cap = len / 2;
  if (cap > DANGA_MAX_BATCH) cap = DANGA_MAX_BATCH;
  if (cap > L->evcap) {
    struct epoll_event *buf = realloc(L->evbuf, cap * sizeof *buf);
    if (buf == NULL) {
      danga_throw_errno(env, ENOMEM, "init");
      return NULL;
    }
    L->evbuf = buf;
    L->evcap = cap;
  }

  if (L->epfd < 0) {
    L->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (L->epfd < 0) {
      danga_throw_errno(env, errno, "epoll_create1");
      return NULL;
    }
  }

  if (!L->handles_init) {
    uv_loop_t *loop;
    int r;
    DANGA_NAPI(env, napi_get_uv_event_loop(env, &loop));
    /* uv_poll_init leaves the handle untouched on failure. */
    if ((r = uv_poll_init(loop, &L->poll, L->epfd)) != 0) {
      danga_throw_errno(env, -r, "uv_poll_init");
      return NULL;
    }
    uv_timer_init(loop, &L->timer); /* cannot fail */
    L->poll.data = L;
    L->timer.data = L;
    L->handles_init = true;
  }

  if (L->async_ctx == NULL) {
    napi_value name;
    DANGA_NAPI(env, napi_create_string_utf8(env, "DangaSocket",
                                            NAPI_AUTO_LENGTH, &name));
    DANGA_NAPI(env, napi_async_init(env, NULL, name, &L->async_ctx));
  }

  napi_ref events_ref, callback_ref;
  DANGA_NAPI(env, napi_create_reference(env, argv[0], 1, &events_ref));
  if (napi_create_reference(env, argv[1], 1, &callback_ref) != napi_ok) {
    napi_delete_reference(env, events_ref);
    return danga_napi_failed(env);
  }
  if (L->events_ref != NULL) napi_delete_reference(env, L->events_ref);
  if (L->callback_ref != NULL) napi_delete_reference(env, L->callback_ref);
  L->events_ref = events_ref;
  L->callback_ref = callback_ref;

  napi_value result;
  DANGA_NAPI(env, napi_create_int32(env, L->epfd, &result));
  return result;
}

static bool require_init(napi_env env, danga_loop *L, const char *fn) {
  if (L->handles_init && !L->closing) return true;
  char msg[64];
  snprintf(msg, sizeof msg, "%s() called before init()", fn);
  napi_throw_error(env, "ERR_DANGA_NATIVE", msg);
  return false;
}

/* start(timeoutMs): watch epfd; arm the timer when timeoutMs >= 0. */
napi_value danga_loop_start(napi_env env, napi_callback_info info) {
  LOOP_ARGS(env, info, 1, argv, L);
  int64_t ms;
  if (!danga_arg_timeout(env, argv[0], "timeoutMs", &ms) ||
      !require_init(env, L, "start"))
    return NULL;
  int r = uv_poll_start(&L->poll, UV_READABLE, on_poll);
  if (r != 0) {
    danga_throw_errno(env, -r, "uv_poll_start");
    return NULL;
  }
  timer_arm(L, ms);
  return NULL;
}

/* arm(timeoutMs): >= 0 (re)starts the one-shot timer, negative stops it. */
napi_value danga_loop_arm(napi_env env, napi_callback_info info) {
  LOOP_ARGS(env, info, 1, argv, L);
  int64_t ms;
  if (!danga_arg_timeout(env, argv[0], "timeoutMs", &ms) ||
      !require_init(env, L, "arm"))
    return NULL;
  if (L->in_callback) {
    /* Inside the iteration: its return value arms the timer; remember the
     * request so that call_js() can honour it. */
    if (ms >= 0 && (L->callback_arm < 0 || ms < L->callback_arm))
      L->callback_arm = ms;
    return NULL;
  }
  timer_arm(L, ms);
  return NULL;
}

/* stop(): stop the watcher and the timer. */
napi_value danga_loop_stop(napi_env env, napi_callback_info info) {
  LOOP_ARGS(env, info, 0, argv, L);
  (void)argv;
  stop_all(L);
  return NULL;
}

/* poll(): epoll_wait(epfd, ..., 0) into events; count or -errno. */
napi_value danga_loop_poll(napi_env env, napi_callback_info info) {
  LOOP_ARGS(env, info, 0, argv, L);
  (void)argv;
  napi_value result;
  DANGA_NAPI(env, napi_create_int32(env, fill_events(L), &result));
  return result;
}

/* ctl(op, fd, mask): epoll_ctl, level-triggered; 0 or -errno. */
napi_value danga_loop_ctl(napi_env env, napi_callback_info info) {
  LOOP_ARGS(env, info, 3, argv, L);
  int32_t op, fd, mask;
  if (!danga_arg_int32(env, argv[0], "op", &op) ||
      !danga_arg_int32(env, argv[1], "fd", &fd) ||
      !danga_arg_int32(env, argv[2], "mask", &mask))
    return NULL;
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = (uint32_t)mask;
  ev.data.fd = fd;
  int r;
  do r = epoll_ctl(L->epfd, op, fd, &ev);
  while (r < 0 && errno == EINTR);
  napi_value result;
  DANGA_NAPI(env, napi_create_int32(env, r < 0 ? -errno : 0, &result));
  return result;
}

/* ---- teardown ----------------------------------------------------------- */

static void release_js(danga_loop *L) {
  napi_env env = L->env;
  if (L->events_ref != NULL) napi_delete_reference(env, L->events_ref);
  if (L->callback_ref != NULL) napi_delete_reference(env, L->callback_ref);
  if (L->async_ctx != NULL) napi_async_destroy(env, L->async_ctx);
  L->events_ref = NULL;
  L->callback_ref = NULL;
  L->async_ctx = NULL;
}

static void finish_cleanup(danga_loop *L) {
  L->handles_init = false;
  if (L->epfd >= 0) close(L->epfd);
  L->epfd = -1;
  napi_async_cleanup_hook_handle h = L->cleanup_handle;
  L->cleanup_handle = NULL;
  if (h != NULL) napi_remove_async_cleanup_hook(h);
}

static void on_close(uv_handle_t *handle) {
  danga_loop *L = handle->data;
  if (--L->open_handles == 0) finish_cleanup(L);
}

void danga_loop_async_cleanup(napi_async_cleanup_hook_handle handle,
                              void *arg) {
  danga_loop *L = arg;
  L->closing = true;
  L->cleanup_handle = handle;
  stop_all(L);
  release_js(L);
  if (L->handles_init) {
    L->open_handles = 2;
    uv_close((uv_handle_t *)&L->poll, on_close);
    uv_close((uv_handle_t *)&L->timer, on_close);
  } else {
    finish_cleanup(L);
  }
}

void danga_loop_finalize(napi_env env, void *arg, void *hint) {
  (void)env;
  (void)hint;
  danga_loop *L = arg;
  /* The cleanup hook keeps the environment (and so this finalizer) alive
   * until the handles are closed.  Should they still be open here anyway,
   * leak the state rather than free memory libuv still points at. */
  if (L->handles_init || L->open_handles != 0) return;
  release_js(L);
  if (L->epfd >= 0) close(L->epfd);
  free(L->evbuf);
  free(L);
}
