#include "socket_ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "args.h"
#include "owned_fds.h"

#define SOCK_FLAGS (SOCK_NONBLOCK | SOCK_CLOEXEC)

/* Longest host string accepted: an IPv6 literal plus "%<interface>". */
#define HOST_MAX 256

typedef union {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
  struct sockaddr_un un;
  struct sockaddr_storage ss;
} sockaddr_any;

/* ---- small helpers ------------------------------------------------------ */

static napi_value int_result(napi_env env, int32_t n) {
  napi_value v;
  DANGA_NAPI(env, napi_create_int32(env, n, &v));
  return v;
}

/*
 * The failure of a listen/connect call: { errno: -err, syscall }, where
 * `syscall` is the step that failed.  Only failures allocate.  `err` is a
 * positive errno, read before any N-API call could change errno.
 */
static napi_value setup_failed(napi_env env, int err, const char *syscall) {
  napi_value obj, verrno, vsyscall;
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_create_int32(env, -err, &verrno) != napi_ok ||
      napi_set_named_property(env, obj, "errno", verrno) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &vsyscall) !=
          napi_ok ||
      napi_set_named_property(env, obj, "syscall", vsyscall) != napi_ok)
    return danga_napi_failed(env);
  return obj;
}

/* close(2) an fd on an error path and report the step that failed (errno
 * is read first). */
static napi_value close_and_fail(napi_env env, int fd, const char *syscall) {
  int err = errno;
  close(fd);
  return setup_failed(env, err, syscall);
}

/*
 * Hand a new fd to JS, recorded as owned by this environment.  If it
 * cannot be recorded (ENOMEM) the fd is closed and the failure returned:
 * as -errno for accept (`setup` NULL), as { errno, syscall: setup } for
 * the listen/connect calls.  If N-API fails, the fd is closed too.
 */
static napi_value fd_result(napi_env env, danga_fds *fds, int fd,
                            const char *setup) {
  napi_value v;
  int r = danga_fds_add(fds, fd);
  if (r < 0) {
    close(fd);
    return setup != NULL ? setup_failed(env, -r, setup) : int_result(env, r);
  }
  if (napi_create_int32(env, fd, &v) != napi_ok) {
    danga_fds_remove(fds, fd);
    close(fd);
    return danga_napi_failed(env);
  }
  return v;
}

/*
 * Copy a JS string into buf (always NUL-terminated, truncated to cap - 1
 * bytes).  *len receives the full UTF-8 length, which may exceed cap - 1.
 */
static bool arg_string(napi_env env, napi_value v, char *buf, size_t cap,
                       size_t *len) {
  size_t copied = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, len) != napi_ok ||
      napi_get_value_string_utf8(env, v, buf, cap, &copied) != napi_ok) {
    danga_napi_failed(env);
    return false;
  }
  return true;
}

/*
 * Numeric IPv4 literal, else numeric IPv6 literal (optionally with a
 * "%scope" suffix: an interface name or index).  No name lookups.
 */
static bool parse_ip(const char *host, size_t host_len, int port,
                     sockaddr_any *sa, socklen_t *salen) {
  if (host_len >= HOST_MAX || strlen(host) != host_len) return false;
  memset(sa, 0, sizeof *sa);

  if (inet_pton(AF_INET, host, &sa->in4.sin_addr) == 1) {
    sa->in4.sin_family = AF_INET;
    sa->in4.sin_port = htons((uint16_t)port);
    *salen = sizeof sa->in4;
    return true;
  }

  char addr[HOST_MAX];
  const char *scope = strchr(host, '%');
  size_t addr_len = scope != NULL ? (size_t)(scope - host) : host_len;
  memcpy(addr, host, addr_len);
  addr[addr_len] = '\0';
  if (inet_pton(AF_INET6, addr, &sa->in6.sin6_addr) != 1) return false;
  if (scope != NULL) {
    char *end = NULL;
    unsigned long idx = strtoul(scope + 1, &end, 10);
    if (scope[1] == '\0' || end == NULL || *end != '\0' || idx > UINT32_MAX)
      idx = if_nametoindex(scope + 1);
    if (idx == 0) return false;
    sa->in6.sin6_scope_id = (uint32_t)idx;
  }
  sa->in6.sin6_family = AF_INET6;
  sa->in6.sin6_port = htons((uint16_t)port);
  *salen = sizeof sa->in6;
  return true;
}

