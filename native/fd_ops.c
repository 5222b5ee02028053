#include "fd_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "args.h"
#include "counters.h"
#include "owned_fds.h"

#if defined(IOV_MAX) && IOV_MAX < DANGA_IOV_MAX
#error "IOV_MAX is smaller than DANGA_IOV_MAX"
#endif

/* A byte count, fd or 0 (n >= 0), else -errno, as a JS number.  Linux never
 * transfers more than 0x7ffff000 bytes per call, so it always fits. */
static napi_value result(napi_env env, ssize_t n) {
  napi_value v;
  DANGA_NAPI(env, napi_create_int32(env, n < 0 ? -errno : (int32_t)n, &v));
  return v;
}

/* read(fd, buf, offset, length): 6 N-API calls (arguments, fd, view,
 * offset, length, result). */
napi_value danga_read(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 4, argv);
  int32_t fd;
  uint8_t *p;
  size_t len;
  if (!danga_int32(env, argv[0], &fd) ||
      !danga_slice(env, argv[1], argv[2], argv[3], &p, &len))
    return NULL;
  ssize_t n;
  do danga_counts.read++, n = read(fd, p, len);
  while (n < 0 && errno == EINTR);
  return result(env, n);
}

/* write(fd, buf, offset, length) */
napi_value danga_write(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 4, argv);
  int32_t fd;
  uint8_t *p;
  size_t len;
  if (!danga_int32(env, argv[0], &fd) ||
      !danga_slice(env, argv[1], argv[2], argv[3], &p, &len))
    return NULL;
  ssize_t n;
  do danga_counts.write++, n = write(fd, p, len);
  while (n < 0 && errno == EINTR);
  return result(env, n);
}

/* writev(fd, list, start, count, firstOffset): list[start] from
 * firstOffset, then list[start+1] ... count items, at most IOV_MAX. */
napi_value danga_writev(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 5, argv);
  struct iovec iov[DANGA_IOV_MAX];
  int32_t fd;
  uint32_t start, count, list_len;
  int64_t first_off;
  if (!danga_int32(env, argv[0], &fd)) return NULL;
  DANGA_NAPI(env, napi_get_array_length(env, argv[1], &list_len));
  DANGA_NAPI(env, napi_get_value_uint32(env, argv[2], &start));
  DANGA_NAPI(env, napi_get_value_uint32(env, argv[3], &count));
  DANGA_NAPI(env, napi_get_value_int64(env, argv[4], &first_off));
  if (start > list_len || count > list_len - start)
    return danga_internal_error(env, "start + count is outside the list");
  if (count > DANGA_IOV_MAX) count = DANGA_IOV_MAX;

  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    uint8_t *data;
    size_t len;
    DANGA_NAPI(env, napi_get_element(env, argv[1], start + i, &item));
    if (!danga_view(env, item, "list items must be TypedArrays", &data, &len))
      return NULL;
    if (i == 0) {
      if (first_off < 0 || (uint64_t)first_off > len)
        return danga_internal_error(env, "firstOffset is outside list[start]");
      data += first_off;
      len -= (size_t)first_off;
    }
    iov[i].iov_base = data;
    iov[i].iov_len = len;
  }

  ssize_t n;
  do danga_counts.writev++, n = writev(fd, iov, (int)count);
  while (n < 0 && errno == EINTR);
  return result(env, n);
}

/* sendfile(fd, fileFd, position, count): sendfile(2) of `count` bytes of
 * fileFd from `position` to the socket fd, without them entering user
 * space: bytes sent (0 when the file ends at position), or -errno (-EAGAIN
 * when the socket takes nothing now).  The file's own offset is not moved.
 * Linux sends at most 0x7ffff000 bytes per call, so the count fits. */
napi_value danga_sendfile(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 4, argv);
  int32_t fd, file_fd;
  int64_t position, count;
  if (!danga_int32(env, argv[0], &fd) || !danga_int32(env, argv[1], &file_fd))
    return NULL;
  DANGA_NAPI(env, napi_get_value_int64(env, argv[2], &position));
  DANGA_NAPI(env, napi_get_value_int64(env, argv[3], &count));
  if (position < 0 || count < 0)
    return danga_internal_error(env, "position and count must be >= 0");
  if (count > 0x7ffff000) count = 0x7ffff000;
  off_t off = (off_t)position;
  ssize_t n;
  do danga_counts.sendfile++, n = sendfile(fd, file_fd, &off, (size_t)count);
  while (n < 0 && errno == EINTR);
  return result(env, n);
}

