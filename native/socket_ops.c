#include "socket_ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "args.h"

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

/* close(2) without disturbing errno (for error paths). */
static void close_keep_errno(int fd) {
  int e = errno;
  close(fd);
  errno = e;
}

static napi_value int_result(napi_env env, int32_t n) {
  napi_value v;
  DANGA_NAPI(env, napi_create_int32(env, n, &v));
  return v;
}

/* Hand a new fd to JS; if even that fails, close it (no leak). */
static napi_value fd_result(napi_env env, int fd) {
  napi_value v;
  if (napi_create_int32(env, fd, &v) != napi_ok) {
    close(fd);
    return danga_napi_failed(env);
  }
  return v;
}

/*
 * Copy a JS string into buf (always NUL-terminated, truncated to cap - 1
 * bytes).  *len receives the full UTF-8 length, which may exceed cap - 1.
 */
static bool arg_string(napi_env env, napi_value v, const char *what,
                       char *buf, size_t cap, size_t *len) {
  size_t full = 0, copied = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &full) != napi_ok) {
    danga_throw_type_error(env, "%s must be a string", what);
    return false;
  }
  if (napi_get_value_string_utf8(env, v, buf, cap, &copied) != napi_ok) {
    danga_napi_failed(env);
    return false;
  }
  *len = full;
  return true;
}

static bool arg_port(napi_env env, napi_value v, int32_t *port) {
  if (!danga_arg_int32(env, v, "port", port)) return false;
  if (*port < 0 || *port > 65535) {
    danga_throw_range_error(env, "port must be >= 0 and <= 65535, got %d",
                            (int)*port);
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
 * A Unix socket path argument -> sockaddr_un.  A path starting with a NUL
 * byte is a Linux abstract name (its length is the address length); any
 * other path must not contain NUL bytes.  Throws TypeError for a
 * non-string, and an errno error (ENOENT for '', ENAMETOOLONG when it does
 * not fit sun_path) with `syscall` and `path` set.
 */
static bool unix_addr(napi_env env, napi_value v, const char *syscall,
                      char *path, size_t path_cap, size_t *path_len,
                      sockaddr_any *sa, socklen_t *salen) {
  if (!arg_string(env, v, "path", path, path_cap, path_len)) return false;
  size_t len = *path_len;
  size_t shown = len < path_cap ? len : path_cap - 1;
  bool abstract = len > 0 && path[0] == '\0';
  if (len == 0) {
    danga_throw_errno_path(env, ENOENT, syscall, path, 0);
    return false;
  }
  if (!abstract && memchr(path, '\0', shown) != NULL) {
    danga_throw_type_error(env, "path must not contain null bytes");
    return false;
  }
  /* A filesystem path needs room for its terminating NUL. */
  if (len > sizeof sa->un.sun_path - (abstract ? 0 : 1)) {
    danga_throw_errno_path(env, ENAMETOOLONG, syscall, path, shown);
    return false;
  }
  memset(sa, 0, sizeof *sa);
  sa->un.sun_family = AF_UNIX;
  memcpy(sa->un.sun_path, path, len);
  *salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                       (abstract ? 0 : 1));
  return true;
}

/* ---- hot path ----------------------------------------------------------- */

/* accept(fd) -> new fd (non-blocking, close-on-exec) or -errno. */
napi_value danga_accept(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 1, argv);
  int32_t fd;
  if (!danga_arg_int32(env, argv[0], "fd", &fd)) return NULL;
  int r;
  do r = accept4(fd, NULL, NULL, SOCK_FLAGS);
  while (r < 0 && (errno == EINTR || errno == ECONNABORTED));
  if (r < 0) return int_result(env, -errno);
  return fd_result(env, r);
}

/* setsockopt(fd, level, name, value) with an int value -> 0 or -errno. */
napi_value danga_setsockopt(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 4, argv);
  int32_t fd, level, name, value;
  if (!danga_arg_int32(env, argv[0], "fd", &fd) ||
      !danga_arg_int32(env, argv[1], "level", &level) ||
      !danga_arg_int32(env, argv[2], "name", &name) ||
      !danga_arg_int32(env, argv[3], "value", &value))
    return NULL;
  int v = value;
  int r = setsockopt(fd, level, name, &v, sizeof v);
  return int_result(env, r < 0 ? -errno : 0);
}

