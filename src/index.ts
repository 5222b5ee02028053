/**
 * danga-socket: Danga::Socket for Node.js.
 *
 * @packageDocumentation
 */
import './engines/install.js';

export { DangaSocket } from './core/danga-socket.js';
export type {
  WriteData,
  WriteCallback,
  WriterFunc,
  SocketLike,
  StartTlsOptions,
  PostLoopCallback,
  DangaSocketOptions,
  EndOptions,
  ShutdownOptions,
  ErrorHandler,
  Logger,
  DangaStats,
  FileSource,
  WriteFileOptions,
} from './core/danga-socket.js';
export { Connection } from './core/connection.js';
export { Listener } from './core/listener.js';
export type { ListenerOptions, ConnectionFactory } from './core/listener.js';
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
