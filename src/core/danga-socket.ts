/**
 * DangaSocket: the event-driven socket base class, and (through its static
 * methods) the event loop. A port of Danga::Socket 1.62.
 *
 * A subclass wraps one socket. The constructor registers it with the loop,
 * which calls eventRead / eventWrite / eventErr / eventHup on it,
 * level-triggered, as the kernel reports readiness. Reads are explicit
 * (`read(n)`); writes go through a queue that can hold callbacks; close is
 * deferred to the end of the loop iteration.
 *
 * The class is meant to be subclassed, in TypeScript or plain JavaScript:
 * its state is in `#private` fields and what the loop needs is under
 * Symbols, so no name a subclass picks (`_t`, `_cleanup`, …) can change
 * how it works.
 */
import { format } from 'node:util';
import { INITIAL_WATCH, POLLIN, POLLOUT, WAIT_FOREVER } from './constants.js';
import type { EngineName, Sock, SockAddress, StartTlsOptions, Transport } from './contract.js';
import { errno, errnoOf, invalidArgType, invalidArgValue, outOfRange, stateError, systemError, validateFunction } from './errors.js';
import { kPushBackStep, kReadiness, reactor, type LoopCallback, type LoopObject, type OtherFdCallback, type ProfilingData } from './loop.js';
import { type Timer, monotonicMs, type TimerCallback } from './timers.js';

export type { OtherFdCallback, ProfilingData } from './loop.js';
export type { StartTlsOptions } from './contract.js';

/** Post-loop callback: gets the descriptor map and the foreign fds; return a falsy value to end `eventLoop()`. */
export type PostLoopCallback = (descriptorMap: Map<number, DangaSocket<object>>, otherFds: Map<number, OtherFdCallback>) => unknown;

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

/** Anything the constructor accepts: a Sock from the helpers, or a Node stream. */
export type SocketLike = Sock | NodeJS.ReadWriteStream | object;

const EMPTY = Buffer.alloc(0);
const IGNORED = (): void => {};
/** Most Buffers handed to one writev (the kernel's IOV_MAX). */
const IOV_MAX = 1024;
/** DANGA_DEBUG=1 prints each close and its reason (the original's DebugLevel). */
const DEBUG_LEVEL = Number(process.env.DANGA_DEBUG ?? 0) || 0;
/** A written-out head of the queue is cut off once it is this long (and half the queue). */
const COMPACT_AFTER = 1024;

function toBuffer(data: Buffer | Uint8Array | string, name: string): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) {
    try {
      return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    } catch (err) {
      throw invalidArgValue(name, 'is a view of a detached ArrayBuffer', err);
    }
  }
  throw invalidArgType(name, 'a Buffer, Uint8Array or string', data);
}

/** An object's pushed-back data, and what the pushed-back phase needs to see progress. */
class PushBack {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  /** The handler left it as it found it: delivered with the socket's next data. */
  parked = false;
  /** Bytes read from the socket (not from pushed-back data) since the object first pushed back. */
  socketBytes = 0;
}

