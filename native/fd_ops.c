#include "fd_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "args.h"

#if defined(IOV_MAX) && IOV_MAX < DANGA_IOV_MAX
#error "IOV_MAX is smaller than DANGA_IOV_MAX"
#endif

/* A byte count or -errno as a JS number.  Linux never transfers more than
 * 0x7ffff000 bytes per call, so the result always fits an int32. */
static napi_value result(napi_env env, ssize_t n) {
  napi_value v;
  DANGA_NAPI(env, napi_create_int32(env, n < 0 ? -errno : (int32_t)n, &v));
  return v;
}

/* read(fd, buf, offset, length) */
napi_value danga_read(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 4, argv);
  int32_t fd;
  uint8_t *p;
  size_t len;
  if (!danga_arg_int32(env, argv[0], "fd", &fd) ||
      !danga_arg_slice(env, argv[1], argv[2], argv[3], &p, &len))
    return NULL;
  ssize_t n;
  do n = read(fd, p, len);
  while (n < 0 && errno == EINTR);
  return result(env, n);
}

/* write(fd, buf, offset, length) */
napi_value danga_write(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 4, argv);
  int32_t fd;
  uint8_t *p;
  size_t len;
  if (!danga_arg_int32(env, argv[0], "fd", &fd) ||
      !danga_arg_slice(env, argv[1], argv[2], argv[3], &p, &len))
    return NULL;
  ssize_t n;
  do n = write(fd, p, len);
  while (n < 0 && errno == EINTR);
  return result(env, n);
}

/* writev(fd, list, start, count, firstOffset): list[start] from
 * firstOffset, then list[start+1] ... count items, at most IOV_MAX. */
napi_value danga_writev(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 5, argv);
  struct iovec iov[DANGA_IOV_MAX];
  int32_t fd;
  size_t start, count, first_off;
  uint32_t list_len;
  if (!danga_arg_int32(env, argv[0], "fd", &fd)) return NULL;
  if (napi_get_array_length(env, argv[1], &list_len) != napi_ok) {
    danga_throw_type_error(env, "list must be an array");
    return NULL;
  }
  if (!danga_arg_index(env, argv[2], "start", &start) ||
      !danga_arg_index(env, argv[3], "count", &count) ||
      !danga_arg_index(env, argv[4], "firstOffset", &first_off))
    return NULL;
  if (start > list_len || count > list_len - start) {
    danga_throw_range_error(env,
                            "start + count (%zu + %zu) exceeds the list "
                            "length (%u)",
                            start, count, list_len);
    return NULL;
  }
  if (count > DANGA_IOV_MAX) count = DANGA_IOV_MAX;

  for (size_t i = 0; i < count; i++) {
    napi_value item;
    uint8_t *data = NULL;
    size_t len = 0;
    DANGA_NAPI(env, napi_get_element(env, argv[1], (uint32_t)(start + i), &item));
    if (!danga_view_bytes(env, item, &data, &len)) {
      danga_throw_type_error(env, "list[%zu] must be a Uint8Array", start + i);
      return NULL;
    }
    if (i == 0) {
      if (first_off > len) {
        danga_throw_range_error(env,
                                "firstOffset (%zu) exceeds the size of "
                                "list[%zu] (%zu)",
                                first_off, start, len);
        return NULL;
      }
      data += first_off;
      len -= first_off;
    }
    iov[i].iov_base = data;
    iov[i].iov_len = len;
  }

  ssize_t n;
  do n = writev(fd, iov, (int)count);
  while (n < 0 && errno == EINTR);
  return result(env, n);
}

/* close(fd): EINTR counts as closed (on Linux the fd is gone either way). */
napi_value danga_close(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 1, argv);
  int32_t fd;
  if (!danga_arg_int32(env, argv[0], "fd", &fd)) return NULL;
  int r = close(fd);
  return result(env, (r < 0 && errno == EINTR) ? 0 : r);
}

/* shutdown(fd, how) with how 0 (SHUT_RD), 1 (SHUT_WR), 2 (SHUT_RDWR). */
napi_value danga_shutdown(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 2, argv);
  int32_t fd, how;
  if (!danga_arg_int32(env, argv[0], "fd", &fd) ||
      !danga_arg_int32(env, argv[1], "how", &how))
    return NULL;
  int r;
  do r = shutdown(fd, how);
  while (r < 0 && errno == EINTR);
  return result(env, r);
}

/* fdType(fd): 1 socket, 2 any other open file, -errno (-EBADF) if not open. */
napi_value danga_fd_type(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 1, argv);
  int32_t fd;
  if (!danga_arg_int32(env, argv[0], "fd", &fd)) return NULL;
  struct stat st;
  int r;
  do r = fstat(fd, &st);
  while (r < 0 && errno == EINTR);
  return result(env, r < 0 ? -1 : (S_ISSOCK(st.st_mode) ? 1 : 2));
}

/* setNonBlocking(fd): set O_NONBLOCK on an fd the addon did not create
 * (one adopted from elsewhere); 0 or -errno. */
napi_value danga_set_non_blocking(napi_env env, napi_callback_info info) {
  DANGA_ARGS(env, info, 1, argv);
  int32_t fd;
  if (!danga_arg_int32(env, argv[0], "fd", &fd)) return NULL;
  int flags, r = 0;
  do flags = fcntl(fd, F_GETFL);
  while (flags < 0 && errno == EINTR);
  if (flags >= 0 && !(flags & O_NONBLOCK)) {
    do r = fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    while (r < 0 && errno == EINTR);
  }
  return result(env, flags < 0 ? -1 : r);
}
