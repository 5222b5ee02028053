/**
 * ListenSock: a listening socket of the node engine, over a net.Server.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import type net from 'node:net';
import { constants as osConstants } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { errnoOf, invalidArgValue, stateError, systemError } from '../../core/errors.js';
import { POLLERR, POLLIN, noop } from '../../core/constants.js';
import type { Sock, SockAddress, Transport } from '../../core/contract.js';
import { allocateId } from './allocate-id.js';
import { StreamSock, type AddressHints } from './stream-sock.js';

const E = osConstants.errno;
/** Opened (and closed at once) to learn whether the process can have one more fd. */
const PROBE_PATH = '/';
/**
 * At most one fd check per this many ms. open(2) and close(2) took 4–10 µs
 * on the machine of BENCHMARKS.md, and under connection churn each drained
 * queue holds one connection, so a check per drained queue cost churn
 * 5–10% of its CPU. A check owed within the interval runs on a timer at its
 * end (an error found then turns the listener readable).
 */
const PROBE_INTERVAL_MS = 10;

/**
 * accept(2) takes an fd for the connection before it looks at the backlog,
 * so it fails with EMFILE (ENFILE) while the process has no fd to spare.
 * This asks the same question with open(2): the error accept() throws when
 * none is free, else null. (Other failures of the probe, a missing or
 * unreadable path, say nothing about fds: null.)
 */
function fdShortage(): Error | null {
  try {
    closeSync(openSync(PROBE_PATH, 'r'));
    return null;
  } catch (err) {
    const n = errnoOf(err, 0);
    return n === -E.EMFILE || n === -E.ENFILE ? systemError(n, 'accept') : null;
  }
}

/** What Linux clamps a listen backlog to (net.core.somaxconn), read once; Infinity where unknown. */
let somaxconn: number | null = null;

function maxBacklog(): number {
  if (somaxconn === null) {
    try {
      const n = Number(readFileSync('/proc/sys/net/core/somaxconn', 'latin1').trim());
      somaxconn = Number.isInteger(n) && n > 0 ? n : Infinity;
    } catch {
      somaxconn = Infinity;
    }
  }
  return somaxconn;
}

/**
 * Turns a connection away the way a full backlog should not leave a client
 * hanging: a TCP reset (the client sees ECONNRESET at once); a Unix socket,
 * which cannot be reset, is closed (end of stream).
 */
function refuse(socket: net.Socket): void {
  try {
    socket.resetAndDestroy(); // throws ERR_INVALID_HANDLE_TYPE for a Unix socket
  } catch {
    socket.destroy();
  }
}

/** Turns an accepted net.Socket into the Sock `accept()` returns. */
export type AcceptWrapper = (socket: net.Socket, hints: AddressHints) => StreamSock;

const plainAccept: AcceptWrapper = (socket, hints) => new StreamSock(socket, { addresses: hints });

/**
 * A listening socket of the node engine: a net.Server whose connections
 * wait, paused, in a queue until `accept()` takes them. Readable while the
 * queue is not empty, or an accept failure waits to be reported.
 *
 * Accept failures reach `accept()`, as on the epoll engine: it throws the
 * system error (code 'EMFILE', errno, syscall 'accept') once per failure,
 * after the connections accepted before it, and the socket goes on
 * accepting. Node reports few of them: when the process is out of fds,
 * libuv accepts and closes the waiting connections with its reserve fd
 * (their clients see EOF) and tells nobody. So once `accept()` has handed
 * out the last waiting connection, the socket checks whether the process
 * has an fd to spare (one open(2) and close(2), at most once per
 * PROBE_INTERVAL_MS); if not, libuv is shedding connections: the socket
 * turns readable and the next `accept()` throws EMFILE (ENFILE). The
 * errors Node does emit (the server's 'error' with syscall 'accept') are
 * reported the same way.
 *
 * Any other error of the server (a listen that failed where the helpers
 * could not learn why at once: see sockets.ts) is kept, and reported as
 * readiness POLLERR: `eventErr`, with the Error in `error` and its errno in
 * `socketError()`.
 *
 * Read interest off (`watchRead(false)`, or no object watching) is how a
 * Danga server sheds load: on epoll the connections wait in the kernel's
 * backlog. Node cannot stop accepting (a listening handle has no
 * `readStop`), so the backlog is emulated: while POLLIN interest is off, at
 * most `backlog` connections wait (paused, unread), and those beyond are
 * reset at once (the newest first, when interest turns off over a longer
 * queue). With interest on, every connection waits for `accept()`.
 *
 * @throws Nothing of its own: made by `listenTcp`/`listenUnix` on the node engine and by `listenTls`, never with `new` by users.
 * @original new in danga-socket: the node engine's listening socket (1.62 hands around IO::Socket objects)
 */