/** Text of a value for a message, whatever it is (a Symbol, an object without prototype). */
function text(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * The base class. Subclass it, call `super(sock)`, and override the event
 * handlers you need.
 */
export class DangaSocket<S extends object = Sock> implements LoopObject {
  // ---------------------------------------------------------------- state
  #t: Transport | null;
  /** A transport given up for STARTTLS whose fd number stays reserved until the deferred close. */
  #reserved: Transport | null = null;
  #fd: number;
  /** The fd this object is filed under in the descriptor map (kept after close). */
  readonly #key: number;
  #closed = false;
  #corked = false;
  #watch = INITIAL_WATCH;
  /** Write queue: Buffers and callbacks; `#wqHead` is the first live entry. */
  #wq: Array<Buffer | WriteCallback> = [];
  #wqHead = 0;
  /** Bytes of the head Buffer already written. */
  #wqOffset = 0;
  /** Queued bytes plus one per queued callback (the original's write_buf_size). */
  #wqSize = 0;
  /** True when write() turned write interest on itself, so it turns it off once drained. */
  #writeSetWatch = false;
  /**
   * Depth of write callbacks running: a callback queued from inside one runs
   * after it returns (a trampoline), so chained callbacks never grow the stack.
   */
  #callbackDepth = 0;
  /** Pushed-back data; made on the first pushBackRead() (most objects never push back). */
  #pushBack: PushBack | null = null;
  #writer: WriterFunc | null = null;
  #peer: SockAddress | null | undefined = undefined;
  #local: SockAddress | null | undefined = undefined;

  /**
   * Registers `sock` with the event loop. Only errors and hangups are watched
   * at first: call `watchRead(true)` to get `eventRead`.
   *
   * @param sock a Sock from `listenTcp`/`connectTcp`/`accept()`/…, a Node
   *   stream (net.Socket, tls.TLSSocket, any Duplex), or the number of an
   *   open socket fd (taken over).
   */
  constructor(sock: S | number) {
    if (sock === undefined || sock === null) {
      throw invalidArgType('sock', 'a Sock, a stream or a socket fd', sock);
    }
    const t = reactor.engine.adopt(sock);
    if (t === null) throw invalidArgType('sock', 'a Sock, a stream or a socket fd', sock);
    if (t.closed) throw invalidArgValue('sock', 'is closed');
    this.#t = t;
    this.#fd = t.fd;
    this.#key = t.fd;

    const existing = reactor.descriptorMap.get(this.#key);
    if (existing !== undefined && !existing.closed) {
      // The original warns (Carp::cluck) and replaces the entry.
      process.emitWarning(`DangaSocket: fd ${this.#key} is already registered to ${(existing as DangaSocket<object>).asString()}; replacing it`, {
        code: 'DANGA_FD_REGISTERED_TWICE',
      });
    }
    const rc = t.attach(this.#watch, this.#readyCallback(t));
    if (rc < 0) throw systemError(rc, 'epoll_ctl', `fd ${this.#key}`);
    reactor.descriptorMap.set(this.#key, this);
  }

  // ---------------------------------------------------------------- class side: the loop

  /** Forgets all loop state: closes every registered socket, drops timers, callbacks, foreign fds and profiling data. */
  static reset(): void {
    reactor.reset();
  }

  /** True when the native epoll engine runs the loop. */
  static haveEpoll(): boolean {
    return reactor.engine.name === 'epoll';
  }

  /** The engine that runs the loop: 'epoll' (native) or 'node' (Node streams). */
  static engine(): EngineName {
    return reactor.engine.name;
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
      const entries = otherFdEntries(map);
      const wanted = new Set(entries.map(([fd]) => fd));
      for (const fd of reactor.otherFds.keys()) {
        if (!wanted.has(fd)) reactor.unwatchOtherFd(fd);
      }
      const kept = new Map(reactor.otherFds);
      reactor.otherFds.clear();
      for (const [fd, cb] of entries) {
        if (!kept.has(fd)) watchOtherFd(fd);
        reactor.otherFds.set(fd, cb);
      }
    }
    return reactor.otherFds;
  }

  /** Adds foreign fds (fd -> callback(state)); they are watched for readability at once. */
  static addOtherFds(map: Map<number, OtherFdCallback> | Record<number, OtherFdCallback>): Map<number, OtherFdCallback> {
    for (const [fd, cb] of otherFdEntries(map)) {
      if (!reactor.otherFds.has(fd)) watchOtherFd(fd);
      reactor.otherFds.set(fd, cb);
    }
    return reactor.otherFds;
  }

  /**
   * Sets the loop timeout in milliseconds: -1 (the default) waits for events
   * or timers only; 0 never waits (Node's own loop still gets a turn between
   * iterations); N > 0 runs the post-loop callbacks at least every N ms.
   */
  static setLoopTimeout(ms: number): number {
    if (typeof ms !== 'number') throw invalidArgType('ms', 'of type number', ms);
    if (Number.isNaN(ms) || ms < -1 || ms > 0x7fffffff) throw outOfRange('ms', '-1 or a number >= 0', ms);
    reactor.loopTimeout = ms < 0 ? WAIT_FOREVER : Math.ceil(ms);
    return reactor.loopTimeout;
  }

  /** Prints a `util.format`-style message to stderr, prefixed with ">>> ". */
  static debugMsg(fmt: string, ...args: unknown[]): void {
    process.stderr.write('>>> ' + format(text(fmt).replace(/\n$/, ''), ...args) + '\n');
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
    return reactor.descriptorMap as Map<number, DangaSocket<object>>;
  }

  /**
   * Runs the event loop inside Node's loop. The Promise resolves when a
   * post-loop callback returns a falsy value, and rejects with the exception
   * if an event handler, timer or callback throws (the loop's state is kept,
   * and `eventLoop()` can be called again).
   */
  static eventLoop(): Promise<void> {
    return reactor.start();
  }

  /**
   * Sets (or with null clears) the global post-loop callback, called at the
   * end of every iteration with (descriptorMap, otherFds). Return a falsy
   * value to end the loop.
   */
  static setPostLoopCallback(fn: PostLoopCallback | null): void {
    if (fn !== null && fn !== undefined) validateFunction('fn', fn);
    reactor.postLoopCallback = (fn ?? null) as LoopCallback | null;
  }

  // ---------------------------------------------------------------- object side

  /** True once closed (or its socket stolen). */
  get closed(): boolean {
    return this.#closed;
  }

  /** The file descriptor; -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  /** Queued bytes plus one per queued callback (the original's write_buf_size). */
  get writeBufSize(): number {
    return this.#wqSize;
  }

  /** Sets the per-object post-loop callback (or clears it with null). */
  setPostLoopCallback(fn: PostLoopCallback | null): void {
    if (fn !== null && fn !== undefined) validateFunction('fn', fn);
    if (this.#closed) return;
    if (fn) reactor.plcMap.set(this, fn as LoopCallback);
    else reactor.plcMap.delete(this);
  }

  /** TCP_CORK on or off. Ignored where the socket cannot cork (Unix sockets). */
  tcpCork(on: boolean): void {
    const t = this.#t;
    if (t === null) return;
    const val = Boolean(on);
    if (val === this.#corked) return;
    const rc = t.setCork(val);
    if (rc === 0) {
      this.#corked = val;
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
    if (this.#closed) return null;
    const t = this.#t;
    this.#cleanup();
    this.#t = null;
    // Leaves the map at the end of the iteration, like a closed fd.
    reactor.deferClose({ obj: this, key: this.#key, transport: null, reserved: this.#takeReserved() });
    return t === null ? null : (t.handle as S);
  }

  /**
   * Closes the object: no more events, the write queue is dropped (use
   * `write(() => this.close())` to close after the data is out). The socket
   * itself is closed at the end of the loop iteration. Idempotent.
   *
   * @param reason for debugging output
   */
  close(reason?: string): void {
    if (this.#closed) return;
    if (DEBUG_LEVEL > 0) DangaSocket.debugMsg('Closing #%d (%s) due to %s', this.#key, this.constructor.name, reason ?? '');
    this.#cleanup();
    const t = this.#t;
    this.#t = null;
    // Deferred: the fd must not be reused while events for it may still
    // be in the batch being dispatched.
    reactor.deferClose({ obj: this, key: this.#key, transport: t, reserved: this.#takeReserved() });
  }

  /**
   * What a transport calls when its readiness may have changed. Only engines
   * that compute readiness (stream sockets) call it: the others report
   * through the driver's event batch and get a shared no-op, so that a
   * native connection costs no closure.
   */
  #readyCallback(t: Transport): () => void {
    return t.readiness === undefined ? IGNORED : () => reactor.markReady(this);
  }

  #takeReserved(): Transport | null {
    const r = this.#reserved;
    this.#reserved = null;
    return r;
  }

  /** What close() and stealSocket() share: the object is dead from here on. */
  #cleanup(): void {
    this.#closed = true; // first: a failing uncork below closes, and must find it closed
    this.tcpCork(false);
    // Drop the queue: it may hold callbacks that refer back to this object.
    this.#wq = [];
    this.#wqHead = 0;
    this.#wqOffset = 0;
    this.#wqSize = 0;
    this.#pushBack = null;
    const t = this.#t;
    if (t !== null) {
      const rc = t.detach();
      if (rc < 0 && rc !== -errno.EBADF && rc !== -errno.ENOENT) {
        this.dumpError(`epoll_ctl(): failure deleting fd=${this.#key} during cleanup; ${systemError(rc, 'epoll_ctl').code}`);
      }
    }
    // The object stays in the descriptor map until the end of the iteration
    // (reactor.deferClose), so that the dispatcher finds a closed object (and
    // skips it) rather than an unknown fd or a new socket under the number.
    this.#fd = -1;
  }

  /** The socket: a Sock (or the stream given to the constructor); null once closed. */
  sock(): S | null {
    return this.#t === null ? null : (this.#t.handle as S);
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
    const old = this.#t;
    if (this.#closed || old === null) throw stateError('ERR_SOCKET_CLOSED', 'startTls() on a closed DangaSocket');
    if (this.#wqHead < this.#wq.length) {
      throw stateError(
        'ERR_WRITE_QUEUE_NOT_EMPTY',
        'startTls() with data still queued; call it from a write callback: this.write(() => this.startTls(options))',
      );
    }
    old.detach();
    let t: Transport;
    try {
      t = reactor.engine.startTls(old, options, this.#pushBack?.chunks ?? []);
    } catch (err) {
      // Bad options fail before the connection changes hands: go on with the
      // plain connection. Should it be gone with the failure, so is the object.
      if (old.attach(this.#watch, this.#readyCallback(old)) < 0) {
        this.#reserved = old;
        this.close('starttls_failed');
      }
      throw err;
    }
    this.#pushBack = null;
    reactor.pushBack.delete(this);
    // The old transport keeps this object's number reserved until it closes.
    this.#reserved = old;
    this.#t = t;
    this.#corked = false;
    const rc = t.attach(this.#watch, this.#readyCallback(t));
    if (rc < 0) throw systemError(rc, 'attach', `fd ${this.#key}`);
    reactor.markReady(this);
  }

  /** Replaces the write syscall with `fn` (see WriterFunc); null restores it. */
  setWriterFunc(fn: WriterFunc | null): void {
    if (fn !== null && fn !== undefined) validateFunction('fn', fn);
    this.#writer = fn ?? null;
  }

  /**
   * Writes `data`, or queues it behind what is already queued. A function is
   * run once everything queued before it has been written (at once when the
   * queue is empty; one queued from inside a write callback runs right after
   * that callback returns); `undefined` just pushes the queue.
   *
   * @returns true when everything went out; false when something is queued
   *   (write interest is then on until the queue drains).
   */
  write(data?: WriteData): boolean {
    if (this.#closed) return true; // a dead object soon; the original lies too
    if (data === undefined || data === null) {
      // Inside a write callback the queue is pushed once the callback returns.
      return this.#callbackDepth > 0 ? this.#wqHead >= this.#wq.length : this.#flush();
    }
    let item: Buffer | WriteCallback;
    if (typeof data === 'function') item = data;
    else if (Buffer.isBuffer(data)) item = data;
    else if (typeof data === 'string' || data instanceof Uint8Array) item = toBuffer(data, 'data');
    else throw invalidArgType('data', 'a Buffer, Uint8Array, string, function or undefined', data);

    if (typeof item === 'function') {
      if (this.#wqHead < this.#wq.length || this.#callbackDepth > 0) {
        this.#wq.push(item);
        this.#wqSize += 1;
        return false;
      }
      // Nothing queued: run it now; what it queues runs once it returns.
      this.#runCallback(item);
      return this.#wqHead < this.#wq.length ? this.#flush() : true;
    }
    const len = item.length;
    if (len === 0) return this.#wqHead >= this.#wq.length;
    if (this.#wqHead < this.#wq.length) {
      this.#wq.push(item);
      this.#wqSize += len;
      return false;
    }
    // Nothing queued: write now, bypassing the queue.
    const n = this.#rawWrite(item, 0, len);
    if (n === len) {
      if (this.#writeSetWatch) {
        this.#writeSetWatch = false;
        this.#setWatch(POLLOUT, false);
      }
      return true;
    }
    if (n >= 0) {
      this.#wq.push(item);
      this.#wqOffset = n;
      this.#wqSize += len - n;
      this.onIncompleteWrite();
      return false;
    }
    if (n === -errno.EAGAIN) {
      this.#wq.push(item);
      this.#wqSize += len;
    }
    return this.#writeFailed(n);
  }

  #runCallback(fn: WriteCallback): void {
    this.#callbackDepth++;
    try {
      fn();
    } finally {
      this.#callbackDepth--;
    }
  }

  /** Writes as much of the queue as the socket takes. */
  #flush(): boolean {
    for (;;) {
      if (this.#closed) return true;
      const wq = this.#wq;
      const head = this.#wqHead;
      if (head >= wq.length) {
        if (head > 0) {
          this.#wq = [];
          this.#wqHead = 0;
        }
        if (this.#writeSetWatch) {
          this.#writeSetWatch = false;
          this.#setWatch(POLLOUT, false);
        }
        return true;
      }
      const item = wq[head] as Buffer | WriteCallback;
      if (typeof item === 'function') {
        this.#wqHead = head + 1;
        this.#wqSize -= 1;
        this.#runCallback(item);
        continue;
      }
      // Gather the Buffers up to the next callback into one writev.
      let count = 1;
      let want = item.length - this.#wqOffset;
      let detached = item.length === 0;
      if (this.#writer === null) {
        const end = Math.min(wq.length, head + IOV_MAX);
        for (let i = head + 1; i < end; i++) {
          const next = wq[i] as Buffer | WriteCallback;
          if (typeof next === 'function') break;
          if (next.length === 0) detached = true;
          want += next.length;
          count++;
        }
      }
      // Only non-empty Buffers are queued: an empty one is a view whose
      // ArrayBuffer was detached (transferred) since.
      if (detached) return this.#detachedBuffer();
      const offset = this.#wqOffset;
      const n = count === 1 ? this.#rawWrite(item, offset, want) : (this.#t as Transport).writev(wq, head, count, offset);
      if (n < 0) return this.#writeFailed(n);
      this.#wqSize -= n;
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
      this.#wqHead = i;
      this.#wqOffset = i < head + count ? left : 0;
      if (i > COMPACT_AFTER && i * 2 > wq.length) {
        // Compact a long-lived queue so written entries do not pile up.
        this.#wq = wq.slice(i);
        this.#wqHead = 0;
      }
      if (n < want) {
        this.onIncompleteWrite();
        return false;
      }
    }
  }

  /** A queued view lost its memory: this connection's bytes cannot be sent in order any more. */
  #detachedBuffer(): false {
    process.emitWarning(`${this.asString()}: a queued Uint8Array's ArrayBuffer was detached (transferred) before it was written; closing the connection`, {
      code: 'DANGA_DETACHED_BUFFER',
    });
    this.close('write_error');
    return false;
  }

  /** One write through the writer function or the transport; bytes or -errno. */
  #rawWrite(buf: Buffer, offset: number, length: number): number {
    const writer = this.#writer;
    if (writer === null) return (this.#t as Transport).write(buf, offset, length);
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
  #writeFailed(n: number): false {
    if (n === -errno.EAGAIN) {
      if (!(this.#watch & POLLOUT)) this.#writeSetWatch = true;
      this.#setWatch(POLLOUT, true);
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
    if (!(this.#watch & POLLOUT)) this.#writeSetWatch = true;
    this.#setWatch(POLLOUT, true);
  }

  /** Puts `buf` back in front of the read stream: the next read() returns it first. */
  pushBackRead(buf: Buffer | Uint8Array | string): void {
    const b = toBuffer(buf, 'buf');
    if (this.#closed || b.length === 0) return;
    const pb = (this.#pushBack ??= new PushBack());
    pb.chunks.push(b);
    pb.bytes += b.length;
    pb.parked = false;
    this.#updatePushBack(pb);
  }

  /** Files this object for the pushed-back phase while it has data owed to a reader. */
  #updatePushBack(pb: PushBack): void {
    if (pb.bytes > 0 && this.#watch & POLLIN && !pb.parked && !this.#closed) {
      if (!reactor.pushBack.has(this)) {
        reactor.pushBack.add(this);
        reactor.requestPass();
      }
    } else {
      reactor.pushBack.delete(this);
    }
  }

  /** @internal the loop delivers pushed-back data (see LoopObject). */
  [kPushBackStep](): boolean {
    const pb = this.#pushBack;
    if (this.#closed || pb === null || pb.bytes === 0 || !(this.#watch & POLLIN)) {
      reactor.pushBack.delete(this);
      return false;
    }
    const pushedBack = pb.bytes;
    const readBefore = pb.socketBytes;
    this.eventRead();
    if (this.#closed || this.#pushBack !== pb) return false;
    const progress = pb.socketBytes !== readBefore || pb.bytes < pushedBack;
    if (!progress && pb.bytes > 0) {
      // Left as found (e.g. a partial line pushed back until the rest
      // arrives): wait for the socket rather than re-fire for ever.
      pb.parked = true;
      reactor.pushBack.delete(this);
    }
    return progress && reactor.pushBack.has(this);
  }

  /**
   * Reads at most `maxBytes` bytes: pushed-back data first, then the socket.
   *
   * @returns the bytes; an empty Buffer when nothing is available now; null
   *   at the end of the stream, on error, or once closed.
   */
  read(maxBytes: number): Buffer | null {
    if (!(typeof maxBytes === 'number' && maxBytes >= 1 && maxBytes <= Number.MAX_SAFE_INTEGER && Number.isInteger(maxBytes))) {
      if (typeof maxBytes !== 'number') throw invalidArgType('maxBytes', 'of type number', maxBytes);
      throw outOfRange('maxBytes', 'an integer >= 1', maxBytes);
    }
    if (this.#closed) return null;
    const pb = this.#pushBack;
    if (pb === null) return (this.#t as Transport).read(maxBytes);
    if (pb.bytes > 0) return this.#readPushedBack(pb, maxBytes);
    const buf = (this.#t as Transport).read(maxBytes);
    if (buf !== null) pb.socketBytes += buf.length;
    return buf;
  }

  #readPushedBack(pb: PushBack, maxBytes: number): Buffer {
    const chunks = pb.chunks;
    let buf = chunks[0] as Buffer;
    if (buf.length > maxBytes) {
      chunks[0] = buf.subarray(maxBytes);
      pb.bytes -= maxBytes;
      return buf.subarray(0, maxBytes);
    }
    chunks.shift();
    pb.bytes -= buf.length;
    if (pb.parked && chunks.length === 0 && buf.length < maxBytes) {
      // Parked data is handed out with what the socket has now, so that a
      // reader keeping a partial line sees the rest of it.
      const more = (this.#t as Transport).read(maxBytes - buf.length);
      if (more !== null && more.length > 0) {
        pb.socketBytes += more.length;
        buf = Buffer.concat([buf, more], buf.length + more.length);
      }
    }
    if (chunks.length === 0) {
      pb.parked = false;
      reactor.pushBack.delete(this);
    }
    return buf;
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
    const wasOn = (this.#watch & POLLIN) !== 0;
    this.#setWatch(POLLIN, Boolean(on));
    const pb = this.#pushBack;
    if (pb !== null) {
      if (!wasOn && this.#watch & POLLIN) pb.parked = false;
      this.#updatePushBack(pb);
    }
  }

  /**
   * Turns writable events on or off. Turning them on makes the subclass
   * responsible for them: write() will no longer turn them off when its
   * queue drains.
   */
  watchWrite(on: boolean): void {
    if (on) this.#writeSetWatch = false;
    this.#setWatch(POLLOUT, Boolean(on));
  }

  #setWatch(bit: number, on: boolean): void {
    const t = this.#t;
    if (this.#closed || t === null) return;
    const mask = on ? this.#watch | bit : this.#watch & ~bit;
    if (mask === this.#watch) return;
    const rc = t.setInterest(mask);
    if (rc < 0) {
      this.dumpError(`couldn't modify epoll settings for ${this.#key} from ${this.#watch} -> ${mask}: ${systemError(rc, 'epoll_ctl').code}`);
    }
    this.#watch = mask;
  }

  /** @internal readiness computed by the engine (see LoopObject). */
  [kReadiness](): number {
    const t = this.#t;
    return t === null || t.readiness === undefined ? 0 : t.readiness();
  }

  /** Prints `message`, what this object is, and a stack trace to stderr. */
  dumpError(message: string): void {
    const stack = (new Error().stack ?? '').split('\n').slice(2).join('\n');
    process.stderr.write(`ERROR: ${text(message)}\n\t${this.asString()}\n${stack}\n`);
  }

  /** Prints a `util.format`-style message to stderr, prefixed with ">>> ". */
  debugMsg(fmt: string, ...args: unknown[]): void {
    DangaSocket.debugMsg(fmt, ...args);
  }

  /** The peer's IP address, or null (not connected, not an IP socket, closed). */
  peerIpString(): string | null {
    const a = this.#peerAddress();
    return a !== null && a.family !== 'unix' ? a.address : null;
  }

  /** "ip:port" of the peer ("[ip]:port" for IPv6), or null. */
  peerAddrString(): string | null {
    return addrString(this.#peerAddress());
  }

  /** The local IP address, or null. */
  localIpString(): string | null {
    const a = this.#localAddress();
    return a !== null && a.family !== 'unix' ? a.address : null;
  }

  /** "ip:port" of the local end ("[ip]:port" for IPv6), or null. */
  localAddrString(): string | null {
    return addrString(this.#localAddress());
  }

  #peerAddress(): SockAddress | null {
    if (this.#peer === undefined) {
      if (this.#t === null) return null;
      const a = this.#t.remoteAddress();
      if (a === null) return null; // not connected yet: ask again later
      this.#peer = a;
    }
    return this.#peer;
  }

  #localAddress(): SockAddress | null {
    if (this.#local === undefined) {
      if (this.#t === null) return null;
      this.#local = this.#t.localAddress();
    }
    return this.#local;
  }

  /** "ClassName(RW): open to 1.2.3.4:5" */
  asString(): string {
    const rw = `(${this.#watch & POLLIN ? 'R' : ''}${this.#watch & POLLOUT ? 'W' : ''})`;
    let s = `${this.constructor.name}${rw}: ${this.#closed ? 'closed' : 'open'}`;
    const peer = this.peerAddrString();
    if (peer !== null) s += ` to ${peer}`;
    return s;
  }
}

function addrString(a: SockAddress | null): string | null {
  if (a === null || a.family === 'unix') return null;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function otherFdEntries(map: Map<number, OtherFdCallback> | Record<number, OtherFdCallback>): Array<[number, OtherFdCallback]> {
  if (map === null || typeof map !== 'object') throw invalidArgType('map', 'a Map or an object', map);
  const raw: Array<[unknown, unknown]> = map instanceof Map ? Array.from(map.entries()) : Object.entries(map);
  return raw.map(([k, v]) => {
    const fd = typeof k === 'string' ? Number(k) : k;
    if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
      throw invalidArgValue('map', `has a key that is not a file descriptor: ${text(k)}`);
    }
    return [fd, validateFunction<OtherFdCallback>(`map[${fd}]`, v)];
  });
}

function watchOtherFd(fd: number): void {
  const rc = reactor.driver.watchFd(fd, true);
  if (rc < 0) {
    throw invalidArgValue('map', `has fd ${fd}, which cannot be watched`, systemError(rc, 'epoll_ctl', `fd ${fd}`));
  }
}