/* ---- setup calls (throw) ------------------------------------------------ */

/* getsockopt(fd, level, name) -> int value; throws on failure. */
napi_value danga_getsockopt(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 3, argv);
  int32_t fd, level, name;
  if (!danga_arg_int32(env, argv[0], "fd", &fd) ||
      !danga_arg_int32(env, argv[1], "level", &level) ||
      !danga_arg_int32(env, argv[2], "name", &name))
    return NULL;
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, name, &v, &len) < 0) {
    danga_throw_errno(env, errno, "getsockopt");
    return NULL;
  }
  return int_result(env, v);
}

/* listenTcp(host, port, backlog, reusePort) -> listening fd. */
napi_value danga_listen_tcp(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 4, argv);
  char host[HOST_MAX];
  size_t host_len;
  int32_t port, backlog;
  bool reuse_port;
  if (!arg_string(env, argv[0], "host", host, sizeof host, &host_len) ||
      !arg_port(env, argv[1], &port) ||
      !danga_arg_int32(env, argv[2], "backlog", &backlog) ||
      !danga_arg_bool(env, argv[3], "reusePort", &reuse_port))
    return NULL;

  sockaddr_any sa;
  socklen_t salen;
  if (!parse_ip(host, host_len, port, &sa, &salen)) {
    danga_throw_errno_hostport(env, EINVAL, "bind", host, port);
    return NULL;
  }

  int fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_FLAGS, IPPROTO_TCP);
  if (fd < 0) {
    danga_throw_errno_hostport(env, errno, "socket", host, port);
    return NULL;
  }
  const char *failed = NULL;
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
    failed = "setsockopt";
  else if (reuse_port &&
           setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
    failed = "setsockopt";
  else if (bind(fd, &sa.sa, salen) < 0)
    failed = "bind";
  else if (listen(fd, backlog) < 0)
    failed = "listen";
  if (failed != NULL) {
    close_keep_errno(fd);
    danga_throw_errno_hostport(env, errno, failed, host, port);
    return NULL;
  }
  return fd_result(env, fd);
}

/* connectTcp(host, port) -> fd with a connect in progress (or done). */
napi_value danga_connect_tcp(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 2, argv);
  char host[HOST_MAX];
  size_t host_len;
  int32_t port;
  if (!arg_string(env, argv[0], "host", host, sizeof host, &host_len) ||
      !arg_port(env, argv[1], &port))
    return NULL;

  sockaddr_any sa;
  socklen_t salen;
  if (!parse_ip(host, host_len, port, &sa, &salen)) {
    danga_throw_errno_hostport(env, EINVAL, "connect", host, port);
    return NULL;
  }

  int fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_FLAGS, IPPROTO_TCP);
  if (fd < 0) {
    danga_throw_errno_hostport(env, errno, "socket", host, port);
    return NULL;
  }
  /* EINTR: the connect carries on asynchronously, like EINPROGRESS
   * (retrying would only report EALREADY). */
  if (connect(fd, &sa.sa, salen) < 0 && errno != EINPROGRESS &&
      errno != EINTR) {
    close_keep_errno(fd);
    danga_throw_errno_hostport(env, errno, "connect", host, port);
    return NULL;
  }
  return fd_result(env, fd);
}