/*
 * A Unix socket path -> sockaddr_un.  A path starting with a NUL byte is a
 * Linux abstract name (its length is the address length).  Returns 0, or a
 * positive errno for the caller to report: ENOENT for '', ENAMETOOLONG when
 * it does not fit sun_path, EINVAL for a filesystem path with a NUL byte.
 * A failed N-API call returns -1 with the exception pending.
 */
static int unix_addr(napi_env env, napi_value v, sockaddr_any *sa,
                     socklen_t *salen) {
  size_t len = 0, copied = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    danga_napi_failed(env);
    return -1;
  }
  if (len == 0) return ENOENT;
  memset(sa, 0, sizeof *sa);
  /* Room for the string and napi's terminating NUL: a filesystem path
   * needs that NUL in the address too, an abstract name does not. */
  char path[sizeof sa->un.sun_path + 1];
  if (len > sizeof sa->un.sun_path) return ENAMETOOLONG;
  if (napi_get_value_string_utf8(env, v, path, sizeof path, &copied) !=
      napi_ok) {
    danga_napi_failed(env);
    return -1;
  }
  bool abstract = path[0] == '\0';
  if (!abstract && len == sizeof sa->un.sun_path) return ENAMETOOLONG;
  if (!abstract && memchr(path, '\0', len) != NULL) return EINVAL;
  sa->un.sun_family = AF_UNIX;
  memcpy(sa->un.sun_path, path, len);
  *salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                       (abstract ? 0 : 1));
  return 0;
}

/* ---- hot path ----------------------------------------------------------- */

/* accept(fd) -> new fd (non-blocking, close-on-exec) or -errno: 3 N-API
 * calls (arguments, fd, result). */
napi_value danga_accept(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 1, argv, danga_fds, fds);
  int32_t fd;
  if (!danga_int32(env, argv[0], &fd)) return NULL;
  int r;
  do r = accept4(fd, NULL, NULL, SOCK_FLAGS);
  while (r < 0 && (errno == EINTR || errno == ECONNABORTED));
  if (r < 0) return int_result(env, -errno);
  return fd_result(env, fds, r, NULL);
}

/* An int socket option set to `on` (0 or 1) -> 0 or -errno. */
static napi_value set_flag(napi_env env, napi_callback_info info, int level,
                           int name) {
  DANGA_ARGS(env, info, 2, argv);
  int32_t fd;
  bool on;
  if (!danga_int32(env, argv[0], &fd) || !danga_bool(env, argv[1], &on))
    return NULL;
  int v = on ? 1 : 0;
  int r = setsockopt(fd, level, name, &v, sizeof v);
  return int_result(env, r < 0 ? -errno : 0);
}

/* setNoDelay(fd, on): TCP_NODELAY; -EOPNOTSUPP on a Unix socket. */
napi_value danga_set_no_delay(napi_env env, napi_callback_info info) {
  return set_flag(env, info, IPPROTO_TCP, TCP_NODELAY);
}

/* setCork(fd, on): TCP_CORK; -EOPNOTSUPP on a Unix socket. */
napi_value danga_set_cork(napi_env env, napi_callback_info info) {
  return set_flag(env, info, IPPROTO_TCP, TCP_CORK);
}

/* socketError(fd) -> the pending error (SO_ERROR, a positive errno; 0 when
 * none), or -errno when getsockopt itself fails. */
napi_value danga_socket_error(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 1, argv);
  int32_t fd;
  if (!danga_int32(env, argv[0], &fd)) return NULL;
  int v = 0;
  socklen_t len = sizeof v;
  int r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len);
  return int_result(env, r < 0 ? -errno : v);
}

/* ---- setup calls -------------------------------------------------------- */

/* listenTcp(host, port, backlog, reusePort) -> listening fd, or
 * { errno, syscall }. */
