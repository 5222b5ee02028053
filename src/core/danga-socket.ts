/**
 * DangaSocket: the event-driven socket base class, and (through its static
 * methods) the event loop. A port of Danga::Socket 1.62.
 *
 * A subclass wraps one socket. The constructor registers it with the loop,
 * which calls eventRead / eventWrite / eventErr / eventHup on it,
 * level-triggered, as the kernel reports readiness. Reads are explicit
 * (`read(n)`); writes go through a queue that can hold callbacks; close is
 * deferred to the end of the loop iteration.
 */
import { format } from 'node:util';
import { INITIAL_WATCH, POLLIN, POLLOUT } from './constants.js';
import {
  errno,
  errnoOf,
  invalidArgType,
  invalidArgValue,
  outOfRange,
  stateError,
  systemError,
  validateFunction,
} from './errors.js';
import { reactor, type OtherFdCallback, type PostLoopCallback, type ProfilingData } from './loop.js';
import { Timer, monotonicMs, type TimerCallback } from './timers.js';
import type { EngineName, Sock, SockAddress, Transport } from './transport.js';

/** What `write()` takes: bytes, a string (UTF-8), a callback to run once everything before it is out, or nothing (kick the queue). */
export type WriteData = Buffer | Uint8Array | string | WriteCallback | undefined | null;

/** A callback in the write queue. */
export type WriteCallback = () => void;

/**
 * Replaces the write syscall (`setWriterFunc`). Gets the Buffer, the number of
 * bytes to write and the offset to start at; returns the number of bytes it
 * wrote (0 when it can take nothing now). To report a failure it throws an
 * Error whose `code` is the errno name ('EPIPE', 'EAGAIN', …).
 */
export type WriterFunc = (data: Buffer, length: number, offset: number) => number;

/** Anything the constructor accepts: a Sock from the helpers, or (stream engine) a Node stream. */
export type SocketLike = Sock | NodeJS.ReadWriteStream | object;

const EMPTY = Buffer.alloc(0);
const IOV_MAX = 1024;
/** DANGA_DEBUG=1 prints each close and its reason (the original's DebugLevel). */
const DEBUG_LEVEL = Number(process.env.DANGA_DEBUG ?? 0) || 0;

/** Turns a Sock, stream or fd into a Transport; each engine adds a factory. */
type TransportFactory = (sock: unknown) => Transport | null;
const transportFactories: TransportFactory[] = [];

/** @internal Engines register how they adopt sockets. */
export function registerTransportFactory(factory: TransportFactory): void {
  transportFactories.push(factory);
}

/**
 * Turns a transport into a TLS one over the same connection (STARTTLS). Gets
 * the old transport (already detached from the loop), the options, and the
 * bytes read from the socket but not consumed (pushed back), which belong in
 * front of the TLS stream. Returns the new transport.
 */
export type TlsUpgrader = (old: Transport, options: StartTlsOptions, unread: Buffer[]) => Transport;
let tlsUpgrader: TlsUpgrader | null = null;

/** @internal The stream engine registers how to start TLS. */
export function registerTlsUpgrader(fn: TlsUpgrader): void {
  tlsUpgrader = fn;
}

/**
 * Options of `startTls()`: those of `tls.TLSSocket` plus `isServer`
 * (default false: this end is the TLS client) and, for clients,
 * `servername` and `checkServerIdentity` as `tls.connect` takes them.
 */
export interface StartTlsOptions {
  isServer?: boolean;
  [option: string]: unknown;
}

/** @internal the engine that runs the loop (set by engine selection). */
let engineName: EngineName = 'epoll';
/** @internal */
export function setEngineName(name: EngineName): void {
  engineName = name;
}

function toBuffer(data: Buffer | Uint8Array | string, name: string): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw invalidArgType(name, 'a Buffer, Uint8Array or string', data);
}

/**
 * The base class. Subclass it, call `super(sock)`, and override the event
 * handlers you need.
 */