/* listenUnix(path, backlog) -> listening fd. */
napi_value danga_listen_unix(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 2, argv);
  char path[PATH_MAX];
  size_t path_len;
  int32_t backlog;
  sockaddr_any sa;
  socklen_t salen;
  if (!unix_addr(env, argv[0], "bind", path, sizeof path, &path_len, &sa,
                 &salen) ||
      !danga_arg_int32(env, argv[1], "backlog", &backlog))
    return NULL;

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_FLAGS, 0);
  if (fd < 0) {
    danga_throw_errno_path(env, errno, "socket", path, path_len);
    return NULL;
  }
  const char *failed = NULL;
  if (bind(fd, &sa.sa, salen) < 0)
    failed = "bind";
  else if (listen(fd, backlog) < 0)
    failed = "listen";
  if (failed != NULL) {
    close_keep_errno(fd);
    danga_throw_errno_path(env, errno, failed, path, path_len);
    return NULL;
  }
  return fd_result(env, fd);
}

/* connectUnix(path) -> connected fd.  A full listen backlog is EAGAIN,
 * which throws (as libuv does). */
napi_value danga_connect_unix(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 1, argv);
  char path[PATH_MAX];
  size_t path_len;
  sockaddr_any sa;
  socklen_t salen;
  if (!unix_addr(env, argv[0], "connect", path, sizeof path, &path_len, &sa,
                 &salen))
    return NULL;

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_FLAGS, 0);
  if (fd < 0) {
    danga_throw_errno_path(env, errno, "socket", path, path_len);
    return NULL;
  }
  if (connect(fd, &sa.sa, salen) < 0 && errno != EINPROGRESS &&
      errno != EINTR) {
    close_keep_errno(fd);
    danga_throw_errno_path(env, errno, "connect", path, path_len);
    return NULL;
  }
  return fd_result(env, fd);
}

/* socketpair() -> [fd, fd], AF_UNIX stream. */
napi_value danga_socketpair(napi_env env, napi_callback_info info) {
  (void)info;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_FLAGS, 0, sv) < 0) {
    danga_throw_errno(env, errno, "socketpair");
    return NULL;
  }
  napi_value arr, a, b;
  if (napi_create_array_with_length(env, 2, &arr) != napi_ok ||
      napi_create_int32(env, sv[0], &a) != napi_ok ||
      napi_create_int32(env, sv[1], &b) != napi_ok ||
      napi_set_element(env, arr, 0, a) != napi_ok ||
      napi_set_element(env, arr, 1, b) != napi_ok) {
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

/* { address, port, family: 'IPv4' | 'IPv6' } or { path, family: 'unix' } */
static napi_value sockaddr_to_js(napi_env env, const sockaddr_any *sa,
                                 socklen_t salen, const char *syscall) {
  napi_value obj, port;
  char addr[INET6_ADDRSTRLEN];
  DANGA_NAPI(env, napi_create_object(env, &obj));

  switch (sa->sa.sa_family) {
    case AF_INET:
    case AF_INET6: {
      bool v4 = sa->sa.sa_family == AF_INET;
      const void *src = v4 ? (const void *)&sa->in4.sin_addr
                           : (const void *)&sa->in6.sin6_addr;
      if (inet_ntop(sa->sa.sa_family, src, addr, sizeof addr) == NULL) {
        danga_throw_errno(env, errno, "inet_ntop");
        return NULL;
      }
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
      danga_throw_errno(env, EAFNOSUPPORT, syscall);
      return NULL;
  }
}

static napi_value sock_or_peer_name(napi_env env, napi_callback_info info,
                                    bool peer) {
  DANGA_ARGS(env, info, 1, argv);
  int32_t fd;
  if (!danga_arg_int32(env, argv[0], "fd", &fd)) return NULL;
  const char *syscall = peer ? "getpeername" : "getsockname";
  sockaddr_any sa;
  socklen_t salen = sizeof sa;
  memset(&sa, 0, sizeof sa);
  int r = peer ? getpeername(fd, &sa.sa, &salen)
               : getsockname(fd, &sa.sa, &salen);
  if (r < 0) {
    danga_throw_errno(env, errno, syscall);
    return NULL;
  }
  return sockaddr_to_js(env, &sa, salen, syscall);
}

napi_value danga_getsockname(napi_env env, napi_callback_info info) {
  return sock_or_peer_name(env, info, false);
}

napi_value danga_getpeername(napi_env env, napi_callback_info info) {
  return sock_or_peer_name(env, info, true);
}
