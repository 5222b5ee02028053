/**
 * Sockets of the stream engine beside the connected StreamSock: listening
 * sockets over net.Server, and the helpers that make sockets (listen and
 * connect over TCP and Unix sockets, the socket pair, adopting an fd).
 */
import net from 'node:net';
import { fstatSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { invalidArgType, invalidArgValue, stateError, systemError } from '../../core/errors.js';
import type { Duplex } from 'node:stream';
import type { Sock, SockAddress, Transport } from '../../core/contract.js';
import { StreamSock, allocateId, errnoOf, type AddressHints } from './stream-sock.js';
import { duplexPair } from './pair.js';

const POLLIN = 1;
const POLLERR = 8;
const E = osConstants.errno;
/** sun_path holds 108 bytes, the terminating NUL included. */
const UNIX_PATH_MAX = 107;

/** Turns an accepted net.Socket into the Sock `accept()` returns. */
export type AcceptWrapper = (socket: net.Socket, hints: AddressHints) => StreamSock;

const plainAccept: AcceptWrapper = (socket, hints) => new StreamSock(socket, { addresses: hints });

/**
 * A listening socket of the stream engine: a net.Server whose connections
 * wait, paused, in a queue until `accept()` takes them. Readable while the
 * queue is not empty.
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

  /** @internal use listenTcp/listenUnix/listenTls */
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

  localAddress(): SockAddress | null {
    if (this._closed) return null;
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

/** Which syscall a listen error belongs to: address errors are bind's, as the native engine reports them. */
function listenSyscall(code: string): string {
  return ['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES', 'EAFNOSUPPORT', 'EINVAL', 'ENAMETOOLONG', 'ENOENT', 'EEXIST', 'ENOTDIR', 'EROFS'].includes(code)
    ? 'bind'
    : 'listen';
}

interface LegacyServer {
  _handle: unknown;
  _listen2?(address: string, port: number, addressType: number, backlog: number, fd?: number, flags?: number): void;
}

/**
 * Binds and listens synchronously, as the native helpers do. `server.listen()`
 * resolves the host first (even an IP literal) and so binds on a later tick;
 * net.Server's own `_listen2` (the step after the lookup) binds at once and
 * reports failure on the next tick. The failure is taken from that tick and
 * thrown here, with the code and syscall of a native bind.
 */
function listenNow(server: net.Server, address: string, port: number, addressType: number, backlog: number, detail: string, extra: Record<string, unknown>): void {
  const s = server as unknown as LegacyServer;
  if (typeof s._listen2 !== 'function') {
    throw stateError('ERR_DANGA_NODE_UNSUPPORTED', 'this version of Node has no net.Server._listen2, which the stream engine needs to listen synchronously');
  }
  const nextTick = process.nextTick;
  let failure: (Error & { code?: string; errno?: number }) | null = null;
  process.nextTick = function (fn: (...a: unknown[]) => void, ...args: unknown[]): void {
    if (args[0] === server && args[1] instanceof Error) {
      failure = args[1];
      return; // thrown below instead of emitted
    }
    nextTick.call(process, fn, ...args);
  } as typeof process.nextTick;
  try {
    s._listen2(address, port, addressType, backlog);
  } finally {
    process.nextTick = nextTick;
  }
  if (s._handle !== null && s._handle !== undefined && failure === null) return;
  const f = failure as (Error & { code?: string; errno?: number }) | null;
  const code = f?.code ?? 'EINVAL';
  throw Object.assign(systemError(errnoOf(f, -E.EINVAL), listenSyscall(code), detail), extra);
}

/** A listening TCP socket on `host` (an IP literal), synchronously bound. */
export function listenTcp(host: string, port: number, backlog: number, reusePort: boolean, wrap?: AcceptWrapper): ListenSock {
  if (reusePort) {
    throw stateError('ERR_DANGA_NO_REUSEPORT', 'reusePort needs the native epoll engine (Node 20 cannot set SO_REUSEPORT)');
  }
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  const family = net.isIPv6(host) ? 6 : 4;
  listenNow(server, host, port, family, backlog, `${family === 6 ? `[${host}]` : host}:${port}`, { address: host, port });
  return new ListenSock(server, null, wrap);
}

function checkUnixPath(path: string, syscall: string): void {
  if (Buffer.byteLength(path) > UNIX_PATH_MAX) {
    // libuv would silently cut the path short.
    throw Object.assign(systemError(-E.ENAMETOOLONG, syscall, path), { path });
  }
}

/** A listening Unix stream socket at `path`. */
export function listenUnix(path: string, backlog: number): ListenSock {
  checkUnixPath(path, 'bind');
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  listenNow(server, path, -1, -1, backlog, path, { path });
  return new ListenSock(server, path);
}

/** Starts a TCP connection; the socket becomes writable once connected. */
export function connectTcp(host: string, port: number): StreamSock {
  return new StreamSock(net.connect({ host, port, allowHalfOpen: true }));
}

/**
 * Connects to a Unix socket. Node connects asynchronously, so the errors a
 * native connect(2) returns at once are found with stat(2) first: no such
 * file (ENOENT), not a socket (ECONNREFUSED). A socket file with no listener
 * fails later, through eventErr.
 */
export function connectUnix(path: string): StreamSock {
  checkUnixPath(path, 'connect');
  if (!path.startsWith('\0')) {
    let isSocket: boolean;
    try {
      isSocket = statSync(path).isSocket();
    } catch (err) {
      throw Object.assign(systemError(errnoOf(err, -E.ENOENT), 'connect', path), { path });
    }
    if (!isSocket) throw Object.assign(systemError(-E.ECONNREFUSED, 'connect', path), { path });
  }
  const socket = net.connect({ path, allowHalfOpen: true });
  return new StreamSock(socket, { addresses: { local: { path: '', family: 'unix' }, remote: { path, family: 'unix' } } });
}

/** Two connected in-memory sockets (see pair.ts). */
export function socketPair(): [StreamSock, StreamSock] {
  const [a, b] = duplexPair();
  const unnamed: AddressHints = { local: { path: '', family: 'unix' }, remote: { path: '', family: 'unix' } };
  return [new StreamSock(a, { addresses: unnamed }), new StreamSock(b, { addresses: unnamed })];
}

/** Takes over an open socket fd (a number given to the constructor): Node drives it from then on. */
export function adoptFd(fd: number): StreamSock {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw invalidArgType('sock', 'a Sock, a stream or a socket fd', fd);
  let isSocket: boolean;
  try {
    isSocket = fstatSync(fd).isSocket();
  } catch (err) {
    throw invalidArgValue('sock', `is fd ${fd}, which is not open`, systemError(errnoOf(err, -E.EBADF), 'fstat'));
  }
  if (!isSocket) throw invalidArgValue('sock', `is fd ${fd}, which is not a socket`);
  let socket: net.Socket;
  try {
    socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
  } catch (err) {
    // Node drives stream sockets only (TCP and Unix stream), not datagram sockets.
    throw invalidArgValue('sock', `is fd ${fd}, which is not a stream socket Node can drive`, err);
  }
  return new StreamSock(socket);
}
