{
  "targets": [
    {
      "target_name": "danga_native",
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/binding.c",
            "native/counters.c",
            "native/epoll_loop.c",
            "native/errors.c",
            "native/fd_ops.c",
            "native/io_slots.c",
            "native/owned_fds.c",
            "native/socket_ops.c"
          ],
          "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
          "cflags!": ["-Wno-unused-parameter"],
          "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden"],
          "cflags_c": ["-std=gnu11"],
          "configurations": {
            "Release": {
              "cflags!": ["-O3"],
              "cflags": ["-O2"]
            }
          }
        }]
      ]
    }
  ]
}