/* close(fd): EINTR counts as closed (on Linux the fd is gone either way).
 * The fd is no longer owned (teardown must not close the number again). */
napi_value danga_close(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 1, argv, danga_fds, fds);
  int32_t fd;
  if (!danga_int32(env, argv[0], &fd)) return NULL;
  danga_fds_remove(fds, fd);
  int r = close(fd);
  return result(env, (r < 0 && errno == EINTR) ? 0 : r);
}

/* shutdown(fd, how) with how 0 (SHUT_RD), 1 (SHUT_WR), 2 (SHUT_RDWR). */
_Static_assert(SHUT_RD == 0 && SHUT_WR == 1 && SHUT_RDWR == 2,
               "shutdown(): the `how` values JS passes");

napi_value danga_shutdown(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 2, argv);
  int32_t fd, how;
  if (!danga_int32(env, argv[0], &fd) || !danga_int32(env, argv[1], &how))
    return NULL;
  int r;
  do r = shutdown(fd, how);
  while (r < 0 && errno == EINTR);
  return result(env, r);
}

/* dup(fd): a new fd for the same open file, close-on-exec (the lowest free
 * number, as dup(2) picks), or -errno.  The dup is not owned: it is for
 * Node, which closes it (STARTTLS). */
napi_value danga_dup(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 1, argv);
  int32_t fd;
  if (!danga_int32(env, argv[0], &fd)) return NULL;
  int r;
  do r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  while (r < 0 && errno == EINTR);
  napi_value v;
  if (napi_create_int32(env, r < 0 ? -errno : r, &v) != napi_ok) {
    if (r >= 0) close(r); /* JS will never know of it: no leak */
    return danga_napi_failed(env);
  }
  return v;
}

/* fdType(fd): 1 stream socket, 3 another kind of socket (datagram,
 * seqpacket), 2 any other open file, -errno (-EBADF) if not open. */
napi_value danga_fd_type(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 1, argv);
  int32_t fd;
  if (!danga_int32(env, argv[0], &fd)) return NULL;
  struct stat st;
  int r;
  do r = fstat(fd, &st);
  while (r < 0 && errno == EINTR);
  if (r < 0) return result(env, -1);
  if (!S_ISSOCK(st.st_mode)) return result(env, 2);
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
    return result(env, -1);
  return result(env, type == SOCK_STREAM ? 1 : 3);
}

/* Sets `flag` with fcntl's `get`/`set` pair (F_GETFL/F_SETFL or
 * F_GETFD/F_SETFD) unless it is set already: 0, or -1 with errno. */
static int add_fd_flag(int fd, int get, int set, int flag) {
  int flags, r;
  do flags = fcntl(fd, get);
  while (flags < 0 && errno == EINTR);
  if (flags < 0 || (flags & flag)) return flags < 0 ? -1 : 0;
  do r = fcntl(fd, set, flags | flag);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -1 : 0;
}

/* adopt(fd): an fd the addon did not create (one handed over by number,
 * or inherited: systemd's LISTEN_FDS) becomes the addon's: O_NONBLOCK and
 * FD_CLOEXEC set (an inherited fd must not leak into the next exec), and
 * owned from then on (closed at environment teardown unless closed
 * before).  0 or -errno (-ENOMEM when it cannot be recorded; the fd is then
 * not owned). */
napi_value danga_adopt(napi_env env, napi_callback_info info) {
  DANGA_ARGS_DATA(env, info, 1, argv, danga_fds, fds);
  int32_t fd;
  if (!danga_int32(env, argv[0], &fd)) return NULL;
  if (add_fd_flag(fd, F_GETFL, F_SETFL, O_NONBLOCK) < 0 ||
      add_fd_flag(fd, F_GETFD, F_SETFD, FD_CLOEXEC) < 0)
    return result(env, -1);
  int r = danga_fds_add(fds, fd);
  napi_value v;
  if (napi_create_int32(env, r, &v) != napi_ok) {
    danga_fds_remove(fds, fd); /* JS will not know it adopted the fd */
    return danga_napi_failed(env);
  }
  return v;
}
