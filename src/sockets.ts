/**
 * Socket helpers: create the sockets DangaSocket objects wrap. They work the
 * same on every engine (the engine the loop runs on makes them: inside a
 * simulation, sockets of the simulated network). Addresses are numeric (IPv4 or IPv6 literals, or
 * "localhost"): resolve names first with `dns.lookup`.
 */
import { invalidArgType, validateInteger, validateObject } from './core/errors.js';
import { listenOnHost, validateHost, validatePath } from './socket-args.js';
import type { Sock } from './core/contract.js';
import { reactor } from './core/loop.js';
import './engines/install.js';

/**
 * Options of `listenTcp`.
 *
 * @original the arguments of `IO::Socket::INET->new(LocalAddr => …, Listen => …, ReuseAddr => 1, Blocking => 0)`
 */
export interface ListenTcpOptions {
  /** IP literal or "localhost"; default "::" (all addresses, IPv4 and IPv6) falling back to "0.0.0.0". */
  host?: string;
  /** 0 picks a free port (see `localAddress()`). */
  port: number;
  /** Default 511, as Node's net. */
  backlog?: number;
  /** SO_REUSEPORT, so several processes can share the port. */
  reusePort?: boolean;
}

/**
 * Options of `connectTcp`.
 *
 * @original the arguments of `IO::Socket::INET->new(PeerAddr => …, Blocking => 0)`
 */
export interface ConnectTcpOptions {
  /** IP literal or "localhost". */
  host: string;
  /**
   * Port, 1 to 65535.
   */
  port: number;
}

/**
 * A listening TCP socket (non-blocking, SO_REUSEADDR). Readable means a connection is waiting for `accept()`.
 *
 * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `options` is not an object or a field has the wrong type; RangeError (code `ERR_OUT_OF_RANGE`) for a port outside
 *   0–65535 or a bad backlog; TypeError (code `ERR_INVALID_ARG_VALUE`) for a host that is not an IP literal or "localhost"; a system error (`code` such as 'EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL', with `errno` and `syscall`) when socket, bind
 *   or listen fails (both engines, at once); Error `ERR_DANGA_NO_REUSEPORT` for `reusePort` on the node engine.
 * @original new in danga-socket (not in Danga::Socket 1.62): 1.62 servers make the socket with `IO::Socket::INET->new(Listen => …)`
 */
export function listenTcp(options: ListenTcpOptions): Sock {
  const o = validateObject('options', options);
  const port = validateInteger('options.port', o.port, 0, 65535);
  const backlog = o.backlog === undefined ? 511 : validateInteger('options.backlog', o.backlog, 0, 0x7fffffff);
  if (o.reusePort !== undefined && typeof o.reusePort !== 'boolean') {
    throw invalidArgType('options.reusePort', 'of type boolean', o.reusePort);
  }
  const reusePort = o.reusePort === true;
  return listenOnHost(o.host, (host) => reactor.engine.listenTcp(host, port, backlog, reusePort));
}

/**
 * Starts a non-blocking TCP connection. Watch for writability: when the
 * socket becomes writable the connection is made (or failed: `eventErr`).
 *
 * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `options` is not an object or a field has the wrong type; RangeError (code `ERR_OUT_OF_RANGE`) for a port outside
 *   1–65535; TypeError (code `ERR_INVALID_ARG_VALUE`) for a host that is not an IP literal or "localhost"; a system error when the socket cannot be
 *   made. A refused or failed connection does not throw: it reaches `eventErr`/`eventHup`.
 * @original new in danga-socket (not in Danga::Socket 1.62): 1.62 code uses `IO::Socket::INET->new(PeerAddr => …, Blocking => 0)`
 */
export function connectTcp(options: ConnectTcpOptions): Sock {
  const o = validateObject('options', options);
  const host = validateHost('options.host', o.host);
  const port = validateInteger('options.port', o.port, 1, 65535);
  return reactor.engine.connectTcp(host, port);
}

/**
 * A listening Unix domain stream socket at `path`.
 *
 * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `path` is not a string; TypeError (code `ERR_INVALID_ARG_VALUE`) when it is empty or has a NUL byte; a system error (`code` such as 'EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL', with `errno` and `syscall`) when socket, bind or listen fails.
 * @original new in danga-socket (not in Danga::Socket 1.62): 1.62 code uses `IO::Socket::UNIX->new(Listen => …)`
 */
export function listenUnix(path: string): Sock {
  return reactor.engine.listenUnix(validatePath(path), 511);
}

/**
 * Connects to a Unix domain stream socket at `path`.
 *
 * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `path` is not a string; TypeError (code `ERR_INVALID_ARG_VALUE`) when it is empty or has a NUL byte; a system error (ENOENT, ECONNREFUSED, …) when the connect fails at once.
 * @original new in danga-socket (not in Danga::Socket 1.62): 1.62 code uses `IO::Socket::UNIX->new(Peer => …)`
 */
export function connectUnix(path: string): Sock {
  return reactor.engine.connectUnix(validatePath(path));
}

/**
 * A pair of connected Unix domain stream sockets.
 *
 * @throws a system error (EMFILE, ENFILE) when socketpair(2) fails (epoll engine).
 * @original new in danga-socket (not in Danga::Socket 1.62): 1.62 code uses `socketpair(2)` (`IO::Socket->socketpair`)
 */
export function socketPair(): [Sock, Sock] {
  return reactor.engine.socketPair();
}
