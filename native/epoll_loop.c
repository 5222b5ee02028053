#include "epoll_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <uv.h>

#include "args.h"
#include "counters.h"
#include "errors.h"
#include "io_slots.h"
#include "owned_fds.h"

/* Most events taken from the kernel per iteration, whatever the size of
 * the JS events array. */
#define DANGA_MAX_BATCH 4096

/* The handles closed at teardown: poll, timer, idle, check. */
#define DANGA_LOOP_HANDLES 4

/*
 * When the next iteration runs.  Every wake-up asked for (by start(), by
 * arm() at any time, by an iteration's return value) is merged into one
 * schedule, the soonest winning:
 *
 *   - a wait of 0 starts `idle` (so that libuv's poll phase does not block)
 *     and `check` (which runs the iteration right after the poll phase): the
 *     iteration runs on the next turn of Node's loop, after Node's timers and
 *     I/O had theirs, as setImmediate() does.  A check handle started from
 *     its own callback does not run again in the same phase (libuv moves the
 *     queue aside before running it, src/unix/loop-watcher.c), so iterations
 *     that never wait still give Node a turn each.  (A timer restarted at 0
 *     from its own callback runs again in the same timers phase, for ever.)
 *   - a wait > 0 starts the one-shot `timer`, unless something due sooner
 *     is already scheduled;
 *   - no wait (-1) schedules nothing: the next iteration comes with events.
 *
 * An iteration answers every wake-up asked for before it: the schedule is
 * cleared as it begins, and what JavaScript asks for during it (its return
 * value, and arm() in the handlers or in the promise jobs and nextTicks run
 * inside the same napi_make_callback) is merged in again.
 */
struct danga_loop {
  napi_env env;
  int epfd;              /* -1 until init() */
  bool handles_init;     /* the handles are initialised (need uv_close) */
  int open_handles;      /* handles whose close callback is pending */
  bool closing;          /* environment teardown has begun */
  bool running;          /* between start() and stop() */
  unsigned run_gen;      /* bumped by start() and stop(), see call_js() */
  uv_poll_t poll;        /* watches epfd for readability */
  uv_timer_t timer;      /* a wait > 0 */
  uv_idle_t idle;        /* a wait of 0: the poll phase does not block */
  uv_check_t check;      /* a wait of 0: the iteration, after polling */
  napi_ref events_ref;   /* the Int32Array */
  napi_ref callback_ref; /* onEvents */
  napi_async_context async_ctx;
  struct epoll_event *evbuf; /* epoll_wait() output, evcap entries */
  size_t evcap;
  napi_async_cleanup_hook_handle cleanup_handle;
  danga_fds fds; /* the sockets the addon owns in this environment */
  danga_io io;   /* the hot path's shared slots (io_slots.h) */
};

/* Evaluate an N-API call; on failure return from the exported function
 * with an exception pending. */
#define LOOP_NAPI(env, call)                                                   \
  do {                                                                         \
    if ((call) != napi_ok) return danga_napi_failed(env);                      \
  } while (0)

static void on_poll(uv_poll_t *handle, int status, int events);
static void on_timer(uv_timer_t *handle);
static void on_idle(uv_idle_t *handle);
static void on_check(uv_check_t *handle);

danga_loop *danga_loop_new(napi_env env) {
  danga_loop *L = calloc(1, sizeof *L);
  if (L == NULL) return NULL;
  L->env = env;
  L->epfd = -1;
  return L;
}

danga_fds *danga_loop_fds(danga_loop *L) {
  return &L->fds;
}

danga_io *danga_loop_io(danga_loop *L) {
  return &L->io;
}

/* ---- misuse and arguments ----------------------------------------------- */

/* The TypeScript side validates; reaching these is a bug there. */
static napi_value misuse(napi_env env, const char *fn, const char *what) {
  char msg[128];
  snprintf(msg, sizeof msg, "%s(): %s", fn, what);
  napi_throw_error(env, "ERR_DANGA_NATIVE", msg);
  return NULL;
}

/* A wait in ms: negative, NaN or +Infinity is no wait (-1); a fraction is
 * rounded up.  False with an exception pending when `v` is no number. */
static bool get_timeout(napi_env env, napi_value v, const char *fn,
                        int64_t *out) {
  double d;
  napi_status st = napi_get_value_double(env, v, &d);
  if (st != napi_ok) {
    if (st == napi_number_expected)
      misuse(env, fn, "timeoutMs is no number");
    else
      danga_napi_failed(env);
    return false;
  }
  if (!(d >= 0) || d - d != 0.0) {
    *out = -1;
    return true;
  }
  if (d > 9007199254740991.0) d = 9007199254740991.0; /* 2^53 - 1 */
  int64_t ms = (int64_t)d;
  if ((double)ms < d) ms++;
  *out = ms;
  return true;
}

static bool get_int32(napi_env env, napi_value v, const char *fn,
                      const char *what, int32_t *out) {
  napi_status st = napi_get_value_int32(env, v, out);
  if (st == napi_ok) return true;
  if (st == napi_number_expected)
    misuse(env, fn, what);
  else
    danga_napi_failed(env);
  return false;
}

