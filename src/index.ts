/**
 * danga-socket: Danga::Socket 1.62 for Node.js — the event loop and the
 * event-driven async socket base class, over a native epoll engine (Linux) or
 * Node's own streams.
 *
 * Subclass {@link DangaSocket} (or {@link Connection} for a protocol
 * connection), wrap a socket from the helpers ({@link listenTcp},
 * {@link connectTcp}, {@link listenUnix}, {@link connectUnix},
 * {@link socketPair}, {@link listenTls}, {@link connectTls}) or a Node stream,
 * accept with a {@link Listener}, and run `await DangaSocket.eventLoop()`.
 * Each member says what it throws and which Danga::Socket 1.62 name it maps
 * to ("Original"); additions are marked "new in danga-socket".
 *
 * Loading the package chooses the engine once: the native epoll addon (a
 * prebuild shipped in the package, or one compiled at install) when it loads
 * and can drive the runtime's event loop (Node's libuv loop; not Deno's or
 * Bun's), else the node engine with one process warning, code
 * `DANGA_NO_EPOLL`, saying why. `DANGA_ENGINE=node` forces the node engine;
 * `DANGA_ENGINE=epoll` demands the addon and makes loading throw an Error
 * `ERR_DANGA_NO_EPOLL` without it. On a runtime that lacks a Node internal
 * the node engine needs, the call that needs it throws
 * `ERR_DANGA_NODE_UNSUPPORTED` naming it; loading does not.
 *
 * Errors carry a Node-style `code`:
 *
 * - `ERR_INVALID_ARG_TYPE` (TypeError), `ERR_INVALID_ARG_VALUE` (TypeError),
 *   `ERR_OUT_OF_RANGE` (RangeError): a bad argument, named in the message;
 * - `ERR_SOCKET_CLOSED`: `requireSock()` or `startTls()` on a closed object;
 * - `ERR_WRITE_QUEUE_NOT_EMPTY`: `startTls()` with data still queued;
 * - `ERR_LOOP_RUNNING`: `eventLoop()` while it runs (the Promise rejects);
 * - `ERR_DANGA_FRAME_TOO_LONG`: a framing helper's `maxBytes` passed;
 * - `ERR_DANGA_NO_EPOLL`: foreign fds, or `DANGA_ENGINE=epoll`, without the
 *   native engine; `ERR_DANGA_NO_REUSEPORT`: `reusePort` on the node engine;
 *   `ERR_DANGA_NO_TLS`: `startTls()` on a listening socket;
 * - `ERR_INVALID_RETURN_VALUE`: a `Listener` factory that returned no
 *   DangaSocket (it goes to the error handler);
 * - system errors: `code` ('EADDRINUSE', 'ECONNRESET', …), `errno`,
 *   `syscall`, as Node's own.
 *
 * Warnings (`process.on('warning')`): `DANGA_NO_EPOLL`,
 * `DANGA_ACCEPT_FAILED`, `DANGA_CORK_FAILED`, `DANGA_FD_REGISTERED_TWICE`.
 *
 * @packageDocumentation
 */
import './engines/install.js';

export { DangaSocket } from './core/danga-socket.js';
export type { StartTlsOptions, PostLoopCallback, ErrorHandler, FileSource, WriteFileOptions } from './core/danga-socket.js';
export type {
  WriteData,
  WriteCallback,
  WriterFunc,
  DangaSocketOptions,
  EndOptions,
  ShutdownOptions,
  Logger,
  DangaStats,
  FrameFormat,
} from './core/socket-types.js';
export { Connection } from './core/connection.js';
export { Listener } from './core/listener.js';
export type { ListenerOptions, ConnectionFactory } from './core/listener.js';
export { parseProxyHeader } from './core/proxy-protocol.js';
export type { ProxyHeader, ProxyTlvs, ProxyTlv, ProxySsl, ProxyTransport, ProxyHeaderError, ProxyParseResult } from './core/proxy-protocol.js';
export { proxyInfo } from './core/proxy-header-reader.js';
export { HealthCheck } from './core/health-check.js';
export type { DrainOptions, DrainAndShutdownOptions } from './core/health-check.js';
export type { ProxyProtocolOptions, ProxyInfo } from './core/proxy-header-reader.js';
export { Timer } from './core/timers.js';
export type { TimerCallback } from './core/timers.js';
export type { OtherFdCallback, ProfilingData } from './core/loop.js';
export type { Sock, SockAddress, EngineName } from './core/contract.js';
export { POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL } from './core/constants.js';
export { listenTcp, connectTcp, listenUnix, connectUnix, socketPair } from './sockets.js';
export type { ListenTcpOptions, ConnectTcpOptions } from './sockets.js';
export { listenTls, connectTls } from './tls.js';
export type { ListenTlsOptions, ConnectTlsOptions } from './tls.js';
export type { StreamSock, ListenSock } from './engines/node/index.js';
export { WorkerGroup } from './workers/group.js';
export type { WorkerGroupOptions, WorkerListen, WorkerExit, WorkerGroupStats, WorkerStats, WorkerGroupShutdownOptions } from './workers/group.js';
export type { WorkerContext, ServeFactory } from './workers/context.js';
export { inheritedListen, spawnSuccessor, announceReady } from './workers/handover.js';
export type { SpawnSuccessorOptions } from './workers/handover.js';
export type { WorkerMode } from './workers/protocol.js';