export class ListenSock implements Sock, Transport {
  /**
   * The engine that moves its bytes: always 'node'.
   *
   * @original new in danga-socket
   */
  readonly engine = 'node' as const;
  /**
   * The underlying server.
   *
   * @original new in danga-socket
   */
  readonly server: net.Server;
  /**
   * How many connections wait while read interest is off: the listen backlog, clamped as Linux clamps it (somaxconn).
   *
   * @original the `Listen` argument of `IO::Socket::INET->new`
   */
  readonly backlog: number;
  lastError = 0;
  private readonly _id = allocateId();
  private readonly _queue: net.Socket[] = [];
  private readonly _wrap: AcceptWrapper;
  private readonly _unixPath: string | null;
  private _closed = false;
  private _onReady: (() => void) | null = null;
  private _mask = 0;
  private _error: Error | null = null;
  /** The accept failure the next accept() throws once the queue is empty (one at a time: a burst is one failure). */
  private _acceptError: Error | null = null;
  /** Connections arrived since the last fd check (see fdShortage). */
  private _checkFds = false;
  /** When the last fd check ran (performance.now()). */
  private _checkedAt = -PROBE_INTERVAL_MS;
  /** The check owed within PROBE_INTERVAL_MS of the last one, or null. */
  private _checkTimer: NodeJS.Timeout | null = null;
  private readonly _onCheckTimer = (): void => {
    this._checkTimer = null;
    if (!this._closed && this._checkFds) this._checkNow(performance.now());
  };

  /**
   * @internal use listenTcp/listenUnix/listenTls. `server` listens already
   * (or failed, and emits 'error'); `unixPath` is its Unix socket path, null
   * for TCP; `backlog` the backlog it listens with.
   */
  constructor(server: net.Server, unixPath: string | null, backlog: number, wrap: AcceptWrapper = plainAccept) {
    this.server = server;
    this._unixPath = unixPath;
    this.backlog = Math.min(backlog, maxBacklog());
    this._wrap = wrap;
    server.on('connection', (socket: net.Socket) => {
      // An error before accept() is kept by the socket and reported once wrapped.
      socket.on('error', noop);
      if (!(this._mask & POLLIN) && this._queue.length >= this.backlog) {
        refuse(socket);
        return;
      }
      this._queue.push(socket);
      this._checkFds = true;
      this._onReady?.();
    });
    server.on('error', (err: Error & { syscall?: string }) => {
      if (err.syscall === 'accept') this._acceptError ??= systemError(errnoOf(err, -E.EPROTO), 'accept');
      else this._error ??= err;
      this._onReady?.();
    });
  }

  /**
   * @throws Nothing.
   * @original `fileno($sock)`
   */
  get fd(): number {
    return this._closed ? -1 : this._id;
  }

  /**
   * @throws Nothing.
   * @original new in danga-socket
   */
  get closed(): boolean {
    return this._closed;
  }

  /**
   * What `sock()` returns for it: itself.
   *
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  get handle(): ListenSock {
    return this;
  }

  /**
   * The error of the server, or null.
   *
   * @throws Nothing.
   * @original new in danga-socket
   */
  get error(): Error | null {
    return this._error;
  }

  /**
   * Takes one waiting connection; null when none is waiting. Throws an
   * accept failure (EMFILE, …) once, when no connection accepted before it
   * is still waiting.
   *
   * @throws a system error (`code` 'EMFILE', 'ENFILE', …) when the process ran out of file descriptors (`Listener` handles it).
   * @original `$sock->accept` (IO::Socket)
   */
  accept(): StreamSock | null {
    if (this._closed) throw invalidArgValue('this', 'is a closed socket');
    const socket = this._queue.shift();
    if (socket === undefined) {
      const err = this._acceptError;
      if (err === null) return null;
      this._acceptError = null;
      throw err;
    }
    if (this._queue.length === 0 && this._checkFds) this._checkFdsSoon();
    const hints: AddressHints = this._unixPath === null ? {} : { local: { path: this._unixPath, family: 'unix' }, remote: { path: '', family: 'unix' } };
    return this._wrap(socket, hints);
  }