export class DangaSocket<S extends object = Sock> {
  // ---------------------------------------------------------------- state
  private _t: Transport | null;
  private _fd: number;
  /** The fd this object is filed under in the descriptor map (kept after close). */
  private readonly _key: number;
  private _closed = false;
  private _corked = false;
  private _watch = INITIAL_WATCH;
  /** Write queue: Buffers and callbacks; `_wqHead` is the first live entry. */
  private _wq: Array<Buffer | WriteCallback> = [];
  private _wqHead = 0;
  /** Bytes of the head Buffer already written. */
  private _wqOffset = 0;
  /** Queued bytes plus one per queued callback (the original's write_buf_size). */
  private _wqSize = 0;
  /** True when write() turned write interest on itself, so it turns it off once drained. */
  private _writeSetWatch = false;
  private _pushBack: Buffer[] | null = null;
  private _pushBackVersion = 0;
  private _writer: WriterFunc | null = null;
  private _peer: SockAddress | null | undefined = undefined;
  private _local: SockAddress | null | undefined = undefined;

  /**
   * Registers `sock` with the event loop. Only errors and hangups are watched
   * at first: call `watchRead(true)` to get `eventRead`.
   *
   * @param sock a Sock from `listenTcp`/`connectTcp`/`accept()`/…, a Node
   *   stream (stream engine), or the number of an open socket fd (taken over).
   */
  constructor(sock: S | number) {
    if (sock === undefined || sock === null) {
      throw invalidArgType('sock', 'a Sock, a stream or a socket fd', sock);
    }
    let t: Transport | null = null;
    for (const factory of transportFactories) {
      t = factory(sock);
      if (t !== null) break;
    }
    if (t === null) throw invalidArgType('sock', 'a Sock, a stream or a socket fd', sock);
    if (t.closed) throw invalidArgValue('sock', 'is closed');
    this._t = t;
    this._fd = t.fd;
    this._key = t.fd;

    const existing = reactor.descriptorMap.get(this._key);
    if (existing !== undefined && !existing.closed) {
      // The original warns (Carp::cluck) and replaces the entry.
      process.emitWarning(
        `DangaSocket: fd ${this._key} is already registered to ${existing.asString()}; replacing it`,
        { code: 'DANGA_FD_REGISTERED_TWICE' },
      );
    }
    const rc = t.attach(this, this._watch);
    if (rc < 0) throw systemError(rc, 'epoll_ctl', `fd ${this._key}`);
    reactor.descriptorMap.set(this._key, this);
  }

  // ---------------------------------------------------------------- class side: the loop

  /** Forgets all loop state: closes every registered socket, drops timers, callbacks, foreign fds and profiling data. */
  static reset(): void {
    reactor.reset();
  }

  /** True when the native epoll engine runs the loop. */
  static haveEpoll(): boolean {
    return engineName === 'epoll';
  }

  /** The engine that runs the loop: 'epoll' (native) or 'node' (Node streams). */
  static engine(): EngineName {
    return engineName;
  }

  /** The number of objects in the descriptor map. */
  static watchedSockets(): number {
    return reactor.descriptorMap.size;
  }

  /** Turns profiling on, clearing earlier data. Returns true. */
  static enableProfiling(): boolean {
    reactor.profiling = {};
    reactor.doProfile = true;
    return true;
  }

  /** Turns profiling off, keeping the data gathered so far. */
  static disableProfiling(): void {
    reactor.doProfile = false;
  }

  /** `{ "ClassName-read": [userSeconds, systemSeconds, calls], … }` */
  static profilingData(): ProfilingData {
    return reactor.profiling;
  }

  /** The sockets closed in this iteration and waiting for its end to be really closed. */
  static toClose(): Sock[] {
    const out: Sock[] = [];
    for (const p of reactor.pending) if (p.transport !== null) out.push(p.transport);
    return out;
  }

  /**
   * Gets, or with `map` replaces, the foreign fds watched for readability
   * beside the sockets: fd -> callback(state).
   */
  static otherFds(map?: Map<number, OtherFdCallback> | Record<number, OtherFdCallback>): Map<number, OtherFdCallback> {
    if (map !== undefined) {
      const entries = DangaSocket._otherFdEntries(map);
      const driver = reactor.driver();
      for (const fd of reactor.otherFds.keys()) {
        if (!entries.some(([f]) => f === fd)) driver.watchFd(fd, false);
      }
      const kept = new Map(reactor.otherFds);
      reactor.otherFds.clear();
      for (const [fd, cb] of entries) {
        if (!kept.has(fd)) DangaSocket._watchOtherFd(fd);
        reactor.otherFds.set(fd, cb);
      }
    }
    return reactor.otherFds;
  }