/* ---- the schedule ------------------------------------------------------- */

/* Asks for an iteration within `ms` (see the comment on the struct). */
static void wake_within(danga_loop *L, int64_t ms) {
  if (!L->running || L->closing || ms < 0) return;
  if (uv_is_active((uv_handle_t *)&L->check)) return; /* the soonest */
  if (ms == 0) {
    uv_timer_stop(&L->timer);
    /* Neither can fail: a callback is given. */
    uv_idle_start(&L->idle, on_idle);
    uv_check_start(&L->check, on_check);
    return;
  }
  if (uv_is_active((uv_handle_t *)&L->timer) &&
      uv_timer_get_due_in(&L->timer) <= (uint64_t)ms)
    return;
  /* Cannot fail: a callback is given and the handle is not closing. */
  uv_timer_start(&L->timer, on_timer, (uint64_t)ms, 0);
}

/* Forgets every wake-up asked for. */
static void clear_wakeups(danga_loop *L) {
  if (!L->handles_init) return;
  uv_timer_stop(&L->timer);
  uv_idle_stop(&L->idle);
  uv_check_stop(&L->check);
}

/* Ends the run: nothing of ours keeps the process alive any more. */
static void stop_all(danga_loop *L) {
  L->running = false;
  L->run_gen++;
  if (!L->handles_init) return;
  clear_wakeups(L);
  uv_poll_stop(&L->poll);
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
  unsigned gen = L->run_gen;
  /* This iteration answers every wake-up asked for so far. */
  clear_wakeups(L);
  napi_status st =
      napi_make_callback(env, L->async_ctx, recv, cb, 1, &arg, &result);
  if (st != napi_ok) {
    callback_failed(L);
    return;
  }
  /* A stop() made meanwhile wins over the return value, which belongs to
   * the run it ended; a start() after it began a new run, whose wake-ups
   * are already in the schedule. */
  if (L->run_gen != gen || L->closing) return;

  int32_t r;
  if (napi_get_value_int32(env, result, &r) != napi_ok) r = -1;
  wake_within(L, r); /* merged with what arm() asked for meanwhile */
}

static void run_iteration(danga_loop *L, bool always_call) {
  napi_env env = L->env;
  napi_handle_scope scope;
  if (L->closing || !L->running || L->callback_ref == NULL) return;
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

static void on_idle(uv_idle_t *handle) {
  (void)handle; /* only there to keep the poll phase from blocking */
}

static void on_check(uv_check_t *handle) {
  run_iteration(handle->data, true);
}

/* ---- exported functions ------------------------------------------------- */

/* Creates the epoll fd and the handles (once): 0 or -errno. */
static int init_once(danga_loop *L, uv_loop_t *loop) {
  if (L->epfd < 0) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return -errno;
    L->epfd = fd;
  }
  if (!L->handles_init) {
    /* uv_poll_init leaves the handle untouched on failure; the others
     * cannot fail. */
    int r = uv_poll_init(loop, &L->poll, L->epfd);
    if (r != 0) return r;
    uv_timer_init(loop, &L->timer);
    uv_idle_init(loop, &L->idle);
    uv_check_init(loop, &L->check);
    L->poll.data = L;
    L->timer.data = L;
    L->idle.data = L;
    L->check.data = L;
    L->handles_init = true;
  }
  return 0;
}

/* init(events: Int32Array, onEvents: (count) => number): epfd or -errno */
napi_value danga_loop_init(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 2, argv, danga_loop, L);
  bool is_ta = false;
  napi_typedarray_type type;
  size_t len = 0;
  napi_valuetype cb_type;
  napi_value result;

  LOOP_NAPI(env, napi_is_typedarray(env, argv[0], &is_ta));
  if (is_ta)
    LOOP_NAPI(env, napi_get_typedarray_info(env, argv[0], &type, &len, NULL,
                                            NULL, NULL));
  if (!is_ta || type != napi_int32_array || len < 2)
    return misuse(env, "init", "events must be an Int32Array of length >= 2");
  LOOP_NAPI(env, napi_typeof(env, argv[1], &cb_type));
  if (cb_type != napi_function)
    return misuse(env, "init", "onEvents must be a function");
  if (L->closing)
    return misuse(env, "init", "the environment is shutting down");

  /* Event buffer: grows to the largest array given (capped). */
  size_t cap = len / 2;
  if (cap > DANGA_MAX_BATCH) cap = DANGA_MAX_BATCH;
  if (cap > L->evcap) {
    struct epoll_event *buf = realloc(L->evbuf, cap * sizeof *buf);
    if (buf == NULL) {
      LOOP_NAPI(env, napi_create_int32(env, -ENOMEM, &result));
      return result;
    }
    L->evbuf = buf;
    L->evcap = cap;
  }

  uv_loop_t *loop;
  LOOP_NAPI(env, napi_get_uv_event_loop(env, &loop));
  int r = init_once(L, loop);
  if (r < 0) {
    LOOP_NAPI(env, napi_create_int32(env, r, &result));
    return result;
  }

  if (L->async_ctx == NULL) {
    napi_value name;
    LOOP_NAPI(env, napi_create_string_utf8(env, "DangaSocket", NAPI_AUTO_LENGTH,
                                           &name));
    LOOP_NAPI(env, napi_async_init(env, NULL, name, &L->async_ctx));
  }

  napi_ref events_ref, callback_ref;
  LOOP_NAPI(env, napi_create_reference(env, argv[0], 1, &events_ref));
  if (napi_create_reference(env, argv[1], 1, &callback_ref) != napi_ok) {
    napi_delete_reference(env, events_ref);
    return danga_napi_failed(env);
  }
  if (L->events_ref != NULL) napi_delete_reference(env, L->events_ref);
  if (L->callback_ref != NULL) napi_delete_reference(env, L->callback_ref);
  L->events_ref = events_ref;
  L->callback_ref = callback_ref;

  LOOP_NAPI(env, napi_create_int32(env, L->epfd, &result));
  return result;
}

