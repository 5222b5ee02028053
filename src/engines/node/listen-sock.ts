/**
 * ListenSock: a listening socket of the node engine, over a net.Server.
 */
import type net from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Duplex } from 'node:stream';
import { errnoOf, invalidArgValue, stateError } from '../../core/errors.js';
import { POLLERR, POLLIN } from '../../core/constants.js';
import type { Sock, SockAddress, Transport } from '../../core/contract.js';
import { allocateId } from './allocate-id.js';
import { StreamSock, type AddressHints } from './stream-sock.js';

const E = osConstants.errno;

/** Turns an accepted net.Socket into the Sock `accept()` returns. */
export type AcceptWrapper = (socket: net.Socket, hints: AddressHints) => StreamSock;

const plainAccept: AcceptWrapper = (socket, hints) => new StreamSock(socket, { addresses: hints });

/**
 * A listening socket of the node engine: a net.Server whose connections
 * wait, paused, in a queue until `accept()` takes them. Readable while the
 * queue is not empty.
 *
 * An error of the server (an accept failure, or a listen that failed where
 * the helpers could not learn why at once: see sockets.ts) is kept, and
 * reported as readiness POLLERR: `eventErr`, with the Error in `error` and
 * its errno in `socketError()`.
 */
export class ListenSock implements Sock, Transport {
  readonly engine = 'node' as const;
  /** The underlying server. */
  readonly server: net.Server;
  lastError = 0;
  private readonly _id = allocateId();
  private readonly _queue: net.Socket[] = [];
  private readonly _wrap: AcceptWrapper;
  private readonly _unixPath: string | null;
  private _closed = false;
  private _onReady: (() => void) | null = null;
  private _mask = 0;
  private _error: Error | null = null;

  /**
   * @internal use listenTcp/listenUnix/listenTls. `server` listens already
   * (or failed, and emits 'error'); `unixPath` is its Unix socket path, null
   * for TCP.
   */
  constructor(server: net.Server, unixPath: string | null, wrap: AcceptWrapper = plainAccept) {
    this.server = server;
    this._unixPath = unixPath;
    this._wrap = wrap;
    server.on('connection', (socket: net.Socket) => {
      // An error before accept() is kept by the socket and reported once wrapped.
      socket.on('error', () => {});
      this._queue.push(socket);
      this._onReady?.();
    });
    server.on('error', (err: Error) => {
      this._error ??= err;
      this._onReady?.();
    });
  }

  get fd(): number {
    return this._closed ? -1 : this._id;
  }

  get closed(): boolean {
    return this._closed;
  }

  get handle(): ListenSock {
    return this;
  }

  /** The error of the server, or null. */
  get error(): Error | null {
    return this._error;
  }

  /** Takes one waiting connection; null when none is waiting. */
  accept(): StreamSock | null {
    if (this._closed) throw invalidArgValue('this', 'is a closed socket');
    const socket = this._queue.shift();
    if (socket === undefined) return null;
    const hints: AddressHints = this._unixPath === null ? {} : { local: { path: this._unixPath, family: 'unix' }, remote: { path: '', family: 'unix' } };
    return this._wrap(socket, hints);
  }

  /** The address it listens on; null once closed, or when listening failed. */
  localAddress(): SockAddress | null {
    if (this._closed || !this.server.listening) return null;
    if (this._unixPath !== null) return { path: this._unixPath, family: 'unix' };
    const a = this.server.address();
    if (a === null) return null;
    if (typeof a === 'string') return { path: a, family: 'unix' };
    return { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
  }

  remoteAddress(): SockAddress | null {
    return null;
  }

  /** The server's error as a positive errno, 0 when none. */
  socketError(): number {
    return this._error === null ? 0 : -errnoOf(this._error, -E.EPROTO);
  }

  /** Nothing to do on a listening socket. */
  setNoDelay(_on?: boolean): void {}

  /** A listening socket is not connected: nothing to shut down. */
  shutdown(_how?: 'read' | 'write' | 'both'): void {}

  /** Closes the server and every connection not yet accepted. */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    this._onReady = null;
    this.server.close();
    for (const socket of this._queue.splice(0)) socket.destroy();
  }

  attach(mask: number, onReady: () => void): number {
    if (this._closed) return -E.EBADF;
    this._onReady = onReady;
    this._mask = mask;
    if (this.readiness() !== 0) onReady();
    return 0;
  }

  setInterest(mask: number): number {
    this._mask = mask;
    if (this.readiness() !== 0) this._onReady?.();
    return 0;
  }

  detach(): number {
    this._onReady = null;
    return 0;
  }

  /** A listening socket has no byte stream to give away. */
  release(): Duplex {
    throw stateError('ERR_DANGA_NO_TLS', 'startTls() on a listening socket');
  }

  readiness(): number {
    if (this._closed) return 0;
    let r = 0;
    if (this._mask & POLLIN && this._queue.length > 0) r |= POLLIN;
    if (this._error !== null) r |= POLLERR;
    return r;
  }

  /** Reading a listening socket fails, as read(2) does (EINVAL). */
  read(_max: number): Buffer | null {
    this.lastError = -E.EINVAL;
    return null;
  }

  write(_buf: Buffer, _offset: number, _length: number): number {
    return -E.ENOTCONN;
  }

  writev(_list: readonly unknown[], _start: number, _count: number, _firstOffset: number): number {
    return -E.ENOTCONN;
  }

  setCork(_on: boolean): number {
    return -E.EOPNOTSUPP;
  }
}