  /** Adds foreign fds (fd -> callback(state)); they are watched for readability at once. */
  static addOtherFds(map: Map<number, OtherFdCallback> | Record<number, OtherFdCallback>): Map<number, OtherFdCallback> {
    const entries = DangaSocket._otherFdEntries(map);
    for (const [fd, cb] of entries) {
      if (!reactor.otherFds.has(fd)) DangaSocket._watchOtherFd(fd);
      reactor.otherFds.set(fd, cb);
    }
    return reactor.otherFds;
  }

  private static _otherFdEntries(
    map: Map<number, OtherFdCallback> | Record<number, OtherFdCallback>,
  ): Array<[number, OtherFdCallback]> {
    if (map === null || typeof map !== 'object') throw invalidArgType('map', 'a Map or an object', map);
    const raw: Array<[unknown, unknown]> = map instanceof Map ? Array.from(map.entries()) : Object.entries(map);
    return raw.map(([k, v]) => {
      const fd = typeof k === 'string' ? Number(k) : k;
      if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
        throw invalidArgValue('map', `has a key that is not a file descriptor: ${String(k)}`);
      }
      return [fd, validateFunction<OtherFdCallback>(`map[${fd}]`, v)];
    });
  }

  private static _watchOtherFd(fd: number): void {
    const rc = reactor.driver().watchFd(fd, true);
    if (rc < 0) {
      throw invalidArgValue('map', `has fd ${fd}, which cannot be watched`, systemError(rc, 'epoll_ctl', `fd ${fd}`));
    }
  }

  /**
   * Sets the loop timeout in milliseconds: -1 (the default) waits for events
   * or timers only; 0 never waits (busy polling); N > 0 runs the post-loop
   * callbacks at least every N ms.
   */
  static setLoopTimeout(ms: number): number {
    if (typeof ms !== 'number') throw invalidArgType('ms', 'of type number', ms);
    if (Number.isNaN(ms) || ms < -1 || ms > 0x7fffffff) throw outOfRange('ms', '-1 or a number >= 0', ms);
    reactor.loopTimeout = ms < 0 ? -1 : Math.ceil(ms);
    return reactor.loopTimeout;
  }

  /** Prints a `util.format`-style message to stderr, prefixed with ">>> ". */
  static debugMsg(fmt: string, ...args: unknown[]): void {
    process.stderr.write('>>> ' + format(String(fmt).replace(/\n$/, ''), ...args) + '\n');
  }

  /**
   * Runs `fn` once, `seconds` from now (fractional seconds allowed). Timers
   * fire in time order, equal times in the order added. Returns a Timer with
   * `cancel()`.
   */
  static addTimer(seconds: number, fn: TimerCallback): Timer {
    if (typeof seconds !== 'number') throw invalidArgType('seconds', 'of type number', seconds);
    if (!Number.isFinite(seconds)) throw outOfRange('seconds', 'a finite number', seconds);
    validateFunction('fn', fn);
    const delay = seconds > 0 ? seconds * 1000 : 0;
    const timer = reactor.timers.add(monotonicMs(), delay, fn);
    // A new earliest timer, added between iterations of a waiting loop, must
    // shorten the wait: a pass recomputes it.
    if (reactor.timers.isFirst(timer)) reactor.requestPass();
    return timer;
  }

  /** The live map of fd -> object. An fd leaves it at the end of the iteration in which its object closed. */
  static descriptorMap(): Map<number, DangaSocket<object>> {
    return reactor.descriptorMap;
  }

  /**
   * Runs the event loop inside Node's loop. The Promise resolves when a
   * post-loop callback returns a falsy value, and rejects with the exception
   * if an event handler, timer or callback throws (the loop's state is kept,
   * and `eventLoop()` can be called again).
   */
  static eventLoop(): Promise<void> {
    if (reactor.running) {
      return Promise.reject(stateError('ERR_LOOP_RUNNING', 'DangaSocket.eventLoop() is already running'));
    }
    return reactor.start();
  }

  /**
   * Sets (or with null clears) the global post-loop callback, called at the
   * end of every iteration with (descriptorMap, otherFds). Return a falsy
   * value to end the loop.
   */
  static setPostLoopCallback(fn: PostLoopCallback | null): void {
    if (fn !== null && fn !== undefined) validateFunction('fn', fn);
    reactor.postLoopCallback = fn ?? null;
  }

  // ---------------------------------------------------------------- object side

  /** True once closed (or its socket stolen). */
  get closed(): boolean {
    return this._closed;
  }

  /** The file descriptor; -1 once closed. */
  get fd(): number {
    return this._fd;
  }

  /** Queued bytes plus one per queued callback (the original's write_buf_size). */
  get writeBufSize(): number {
    return this._wqSize;
  }

  /** Sets the per-object post-loop callback (or clears it with null). */
  setPostLoopCallback(fn: PostLoopCallback | null): void {
    if (fn !== null && fn !== undefined) validateFunction('fn', fn);
    if (this._closed) return;
    if (fn) reactor.plcMap.set(this._key, fn);
    else reactor.plcMap.delete(this._key);
  }

  /** TCP_CORK on or off. Ignored where the socket cannot cork (Unix sockets). */
  tcpCork(on: boolean): void {
    const t = this._t;
    if (t === null) return;
    const val = Boolean(on);
    if (val === this._corked) return;
    const rc = t.setCork(val);
    if (rc === 0) {
      this._corked = val;
    } else if (rc === -errno.EBADF || rc === -errno.ENOTSOCK) {
      process.emitWarning(systemError(rc, 'setsockopt', 'TCP_CORK').message, { code: 'DANGA_CORK_FAILED' });
      this.close('tcp_cork_failed');
    } else if (rc !== -errno.ENOPROTOOPT && rc !== -errno.EOPNOTSUPP) {
      throw systemError(rc, 'setsockopt', 'TCP_CORK');
    }
  }

  /**
   * Takes the socket away from this object: the object is closed (no more
   * events, the queue dropped) but the socket stays open and is returned.
   */
  stealSocket(): S | null {
    if (this._closed) return null;
    const t = this._t;
    this._cleanup();
    this._t = null;
    if (t === null) return null;
    // Leaves the map at the end of the iteration, like a closed fd.
    reactor.pending.push({ obj: this, fd: this._key, transport: null });
    reactor.requestPass();
    return t.handle as S;
  }

  /**
   * Closes the object: no more events, the write queue is dropped (use
   * `write(() => this.close())` to close after the data is out). The socket
   * itself is closed at the end of the loop iteration. Idempotent.
   *
   * @param reason for debugging output
   */
  close(reason?: string): void {
    if (this._closed) return;
    if (DEBUG_LEVEL > 0) DangaSocket.debugMsg('Closing #%d (%s) due to %s', this._key, this.constructor.name, reason ?? '');
    this._cleanup();
    const t = this._t;
    if (t !== null) {
      // Deferred: the fd must not be reused while events for it may still
      // be in the batch being dispatched.
      reactor.pending.push({ obj: this, fd: this._key, transport: t });
      this._t = null;
      reactor.requestPass();
    }
  }

  /** What close() and stealSocket() share: the object is dead from here on. */
  private _cleanup(): void {
    this._closed = true;
    // Drop the queue: it may hold callbacks that refer back to this object.
    this._wq = [];
    this._wqHead = 0;
    this._wqOffset = 0;
    this._wqSize = 0;
    this.tcpCork(false);
    const t = this._t;
    if (t !== null) {
      const rc = t.detach();
      if (rc < 0 && rc !== -errno.EBADF && rc !== -errno.ENOENT) {
        this.dumpError(`epoll_ctl(): failure deleting fd=${this._key} during cleanup; ${systemError(rc, 'epoll_ctl').code}`);
      }
    }
    // The fd stays in the descriptor map until the end of the iteration, so
    // that the dispatcher finds a closed object (and skips it) rather than an
    // unknown fd.
    reactor.pushBackSet.delete(this._key);
    reactor.plcMap.delete(this._key);
    reactor.softReady.delete(this);
    this._fd = -1;
  }

  /** The socket: a Sock (or the stream given to the constructor); null once closed. */
  sock(): S | null {
    return this._t === null ? null : (this._t.handle as S);
  }

  /**
   * Switches the connection to TLS (STARTTLS): from here on reads and writes
   * go through TLS on the same connection. Bytes pushed back (or already read
   * by the engine) are fed to TLS first, so none is lost or reordered. The
   * write queue must be empty, so no plain text is sent after the switch:
   * call it from a write callback, `this.write(() => this.startTls(opts))`.
   * Handshake and certificate errors reach `eventErr`.
   */
  startTls(options: StartTlsOptions = {}): void {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    if (this._closed || this._t === null) throw stateError('ERR_SOCKET_CLOSED', 'startTls() on a closed DangaSocket');
    if (this._wqHead < this._wq.length) {
      throw stateError(
        'ERR_WRITE_QUEUE_NOT_EMPTY',
        'startTls() with data still queued; call it from a write callback: this.write(() => this.startTls(options))',
      );
    }
    if (tlsUpgrader === null) throw stateError('ERR_DANGA_NO_TLS', 'TLS is not available in this build');
    const old = this._t;
    const unread = this._pushBack ?? [];
    old.detach();
    let t: Transport;
    try {
      t = tlsUpgrader(old, options, unread);
    } catch (err) {
      // Nothing changed hands: go on with the plain connection.
      old.attach(this, this._watch);
      throw err;
    }
    this._pushBack = null;
    reactor.pushBackSet.delete(this._key);
    this._t = t;
    this._corked = false;
    const rc = t.attach(this, this._watch);
    if (rc < 0) throw systemError(rc, 'attach', `fd ${this._key}`);
    this._markReady();
  }

  /** Replaces the write syscall with `fn` (see WriterFunc); null restores it. */
  setWriterFunc(fn: WriterFunc | null): void {
    if (fn !== null && fn !== undefined) validateFunction('fn', fn);
    this._writer = fn ?? null;
  }

  /**
   * Writes `data`, or queues it behind what is already queued. A function is
   * run once everything queued before it has been written (at once when the
   * queue is empty); `undefined` just pushes the queue.
   *
   * @returns true when everything went out; false when something is queued
   *   (write interest is then on until the queue drains).
   */
  write(data?: WriteData): boolean {
    if (this._closed) return true; // a dead object soon; the original lies too
    if (data === undefined || data === null) return this._flush();
    let item: Buffer | WriteCallback;
    if (typeof data === 'function') item = data;
    else if (Buffer.isBuffer(data)) item = data;
    else if (typeof data === 'string' || data instanceof Uint8Array) item = toBuffer(data, 'data');
    else throw invalidArgType('data', 'a Buffer, Uint8Array, string, function or undefined', data);

    if (this._wqHead < this._wq.length) {
      this._wq.push(item);
      this._wqSize += typeof item === 'function' ? 1 : item.length;
      return false;
    }
    // Nothing queued: write now, bypassing the queue.
    if (typeof item === 'function') {
      item();
      return this._closed || this._wqHead >= this._wq.length;
    }
    const len = item.length;
    if (len === 0) return true;
    const n = this._rawWrite(item, 0, len);
    if (n === len) {
      if (this._writeSetWatch) {
        this._writeSetWatch = false;
        this._setWatch(POLLOUT, false);
      }
      return true;
    }
    if (n >= 0) {
      this._wq.push(item);
      this._wqOffset = n;
      this._wqSize += len - n;
      this.onIncompleteWrite();
      return false;
    }
    if (n === -errno.EAGAIN) {
      this._wq.push(item);
      this._wqSize += len;
    }
    return this._writeFailed(n);
  }

  /** Writes as much of the queue as the socket takes. */
  private _flush(): boolean {
    for (;;) {
      if (this._closed) return true;
      const wq = this._wq;
      const head = this._wqHead;
      if (head >= wq.length) {
        if (head > 0) {
          this._wq = [];
          this._wqHead = 0;
        }
        if (this._writeSetWatch) {
          this._writeSetWatch = false;
          this._setWatch(POLLOUT, false);
        }
        return true;
      }
      const item = wq[head] as Buffer | WriteCallback;
      if (typeof item === 'function') {
        this._wqHead = head + 1;
        this._wqSize -= 1;
        item();
        continue;
      }
      let count = 1;
      if (this._writer === null) {
        const end = Math.min(wq.length, head + IOV_MAX);
        while (head + count < end && typeof wq[head + count] !== 'function') count++;
      }
      const offset = this._wqOffset;
      let n: number;
      let want: number;
      if (count === 1) {
        want = item.length - offset;
        n = this._rawWrite(item, offset, want);
      } else {
        want = -offset;
        for (let i = head; i < head + count; i++) want += (wq[i] as Buffer).length;
        n = (this._t as Transport).writev(wq, head, count, offset);
      }
      if (n < 0) return this._writeFailed(n);
      this._wqSize -= n;
      // Consume n bytes from the front of the queue.
      let left = n + offset;
      let i = head;
      while (i < head + count) {
        const len = (wq[i] as Buffer).length;
        if (left < len) break;
        left -= len;
        wq[i] = EMPTY; // let the written Buffer be collected
        i++;
      }
      this._wqHead = i;
      this._wqOffset = i < head + count ? left : 0;
      if (i > 1024 && i * 2 > wq.length) {
        // Compact a long-lived queue so written entries do not pile up.
        this._wq = wq.slice(i);
        this._wqHead = 0;
      }
      if (n < want) {
        this.onIncompleteWrite();
        return false;
      }
    }
  }

  /** One write through the writer function or the transport; bytes or -errno. */
  private _rawWrite(buf: Buffer, offset: number, length: number): number {
    const writer = this._writer;
    if (writer === null) return (this._t as Transport).write(buf, offset, length);
    let n: number;
    try {
      n = writer(buf, length, offset);
    } catch (err) {
      return errnoOf(err, -errno.EINVAL);
    }
    if (typeof n !== 'number' || !(n >= 0)) return -errno.EINVAL;
    return n > length ? length : Math.floor(n);
  }

  /** A write that failed with -errno n: wait for writability, or close. */
  private _writeFailed(n: number): false {
    if (n === -errno.EAGAIN) {
      if (!(this._watch & POLLOUT)) this._writeSetWatch = true;
      this._setWatch(POLLOUT, true);
      return false;
    }
    if (n === -errno.EPIPE) this.close('EPIPE');
    else if (n === -errno.ECONNRESET) this.close('ECONNRESET');
    else this.close('write_error');
    return false;
  }

  /**
   * Called when a write went out only in part. The default turns write
   * interest on (and marks it as the queue's, so it goes off once drained).
   */
  onIncompleteWrite(): void {
    if (!(this._watch & POLLOUT)) this._writeSetWatch = true;
    this._setWatch(POLLOUT, true);
  }

  /** Puts `buf` back in front of the read stream: the next read() returns it first. */
  pushBackRead(buf: Buffer | Uint8Array | string): void {
    const b = toBuffer(buf, 'buf');
    if (this._closed) return;
    (this._pushBack ??= []).push(b);
    this._pushBackVersion++;
    reactor.pushBackSet.set(this._key, this);
    reactor.requestPass();
  }

  /**
   * Reads at most `maxBytes` bytes: pushed-back data first, then the socket.
   *
   * @returns the bytes; an empty Buffer when nothing is available now; null
   *   at the end of the stream, on error, or once closed.
   */
  read(maxBytes: number): Buffer | null {
    if (!(maxBytes >= 1 && maxBytes <= Number.MAX_SAFE_INTEGER && Number.isInteger(maxBytes))) {
      if (typeof maxBytes !== 'number') throw invalidArgType('maxBytes', 'of type number', maxBytes);
      throw outOfRange('maxBytes', 'an integer >= 1', maxBytes);
    }
    if (this._closed) return null;
    const pb = this._pushBack;
    if (pb !== null && pb.length > 0) {
      const buf = pb[0] as Buffer;
      this._pushBackVersion++;
      if (buf.length <= maxBytes) {
        pb.shift();
        if (pb.length === 0) reactor.pushBackSet.delete(this._key);
        return buf;
      }
      pb[0] = buf.subarray(maxBytes);
      return buf.subarray(0, maxBytes);
    }
    return (this._t as Transport).read(maxBytes);
  }

  /** Readable: override it. The default throws, naming the class. */
  eventRead(): void {
    throw new Error(`Base class eventRead called for ${this.constructor.name}`);
  }

  /** Error condition: override it. The default throws, naming the class. */
  eventErr(): void {
    throw new Error(`Base class eventErr called for ${this.constructor.name}`);
  }

  /** Hangup: override it. The default throws, naming the class. */
  eventHup(): void {
    throw new Error(`Base class eventHup called for ${this.constructor.name}`);
  }

  /** Writable. The default pushes the write queue. */
  eventWrite(): void {
    this.write(undefined);
  }

  /** Turns readable events on or off. */
  watchRead(on: boolean): void {
    this._setWatch(POLLIN, Boolean(on));
  }

  /**
   * Turns writable events on or off. Turning them on makes the subclass
   * responsible for them: write() will no longer turn them off when its
   * queue drains.
   */
  watchWrite(on: boolean): void {
    if (on) this._writeSetWatch = false;
    this._setWatch(POLLOUT, Boolean(on));
  }

  private _setWatch(bit: number, on: boolean): void {
    const t = this._t;
    if (this._closed || t === null) return;
    const mask = on ? this._watch | bit : this._watch & ~bit;
    if (mask === this._watch) return;
    const rc = t.setInterest(mask);
    if (rc < 0) {
      this.dumpError(`couldn't modify epoll settings for ${this._key} from ${this._watch} -> ${mask}: ${systemError(rc, 'epoll_ctl').code}`);
    }
    this._watch = mask;
  }

  /** @internal the interest mask */
  _watchMask(): number {
    return this._watch;
  }

  /** @internal changes whenever the pushed-back data changes */
  _pushBackState(): number {
    return this._pushBack === null || this._pushBack.length === 0 ? 0 : this._pushBackVersion;
  }

  /** @internal readiness for engines without kernel readiness */
  _readiness(): number {
    const t = this._t;
    return t === null || t.readiness === undefined ? 0 : t.readiness();
  }

  /** @internal a stream engine transport says this object may be ready */
  _markReady(): void {
    if (this._closed) return;
    reactor.softReady.add(this);
    reactor.requestPass();
  }

  /** Prints `message`, what this object is, and a stack trace to stderr. */
  dumpError(message: string): void {
    const stack = (new Error().stack ?? '').split('\n').slice(2).join('\n');
    process.stderr.write(`ERROR: ${message}\n\t${this.asString()}\n${stack}\n`);
  }

  /** Prints a `util.format`-style message to stderr, prefixed with ">>> ". */
  debugMsg(fmt: string, ...args: unknown[]): void {
    DangaSocket.debugMsg(fmt, ...args);
  }

  /** The peer's IP address, or null (not connected, not an IP socket, closed). */
  peerIpString(): string | null {
    const a = this._peerAddress();
    return a !== null && a.family !== 'unix' ? a.address : null;
  }

  /** "ip:port" of the peer ("[ip]:port" for IPv6), or null. */
  peerAddrString(): string | null {
    return addrString(this._peerAddress());
  }

  /** The local IP address, or null. */
  localIpString(): string | null {
    const a = this._localAddress();
    return a !== null && a.family !== 'unix' ? a.address : null;
  }

  /** "ip:port" of the local end ("[ip]:port" for IPv6), or null. */
  localAddrString(): string | null {
    return addrString(this._localAddress());
  }

  private _peerAddress(): SockAddress | null {
    if (this._peer === undefined) {
      if (this._t === null) return null;
      const a = this._t.remoteAddress();
      if (a === null) return null; // not connected yet: ask again later
      this._peer = a;
    }
    return this._peer;
  }

  private _localAddress(): SockAddress | null {
    if (this._local === undefined) {
      if (this._t === null) return null;
      this._local = this._t.localAddress();
    }
    return this._local;
  }

  /** "ClassName(RW): open to 1.2.3.4:5" */
  asString(): string {
    const rw = `(${this._watch & POLLIN ? 'R' : ''}${this._watch & POLLOUT ? 'W' : ''})`;
    let s = `${this.constructor.name}${rw}: ${this._closed ? 'closed' : 'open'}`;
    const peer = this.peerAddrString();
    if (peer !== null) s += ` to ${peer}`;
    return s;
  }
}

function addrString(a: SockAddress | null): string | null {
  if (a === null || a.family === 'unix') return null;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
