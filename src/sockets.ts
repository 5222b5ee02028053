/**
 * Socket helpers: create the sockets DangaSocket objects wrap. They work the
 * same on every engine (the engine the loop runs on makes them: inside a
 * simulation, sockets of the simulated network). Addresses are numeric (IPv4 or IPv6 literals, or
 * "localhost"): resolve names first with `dns.lookup`.
 */
import { invalidArgType, validateInteger } from './core/errors.js';
import { listenOnHost, validateHost, validateOptions, validatePath } from './socket-args.js';
import type { Sock } from './core/contract.js';
import { reactor } from './core/loop.js';
import './engines/install.js';

/** Options of `listenTcp`. */
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

/** Options of `connectTcp`. */
export interface ConnectTcpOptions {
  /** IP literal or "localhost". */
  host: string;
  port: number;
}

/** A listening TCP socket (non-blocking, SO_REUSEADDR). Readable means a connection is waiting for `accept()`. */
export function listenTcp(options: ListenTcpOptions): Sock {
  const o = validateOptions('options', options);
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
 */
export function connectTcp(options: ConnectTcpOptions): Sock {
  const o = validateOptions('options', options);
  const host = validateHost('options.host', o.host);
  const port = validateInteger('options.port', o.port, 1, 65535);
  return reactor.engine.connectTcp(host, port);
}

/** A listening Unix domain stream socket at `path`. */
export function listenUnix(path: string): Sock {
  return reactor.engine.listenUnix(validatePath(path), 511);
}

/** Connects to a Unix domain stream socket at `path`. */
export function connectUnix(path: string): Sock {
  return reactor.engine.connectUnix(validatePath(path));
}

/** A pair of connected Unix domain stream sockets. */
export function socketPair(): [Sock, Sock] {
  return reactor.engine.socketPair();
}