napi_value danga_listen_tcp(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 4, argv, danga_fds, fds);
  char host[HOST_MAX];
  size_t host_len;
  int32_t port, backlog;
  bool reuse_port;
  if (!arg_string(env, argv[0], host, sizeof host, &host_len) ||
      !danga_int32(env, argv[1], &port) ||
      !danga_int32(env, argv[2], &backlog) ||
      !danga_bool(env, argv[3], &reuse_port))
    return NULL;

  sockaddr_any sa;
  socklen_t salen;
  if (!parse_ip(host, host_len, port, &sa, &salen))
    return setup_failed(env, EINVAL, "bind");

  int fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_FLAGS, IPPROTO_TCP);
  if (fd < 0) return setup_failed(env, errno, "socket");
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      (reuse_port &&
       setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0))
    return close_and_fail(env, fd, "setsockopt");
  if (bind(fd, &sa.sa, salen) < 0) return close_and_fail(env, fd, "bind");
  if (listen(fd, backlog) < 0) return close_and_fail(env, fd, "listen");
  return fd_result(env, fds, fd, "socket");
}

/* connectTcp(host, port) -> fd with a connect in progress (or done), or
 * { errno, syscall }. */
napi_value danga_connect_tcp(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 2, argv, danga_fds, fds);
  char host[HOST_MAX];
  size_t host_len;
  int32_t port;
  if (!arg_string(env, argv[0], host, sizeof host, &host_len) ||
      !danga_int32(env, argv[1], &port))
    return NULL;

  sockaddr_any sa;
  socklen_t salen;
  if (!parse_ip(host, host_len, port, &sa, &salen))
    return setup_failed(env, EINVAL, "connect");

  int fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_FLAGS, IPPROTO_TCP);
  if (fd < 0) return setup_failed(env, errno, "socket");
  /* EINTR: the connect carries on asynchronously, like EINPROGRESS
   * (retrying would only report EALREADY). */
  if (connect(fd, &sa.sa, salen) < 0 && errno != EINPROGRESS && errno != EINTR)
    return close_and_fail(env, fd, "connect");
  return fd_result(env, fds, fd, "socket");
}

/* listenUnix(path, backlog) -> listening fd, or { errno, syscall }.  An
 * unusable path fails as "bind". */
napi_value danga_listen_unix(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 2, argv, danga_fds, fds);
  int32_t backlog;
  sockaddr_any sa;
  socklen_t salen;
  if (!danga_int32(env, argv[1], &backlog)) return NULL;
  int err = unix_addr(env, argv[0], &sa, &salen);
  if (err < 0) return NULL;
  if (err > 0) return setup_failed(env, err, "bind");

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_FLAGS, 0);
  if (fd < 0) return setup_failed(env, errno, "socket");
  if (bind(fd, &sa.sa, salen) < 0) return close_and_fail(env, fd, "bind");
  if (listen(fd, backlog) < 0) return close_and_fail(env, fd, "listen");
  return fd_result(env, fds, fd, "socket");
}

/* connectUnix(path) -> connected fd, or { errno, syscall }.  A full listen
 * backlog is EAGAIN (an error, as libuv reports it); an unusable path fails
 * as "connect". */
napi_value danga_connect_unix(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 1, argv, danga_fds, fds);
  sockaddr_any sa;
  socklen_t salen;
  int err = unix_addr(env, argv[0], &sa, &salen);
  if (err < 0) return NULL;
  if (err > 0) return setup_failed(env, err, "connect");

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_FLAGS, 0);
  if (fd < 0) return setup_failed(env, errno, "socket");
  if (connect(fd, &sa.sa, salen) < 0 && errno != EINPROGRESS && errno != EINTR)
    return close_and_fail(env, fd, "connect");
  return fd_result(env, fds, fd, "socket");
}