static bool require_init(napi_env env, danga_loop *L, const char *fn) {
  if (L->closing)
    misuse(env, fn, "the environment is shutting down");
  else if (!L->handles_init || L->callback_ref == NULL)
    misuse(env, fn, "called before init()");
  else
    return true;
  return false;
}

/* start(timeoutMs): a new run; 0 or -errno. */
napi_value danga_loop_start(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 1, argv, danga_loop, L);
  int64_t ms;
  napi_value result;
  if (!get_timeout(env, argv[0], "start", &ms) ||
      !require_init(env, L, "start"))
    return NULL;
  int r = uv_poll_start(&L->poll, UV_READABLE, on_poll);
  if (r == 0) {
    /* Wake-ups asked for before belong to the run that ended (or to none). */
    clear_wakeups(L);
    L->running = true;
    L->run_gen++;
    wake_within(L, ms);
  }
  LOOP_NAPI(env, napi_create_int32(env, r, &result));
  return result;
}

/* arm(timeoutMs): asks for an iteration within timeoutMs (>= 0). */
napi_value danga_loop_arm(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 1, argv, danga_loop, L);
  int64_t ms;
  if (!get_timeout(env, argv[0], "arm", &ms) || !require_init(env, L, "arm"))
    return NULL;
  wake_within(L, ms);
  return NULL;
}

/* stop(): ends the run. */
napi_value danga_loop_stop(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 0, argv, danga_loop, L);
  (void)argv;
  stop_all(L);
  return NULL;
}

/* ctl(op, fd, mask): epoll_ctl, level-triggered; 0 or -errno. */
napi_value danga_loop_ctl(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 3, argv, danga_loop, L);
  int32_t op, fd, mask;
  if (!get_int32(env, argv[0], "ctl", "op is no number", &op) ||
      !get_int32(env, argv[1], "ctl", "fd is no number", &fd) ||
      !get_int32(env, argv[2], "ctl", "mask is no number", &mask))
    return NULL;
  int r;
  if (L->epfd < 0) {
    r = -EBADF;
  } else {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = (uint32_t)mask;
    ev.data.fd = fd;
    do danga_counts.epoll_ctl++, r = epoll_ctl(L->epfd, op, fd, &ev);
    while (r < 0 && errno == EINTR);
    if (r < 0) r = -errno;
  }
  napi_value result;
  LOOP_NAPI(env, napi_create_int32(env, r, &result));
  return result;
}

/* ---- teardown ----------------------------------------------------------- */

static void release_js(danga_loop *L) {
  napi_env env = L->env;
  if (L->events_ref != NULL) napi_delete_reference(env, L->events_ref);
  if (L->callback_ref != NULL) napi_delete_reference(env, L->callback_ref);
  if (L->async_ctx != NULL) napi_async_destroy(env, L->async_ctx);
  danga_io_release(env, &L->io);
  L->events_ref = NULL;
  L->callback_ref = NULL;
  L->async_ctx = NULL;
}

static void close_epfd(danga_loop *L) {
  /* close(2) on Linux frees the fd even when it fails with EINTR: never
   * retried.  Other failures (EBADF: somebody closed it for us) leave
   * nothing to do either. */
  if (L->epfd >= 0) (void)close(L->epfd);
  L->epfd = -1;
}

static void finish_cleanup(danga_loop *L) {
  L->handles_init = false;
  close_epfd(L);
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
  /* The sockets go first: JavaScript, which would have closed them, runs no
   * more, and each close also takes the fd out of the epoll set. */
  danga_fds_close_all(&L->fds);
  stop_all(L);
  release_js(L);
  if (L->handles_init) {
    L->open_handles = DANGA_LOOP_HANDLES;
    uv_close((uv_handle_t *)&L->poll, on_close);
    uv_close((uv_handle_t *)&L->timer, on_close);
    uv_close((uv_handle_t *)&L->idle, on_close);
    uv_close((uv_handle_t *)&L->check, on_close);
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
  close_epfd(L);
  danga_fds_close_all(&L->fds); /* should the cleanup hook never have run */
  danga_fds_free(&L->fds);
  free(L->evbuf);
  free(L);
}