  /**
   * The address it listens on; null once closed, or when listening failed.
   *
   * @throws Nothing.
   * @original `getsockname($sock)`
   */
  localAddress(): SockAddress | null {
    if (this._closed || !this.server.listening) return null;
    if (this._unixPath !== null) return { path: this._unixPath, family: 'unix' };
    const a = this.server.address();
    if (a === null) return null;
    if (typeof a === 'string') return { path: a, family: 'unix' };
    return { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
  }

  /**
   * @throws Nothing.
   * @original `getpeername($sock)`
   */
  remoteAddress(): SockAddress | null {
    return null;
  }

  /**
   * The server's error as a positive errno, 0 when none.
   *
   * @throws Nothing.
   * @original `getsockopt($sock, SOL_SOCKET, SO_ERROR)`
   */
  socketError(): number {
    return this._error === null ? 0 : -errnoOf(this._error, -E.EPROTO);
  }

  /**
   * Nothing to do on a listening socket.
   *
   * @throws Nothing.
   * @original `setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1)`
   */
  setNoDelay(_on?: boolean): void {}

  /**
   * A listening socket is not connected: nothing to shut down.
   *
   * @throws Nothing.
   * @original `shutdown($sock, $how)`
   */
  shutdown(_how?: 'read' | 'write' | 'both'): void {}

  /**
   * Stops taking connections in (Node accepts on its own, as they come),
   * ahead of the deferred close: those already taken stay for `accept()`.
   * A graceful shutdown serves them, where a close would drop them.
   *
   * @throws Nothing.
   * @original new in danga-socket
   */
  stopListening(): void {
    if (this.server.listening) this.server.close();
  }

  /**
   * Closes the server and every connection not yet accepted.
   *
   * @throws Nothing.
   * @original `close($sock)`
   */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    this._onReady = null;
    if (this._checkTimer !== null) clearTimeout(this._checkTimer);
    this._checkTimer = null;
    this.server.close();
    for (const socket of this._queue.splice(0)) socket.destroy();
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  attach(mask: number, onReady: () => void): number {
    if (this._closed) return -E.EBADF;
    this._onReady = onReady;
    this._setMask(mask);
    if (this.readiness() !== 0) onReady();
    return 0;
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  setInterest(mask: number): number {
    this._setMask(mask);
    if (this.readiness() !== 0) this._onReady?.();
    return 0;
  }

  /**
   * Nobody watches any more: the backlog bound applies, as with read interest off.
   *
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  detach(): number {
    this._onReady = null;
    this._setMask(0);
    return 0;
  }

  /**
   * A listening socket has no byte stream to give away.
   *
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  release(): Duplex {
    throw stateError('ERR_DANGA_NO_TLS', 'startTls() on a listening socket');
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  readiness(): number {
    if (this._closed) return 0;
    let r = 0;
    if (this._mask & POLLIN && (this._queue.length > 0 || this._acceptError !== null)) r |= POLLIN;
    if (this._error !== null) r |= POLLERR;
    return r;
  }

  /**
   * Reading a listening socket fails, as read(2) does (EINVAL).
   *
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  read(_max: number): Buffer | null {
    this.lastError = -E.EINVAL;
    return null;
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  write(_buf: Buffer, _offset: number, _length: number): number {
    return -E.ENOTCONN;
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  writev(_list: readonly unknown[], _start: number, _count: number, _firstOffset: number): number {
    return -E.ENOTCONN;
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  setCork(_on: boolean): number {
    return -E.EOPNOTSUPP;
  }

  /** Read interest off: the queue keeps its oldest `backlog` connections, as a kernel backlog would. */
  private _setMask(mask: number): void {
    this._mask = mask;
    if (mask & POLLIN) return;
    const q = this._queue;
    while (q.length > this.backlog) refuse(q.pop() as net.Socket);
  }

  /** The queue is drained: did these connections take the last fds? Checked now, or at the end of the interval. */
  private _checkFdsSoon(): void {
    const now = performance.now();
    if (now - this._checkedAt >= PROBE_INTERVAL_MS) this._checkNow(now);
    else this._checkTimer ??= setTimeout(this._onCheckTimer, PROBE_INTERVAL_MS - (now - this._checkedAt)).unref();
  }

  private _checkNow(now: number): void {
    this._checkFds = false;
    this._checkedAt = now;
    const err = fdShortage();
    if (err === null) return;
    this._acceptError ??= err;
    this._onReady?.();
  }
}