/* socketpair() -> [fd, fd] (AF_UNIX stream), both owned, or -errno. */
napi_value danga_socketpair(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 0, argv, danga_fds, fds);
  (void)argv;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_FLAGS, 0, sv) < 0)
    return int_result(env, -errno);
  int r = danga_fds_add(fds, sv[0]);
  if (r == 0) {
    r = danga_fds_add(fds, sv[1]);
    if (r < 0) danga_fds_remove(fds, sv[0]);
  }
  if (r < 0) {
    close(sv[0]);
    close(sv[1]);
    return int_result(env, r);
  }
  napi_value arr, a, b;
  if (napi_create_array_with_length(env, 2, &arr) != napi_ok ||
      napi_create_int32(env, sv[0], &a) != napi_ok ||
      napi_create_int32(env, sv[1], &b) != napi_ok ||
      napi_set_element(env, arr, 0, a) != napi_ok ||
      napi_set_element(env, arr, 1, b) != napi_ok) {
    danga_fds_remove(fds, sv[0]);
    danga_fds_remove(fds, sv[1]);
    close(sv[0]);
    close(sv[1]);
    return danga_napi_failed(env);
  }
  return arr;
}

/* ---- addresses ---------------------------------------------------------- */

static bool set_string(napi_env env, napi_value obj, const char *key,
                       const char *s, size_t len) {
  napi_value v;
  return napi_create_string_utf8(env, s, len, &v) == napi_ok &&
         napi_set_named_property(env, obj, key, v) == napi_ok;
}

/* { address, port, family: 'IPv4' | 'IPv6' } or { path, family: 'unix' },
 * or -errno (-EAFNOSUPPORT for another family). */
static napi_value sockaddr_to_js(napi_env env, const sockaddr_any *sa,
                                 socklen_t salen) {
  napi_value obj, port;
  char addr[INET6_ADDRSTRLEN];
  DANGA_NAPI(env, napi_create_object(env, &obj));

  switch (sa->sa.sa_family) {
    case AF_INET:
    case AF_INET6: {
      bool v4 = sa->sa.sa_family == AF_INET;
      const void *src = v4 ? (const void *)&sa->in4.sin_addr
                           : (const void *)&sa->in6.sin6_addr;
      if (inet_ntop(sa->sa.sa_family, src, addr, sizeof addr) == NULL)
        return int_result(env, -errno);
      uint16_t p = ntohs(v4 ? sa->in4.sin_port : sa->in6.sin6_port);
      if (!set_string(env, obj, "address", addr, NAPI_AUTO_LENGTH) ||
          napi_create_uint32(env, p, &port) != napi_ok ||
          napi_set_named_property(env, obj, "port", port) != napi_ok ||
          !set_string(env, obj, "family", v4 ? "IPv4" : "IPv6",
                      NAPI_AUTO_LENGTH))
        return danga_napi_failed(env);
      return obj;
    }
    case AF_UNIX: {
      size_t off = offsetof(struct sockaddr_un, sun_path);
      size_t len = salen > off ? (size_t)salen - off : 0;
      if (len > sizeof sa->un.sun_path) len = sizeof sa->un.sun_path;
      /* Filesystem names end at their NUL; abstract names (leading NUL)
       * are exactly `len` bytes long. */
      if (len > 0 && sa->un.sun_path[0] != '\0')
        len = strnlen(sa->un.sun_path, len);
      if (!set_string(env, obj, "path", sa->un.sun_path, len) ||
          !set_string(env, obj, "family", "unix", NAPI_AUTO_LENGTH))
        return danga_napi_failed(env);
      return obj;
    }
    default:
      return int_result(env, -EAFNOSUPPORT);
  }
}

static napi_value sock_or_peer_name(napi_env env, napi_callback_info info,
                                    bool peer) {
  DANGA_ARGS(env, info, 1, argv);
  int32_t fd;
  if (!danga_int32(env, argv[0], &fd)) return NULL;
  sockaddr_any sa;
  socklen_t salen = sizeof sa;
  memset(&sa, 0, sizeof sa);
  int r =
      peer ? getpeername(fd, &sa.sa, &salen) : getsockname(fd, &sa.sa, &salen);
  if (r < 0) return int_result(env, -errno);
  return sockaddr_to_js(env, &sa, salen);
}

napi_value danga_getsockname(napi_env env, napi_callback_info info) {
  return sock_or_peer_name(env, info, false);
}

napi_value danga_getpeername(napi_env env, napi_callback_info info) {
  return sock_or_peer_name(env, info, true);
}
