/**
 * DangaSocket: the event-driven socket base class, and (through its static
 * methods, most of them inherited from ClassSide in class-side.ts) the event
 * loop. A port of Danga::Socket 1.62.
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
import { ClassSide } from './class-side.js';
import { Extras, addrString, ipString } from './extras.js';
import { EMPTY, INITIAL_WATCH, POLLIN, POLLOUT, noop } from './constants.js';
import type { Sock, SockAddress, StartTlsOptions, Transport } from './contract.js';
import {
  errno,
  invalidArgType,
  invalidArgValue,
  badMaxBytes,
  stateError,
  systemError,
  transportError,
  validateFunction,
  validateInteger,
  validateObject,
  validateSeconds,
} from './errors.js';
import { kCloseHook, kEventErr, kIdleCheck, kPushBackStep, kReadiness, reactor, type LoopCallback, type LoopObject, type OtherFdCallback } from './loop.js';
import { FileRange, type FileSource, type WriteFileOptions } from './file-range.js';
import { constants as bufferConstants } from 'node:buffer';
import { toBuffer, toBuffers } from './chunks.js';
import { DEBUG_LEVEL, log, text } from './log.js';
import type { DangaSocketOptions, EndOptions, FrameFormat, WriteCallback, WriteData, WriterFunc } from './socket-types.js';
import { type FrameSpec, frameSpec } from './frame-spec.js';
import { Inbound, kOwed, kReadSocket } from './inbound.js';
import { DRAINED, Outbound, kDirect, kDrained, kFileFailed, kHeld, kRunCallback, kWriteFailed, kWriteOne, kWrote } from './outbound.js';

/** Hook: deliver what is readable before an error closes the object (Connection.eventErr). */
export const kReadBeforeError = Symbol('danga.readBeforeError');
export type { StartTlsOptions } from './contract.js';
export type { FileSource, WriteFileOptions } from './file-range.js';

/**
 * Post-loop callback: gets the descriptor map and the foreign fds; return a falsy value to end `eventLoop()`.
 *
 * @original the `$code` of `Danga::Socket->SetPostLoopCallback($code)`
 */
export type PostLoopCallback = (descriptorMap: Map<number, DangaSocket<object>>, otherFds: Map<number, OtherFdCallback>) => unknown;

/**
 * Receives an exception thrown by one object's handler (see `DangaSocket.setErrorHandler`).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export type ErrorHandler = (err: unknown, obj: DangaSocket<object>) => void;

/** Largest frame (and maxBytes) the framing helpers take: the largest Buffer. */
const MAX_FRAME = bufferConstants.MAX_LENGTH;

/** Bits of `#flags`. eofOnce was asked for. */
const EOF_ONCE = 1;
/** A read returned null (end of stream or error). */
const AT_EOF = 2;
/** end(): close once the queue is empty. */
const ENDING = 4;
/** end({ halfClose }): shut down the writing side once the queue is empty. */
const HALF_CLOSING = 8;
/**
 * Filed in the loop's pushed-back set (`reactor.pushBack`) by this object,
 * so that a frame taken with more held asks no Set lookup. Only this object
 * adds itself and clears the bit when it leaves; the loop removes it on its
 * own only when it closes (deferClose, reset), and a closed object is never
 * filed again.
 */
const FILED = 16;
/** TCP_CORK is on. */
const CORKED = 32;
/** The queue turned write interest on itself (write() or EAGAIN), so it turns it off once drained. */
const QUEUE_WATCH = 64;

/**
 * The base class. Subclass it, call `super(sock)`, and override the event
 * handlers you need.
 *
 * @throws see each member; the errors are Node-style, with a `code`: TypeError `ERR_INVALID_ARG_TYPE` /
 *   `ERR_INVALID_ARG_VALUE` and RangeError `ERR_OUT_OF_RANGE` for bad arguments, Error with a
 *   `ERR_DANGA_*` or `ERR_SOCKET_CLOSED` code for misuse, system errors with `code`, `errno`, `syscall`.
 * @original the class `Danga::Socket` (its class methods are the static methods here, its object methods the instance methods)
 */
export class DangaSocket<S extends object = Sock> extends ClassSide implements LoopObject {
  // It is also the OutboundHost of its write queue (checked where it passes itself as the host).
  // ---------------------------------------------------------------- state
  // What an idle object carries; what is usually empty is absent (null) until used.
  #t: Transport | null;
  /** The fd this object is filed under in the descriptor map (kept after close: `fd` is then -1). */
  readonly #key: number;
  /** Why it closed ('' when no reason was given; 'stolen' after stealSocket()); null while open. */
  #closed: string | null = null;
  #watch = INITIAL_WATCH;
  /** EOF_ONCE, AT_EOF, ENDING, HALF_CLOSING, FILED, CORKED, QUEUE_WATCH. */
  #flags = 0;
  /** The write queue; made on the first write that queues (most writes go straight out). */
  #out: Outbound | null = null;
  /**
   * Depth of write callbacks running: a callback queued from inside one runs
   * after it returns (a trampoline), so chained callbacks never grow the stack.
   */
  #callbackDepth = 0;
  /** Pushed-back data and the frame scanner; made on the first pushBackRead() or framing call (most objects never push back). */
  #pushBack: Inbound | null = null;
  /** Depth of batch() scopes: writes are queued, and written once the outermost ends. */
  #batchDepth = 0;
  /** Idle timeout, close watcher, writer function, addresses, a reserved transport: made on first use. */
  #ext: Extras | null = null;

  /**
   * Registers `sock` with the event loop. Only errors and hangups are watched
   * at first: call `watchRead(true)` to get `eventRead`.
   *
   * @param sock a Sock from `listenTcp`/`connectTcp`/`accept()`/…, a Node
   *   stream (net.Socket, tls.TLSSocket, any Duplex), or the number of an
   *   open socket fd (taken over).
   * @param options additions to the 1.62 behaviour, all off by default
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `sock` is not a Sock, a stream or a socket fd, or `options` is not an object
   *   (or `options.eofOnce` not a boolean); TypeError (code `ERR_INVALID_ARG_VALUE`) when `sock` is already closed;
   *   a system error (`code` such as 'EBADF', `errno`, `syscall` 'epoll_ctl') when the engine cannot
   *   register the socket. Registering an fd that another open object holds is not an error: it warns
   *   (`DANGA_FD_REGISTERED_TWICE`) and replaces the entry, as 1.62 does.
   * @original `Danga::Socket->new($sock)` (`CLASS->new`, called from the subclass's constructor as `SUPER::new`)
   */
  constructor(sock: S | number, options?: DangaSocketOptions) {
    super();
    const t = sock === undefined || sock === null ? null : reactor.engine.adopt(sock);
    if (t === null) throw invalidArgType('sock', 'a Sock, a stream or a socket fd', sock);
    if (t.closed) throw invalidArgValue('sock', 'is closed');
    if (options !== undefined) {
      validateObject('options', options);
      if (options.eofOnce !== undefined && typeof options.eofOnce !== 'boolean') {
        throw invalidArgType('options.eofOnce', 'of type boolean', options.eofOnce);
      }
      if (options.eofOnce === true) this.#flags = EOF_ONCE;
    }
    this.#t = t;
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
    reactor.stats.opened++;
  }

  // ---------------------------------------------------------------- class side: the class methods typed with DangaSocket
  // (the others are ClassSide's, class-side.ts, which must not import this file)

  /**
   * Error isolation (off by default: 1.62 lets an exception end the loop).
   * With a handler set, an exception thrown by an object's handlers (its
   * event handlers, write callbacks run inside them, pushed-back deliveries,
   * onIdle, onShutdown) or the rejection of an `async` handler's promise is
   * given to `fn(err, obj)`, and then that object alone is closed (reason
   * 'exception') unless `fn` closed it. Timers and post-loop callbacks are
   * not objects' handlers: their exceptions still end the loop, as does an
   * exception of `fn` itself. null turns isolation off.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `fn` is neither a function nor null.
   * @original new in danga-socket (not in Danga::Socket 1.62); 1.62 lets the exception end the loop
   */
  static setErrorHandler(fn: ErrorHandler | null): void {
    if (fn !== null && fn !== undefined) validateFunction('fn', fn);
    reactor.setErrorHandler((fn ?? null) as ((err: unknown, obj: LoopObject) => void) | null);
  }

  /**
   * The live map of fd -> object. An fd leaves it at the end of the
   * iteration in which its object closed. With `cls`, a new Map of just the
   * objects that are instances of it, typed so.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `cls` is given and is not a class (a function).
   * @original `Danga::Socket->DescriptorMap()`; the `cls` filter is new in danga-socket
   */
  static descriptorMap(): Map<number, DangaSocket<object>>;
  static descriptorMap<T extends DangaSocket<object>>(cls: abstract new (...args: never[]) => T): Map<number, T>;
  static descriptorMap<T extends DangaSocket<object>>(cls?: abstract new (...args: never[]) => T): Map<number, DangaSocket<object>> | Map<number, T> {
    const map = reactor.descriptorMap as Map<number, DangaSocket<object>>;
    if (cls === undefined) return map;
    validateFunction('cls', cls);
    const out = new Map<number, T>();
    for (const [fd, obj] of map) if (obj instanceof cls) out.set(fd, obj);
    return out;
  }

  /**
   * Sets (or with null clears) the global post-loop callback, called at the
   * end of every iteration with (descriptorMap, otherFds). Return a falsy
   * value to end the loop.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `fn` is neither a function nor null.
   * @original `Danga::Socket->SetPostLoopCallback($code)`
   */
  static setPostLoopCallback(fn: PostLoopCallback | null): void {
    if (fn !== null && fn !== undefined) validateFunction('fn', fn);
    reactor.setPostLoopCallback((fn ?? null) as LoopCallback | null);
  }

  // ---------------------------------------------------------------- object side

  /**
   * True once closed (or its socket stolen).
   *
   * @throws Nothing.
   * @original the field `$obj->{closed}`
   */
  get closed(): boolean {
    return this.#closed !== null;
  }

  /**
   * The file descriptor; -1 once closed.
   *
   * @throws Nothing.
   * @original the field `$obj->{fd}`
   */
  get fd(): number {
    return this.#closed === null ? this.#key : -1;
  }

  /**
   * Queued bytes (file ranges' included) plus one per queued callback (the original's write_buf_size).
   *
   * @throws Nothing.
   * @original the field `$obj->{write_buf_size}`
   */
  get writeBufSize(): number {
    const out = this.#out;
    return out === null ? 0 : out.size + out.fileBytes;
  }

  /**
   * Why the object closed: the reason given to close() ('' when none), 'stolen' after stealSocket(); null while open.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  closeReason(): string | null {
    return this.#closed;
  }

  /**
   * Sets the per-object post-loop callback (or clears it with null).
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `fn` is neither a function nor null.
   * @original `$obj->SetPostLoopCallback($code)`
   */
  setPostLoopCallback(fn: PostLoopCallback | null): void {
    if (fn !== null && fn !== undefined) validateFunction('fn', fn);
    if (this.#closed !== null) return;
    if (fn) reactor.plcMap.set(this, fn as LoopCallback);
    else reactor.plcMap.delete(this);
  }

  /**
   * TCP_CORK on or off. Ignored where the socket cannot cork (Unix sockets).
   *
   * @throws a system error (`syscall` 'setsockopt') when the kernel refuses TCP_CORK for a reason
   *   other than the socket not supporting it; a socket that is gone (EBADF, ENOTSOCK) is closed
   *   instead, with a `DANGA_CORK_FAILED` warning, as 1.62 closes it.
   * @original `$obj->tcp_cork($bool)`
   */
  tcpCork(on: boolean): void {
    const t = this.#t;
    if (t === null) return;
    const val = Boolean(on);
    if (val === ((this.#flags & CORKED) !== 0)) return;
    const rc = t.setCork(val);
    if (rc === 0) {
      this.#flags ^= CORKED;
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
   *
   * @throws Nothing.
   * @original `$obj->steal_socket()`
   */
  stealSocket(): S | null {
    if (this.#closed !== null) return null;
    const t = this.#t;
    this.#cleanup('stolen', false);
    return t === null ? null : (t.handle as S);
  }

  /**
   * Closes the object: no more events, the write queue is dropped (use
   * `write(() => this.close())` to close after the data is out). The socket
   * itself is closed at the end of the loop iteration. Idempotent.
   *
   * @param reason for debugging output
   *
   * @throws Nothing.
   * @original `$obj->close($reason)`
   */
  close(reason?: string): void {
    if (this.#closed !== null) return;
    if (DEBUG_LEVEL > 0) DangaSocket.debugMsg('Closing #%d (%s) due to %s', this.#key, this.constructor.name, reason ?? '');
    this.#cleanup(reason === undefined ? '' : text(reason), true);
  }

  /**
   * What a transport calls when its readiness may have changed. Only engines
   * that compute readiness (stream sockets) call it: the others report
   * through the driver's event batch and get a shared no-op, so that a
   * native connection costs no closure.
   */
  #readyCallback(t: Transport): () => void {
    return t.readiness === undefined ? noop : () => reactor.markReady(this);
  }

  /**
   * What close() and stealSocket() share: the object is dead from here on.
   * Its socket (unless stolen) is closed at the end of the iteration.
   */
  #cleanup(reason: string, closeSocket: boolean): void {
    this.#closed = reason; // first: a failing uncork below closes, and must find it closed
    reactor.stats.countClose(reason);
    this.tcpCork(false);
    // Drop the queue: it may hold callbacks that refer back to this object,
    // and file ranges whose files were handed over to be closed.
    const out = this.#out;
    if (out !== null) {
      this.#out = null;
      out.drop();
    }
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
    const reserved = this.#ext === null ? null : this.#ext.closed();
    this.#t = null;
    // Deferred: the fd must not be reused while events for it may still be
    // in the batch being dispatched. A stolen socket's number leaves the map then too.
    reactor.deferClose({ obj: this, key: this.#key, transport: closeSocket ? t : null, reserved });
  }

  /**
   * The socket: a Sock (or the stream given to the constructor); null once closed.
   *
   * @throws Nothing.
   * @original `$obj->sock()`
   */
  sock(): S | null {
    return this.#t === null ? null : (this.#t.handle as S);
  }

  /**
   * The socket, typed non-null: for handlers, which only run while the
   * object is open. Throws ERR_SOCKET_CLOSED once closed.
   *
   * @throws Error `ERR_SOCKET_CLOSED` once the object is closed.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  requireSock(): S {
    if (this.#t === null) throw stateError('ERR_SOCKET_CLOSED', `${this.constructor.name}: the socket is closed`);
    return this.#t.handle as S;
  }

  /**
   * Switches the connection to TLS (STARTTLS): from here on reads and writes
   * go through TLS on the same connection. Bytes pushed back (or already read
   * by the engine) are fed to TLS first, so none is lost or reordered. The
   * write queue must be empty, so no plain text is sent after the switch:
   * call it from a write callback, `this.write(() => this.startTls(opts))`.
   * Handshake and certificate errors reach `eventErr`.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `options` is not an object; Error `ERR_SOCKET_CLOSED` when closed;
   *   Error `ERR_WRITE_QUEUE_NOT_EMPTY` while data is queued; Error `ERR_DANGA_NO_TLS` on a listening
   *   socket; Node's own error for bad TLS options (the plain connection is kept); a system error
   *   when the TLS socket cannot be registered.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  startTls(options: StartTlsOptions = {}): void {
    validateObject('options', options);
    const old = this.#t;
    if (this.#closed !== null || old === null) throw stateError('ERR_SOCKET_CLOSED', 'startTls() on a closed DangaSocket');
    if (!this.#queueEmpty()) {
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
        this.#extras().reserved = old;
        this.close('starttls_failed');
      }
      throw err;
    }
    this.#pushBack = null;
    this.#unfile();
    // The old transport keeps this object's number reserved until it closes.
    this.#extras().reserved = old;
    this.#t = t;
    this.#flags &= ~CORKED;
    const rc = t.attach(this.#watch, this.#readyCallback(t));
    if (rc < 0) throw systemError(rc, 'attach', `fd ${this.#key}`);
    reactor.markReady(this);
  }

  /**
   * Replaces the write syscall with `fn` (see WriterFunc); null restores it.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `fn` is neither a function nor null.
   * @original `$obj->set_writer_func($code)`
   */
  setWriterFunc(fn: WriterFunc | null): void {
    if (fn !== null && fn !== undefined) validateFunction('fn', fn);
    if (fn || this.#ext !== null) this.#extras().writer = fn ?? null;
  }

  /**
   * Writes `data`, or queues it behind what is already queued. A function is
   * run once everything queued before it has been written (at once when the
   * queue is empty; one queued from inside a write callback runs right after
   * that callback returns); `undefined` just pushes the queue. An array of
   * pieces is queued as one and written with one system call (a writev; small
   * pieces copied into one Buffer and written with one write).
   *
   * @returns true when everything went out; false when something is queued
   *   (write interest is then on until the queue drains).
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `data` is none of the kinds above; TypeError (code `ERR_INVALID_ARG_VALUE`) for a view of a detached
   *   ArrayBuffer. Failures of the write itself (EPIPE, ECONNRESET, a write cap) never throw: they
   *   close the object. A write callback run at once may throw; that exception propagates.
   * @original `$obj->write($data)`; arrays of pieces are new in danga-socket
   */
  write(data?: WriteData): boolean {
    if (this.#closed !== null) return true; // a dead object soon; the original lies too
    if (data === undefined || data === null) {
      // Inside a write callback or a batch the queue is pushed at its end.
      return this.#callbackDepth > 0 || this.#batchDepth > 0 ? this.#queueEmpty() : this.#flush();
    }
    let item: Buffer | WriteCallback;
    if (typeof data === 'function') item = data;
    // A Buffer too: toBuffer() returns it as it is (without the global Buffer's getter on each write).
    else if (typeof data === 'string' || data instanceof Uint8Array) item = toBuffer(data, 'data');
    else if (Array.isArray(data)) {
      const bufs = toBuffers(data as ReadonlyArray<Buffer | Uint8Array | string>, 'data');
      return bufs.length === 0 ? this.#queueEmpty() : this.#outbound().pieces(this, bufs);
    } else throw invalidArgType('data', 'a Buffer, Uint8Array, string, array of those, function or undefined', data);

    const out = this.#out;
    const queued = out !== null && out.head < out.q.length;
    if (typeof item !== 'function') {
      const len = item.length;
      if (len === 0) return !queued;
      if (!queued && this.#batchDepth === 0) {
        // Nothing queued: write now, bypassing the queue.
        const n = this[kWriteOne](item, 0, len);
        if (n > 0) this[kWrote](n);
        if (n === len) {
          if (this.#flags & QUEUE_WATCH) this.#queueWatch(false);
          return true;
        }
        return n >= 0 || n === -errno.EAGAIN ? this.#outbound().rest(this, item, n) : this[kWriteFailed](n);
      }
    } else if (!queued && this.#callbackDepth === 0 && this.#batchDepth === 0) {
      // Nothing queued: run it now; what it queues runs once it returns.
      this[kRunCallback](item);
      if (!this.#queueEmpty()) return this.#flush();
      // An end() inside the callback waited for it to return: the queue is empty now.
      if (this.#flags & (ENDING | HALF_CLOSING)) this[kDrained]();
      return true;
    }
    return this.#outbound().queue(this, item);
  }

  /** The write queue, made on the first write that queues. */
  #outbound(): Outbound {
    return (this.#out ??= new Outbound());
  }

  /** True when nothing is queued. */
  #queueEmpty(): boolean {
    const out = this.#out;
    return out === null || out.head >= out.q.length;
  }

  /** @internal writes are held: inside a write callback or a batch (see OutboundHost). */
  [kHeld](): boolean {
    return this.#callbackDepth > 0 || this.#batchDepth > 0;
  }

  /**
   * Queues a range of an open regular file, in order with the bytes and
   * callbacks around it: `length` bytes (default: to the end of the file)
   * from `offset` (default 0). On the epoll engine the bytes go from the
   * page cache to the socket with sendfile(2) and never enter user space;
   * elsewhere (the node engine, TLS, a writer function) they are read in
   * pieces and written like any other. The file's own offset never moves.
   *
   * The caller keeps the file unless `{ close: true }` is given; then it is
   * closed once the range is out, or when the object closes first. (A call
   * that throws takes nothing over.) Without it, keep the file open until
   * a write callback queued after the range runs.
   *
   * For header and body in the same segments: `tcpCork(true)`, write the
   * header, `writeFile(…)`, `write(() => this.tcpCork(false))`.
   *
   * @throws TypeError (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE) for a
   *   `file` that is neither an fd nor a FileHandle, or not a regular file;
   *   RangeError (ERR_OUT_OF_RANGE) for an offset or length that is not an
   *   integer >= 0 or runs past the file's size; the fstat(2) error (EBADF)
   *   for an fd that is not open (without `options.size`, which spares
   *   that fstat when the caller measured the file already).
   * @returns what `write()` returns: true when all of it went out now.
   *   A file that turns out shorter than its range when its turn comes
   *   (truncated since), or a read error, is reported to `eventErr(err)`
   *   (`err.code` ERR_DANGA_FILE_SHORT, or the OS error); the object is then
   *   closed with reason 'file_error' unless the handler closed it.
   * @original new in danga-socket (Perlbal called sendfile beside Danga::Socket's queue)
   */
  writeFile(file: FileSource, offset?: number, length?: number, options?: WriteFileOptions): boolean {
    const range = FileRange.from(file, offset, length, options);
    if (this.#closed !== null || range.pos === range.end) {
      range.release();
      return this.#closed !== null || this.#queueEmpty();
    }
    return this.#outbound().file(this, range);
  }

  /**
   * Runs `fn` with writes held back: what it writes is queued, in order, and
   * goes out in one system call when it returns (many small replies to
   * pipelined requests leave together: copied into one Buffer when they are
   * small, else with one writev). Inside, `write()` returns false (the
   * bytes are queued). Batches nest; the outermost one writes.
   *
   * @returns what `write()` would: true when everything went out.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `fn` is not a function; an exception of `fn` propagates.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  batch(fn: () => void): boolean {
    validateFunction('fn', fn);
    this.#batchDepth++;
    try {
      fn();
    } finally {
      this.#batchDepth--;
    }
    if (this.#closed !== null) return true;
    if (this.#batchDepth > 0 || this.#callbackDepth > 0) return this.#queueEmpty();
    return this.#flush();
  }

  /**
   * Ends the connection gracefully: stops reading, and closes once
   * everything queued (and whatever write callbacks queue meanwhile) is out,
   * with reason 'end'. With `{ halfClose: true }` it shuts down the writing
   * side instead once the queue is out (the peer sees end of stream) and
   * reading goes on: close when you read the peer's end of stream.
   * Calling it again does nothing more.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `options` is given and is not an object.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  end(options?: EndOptions): void {
    if (options !== undefined) validateObject('options', options);
    if (this.#closed !== null) return;
    if (options?.halfClose === true) {
      this.#flags |= HALF_CLOSING;
    } else {
      this.#flags |= ENDING;
      this.#stopReading();
    }
    if (this.#queueEmpty() && this.#callbackDepth === 0) this[kDrained]();
  }

  /** @internal the queue is empty (see OutboundHost): write interest off if the queue turned it on; what end() asked for happens now. */
  [kDrained](): void {
    const flags = this.#flags;
    if (flags & QUEUE_WATCH) this.#queueWatch(false);
    if (flags & ENDING) {
      this.close('end');
    } else if (flags & HALF_CLOSING) {
      this.#flags &= ~HALF_CLOSING;
      const t = this.#t;
      if (t !== null) {
        try {
          t.shutdown('write');
        } catch {
          this.close('shutdown_failed');
        }
      }
    }
  }

  /** @internal `n` bytes went out (see OutboundHost): counted, and activity for the idle timeout. */
  [kWrote](n: number): void {
    reactor.stats.bytesOut += n;
    const ext = this.#ext;
    if (ext !== null && ext.idleMs !== 0) ext.lastActive = reactor.activityTime();
  }

  /**
   * Write watermarks: `onWriteHigh()` is called once when the queue rises
   * above `high` bytes, then `onWriteLow()` once when it has fallen to `low`
   * or below, and so on, in the order of the queue (a crossing is told after
   * the write() or the write progress that made it, before the write
   * callbacks queued behind). `high` 0 turns them off.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `high` or `low` is not a number; RangeError (code `ERR_OUT_OF_RANGE`) when one is not an integer
   *   from 0 to 2^53-1, or `low` is above `high`.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  setWriteWatermarks(high: number, low: number): void {
    this.#outbound().setWatermarks(this, high, low);
  }

  /**
   * A hard cap on queued bytes: a write that would queue more is not
   * queued; the object is closed instead, with reason 'write_cap' (the write
   * returns false). 0 removes the cap.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `bytes` is not a number; RangeError (code `ERR_OUT_OF_RANGE`) when it is not an integer from 0 to 2^53-1.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  setWriteCap(bytes: number): void {
    this.#outbound().setCap(bytes);
  }

  /**
   * The queue rose above the high watermark. The default does nothing; a proxy stops reading its source here.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  onWriteHigh(): void {}

  /**
   * The queue fell to the low watermark. The default does nothing; a proxy resumes reading its source here.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  onWriteLow(): void {}

  /**
   * Idle timeout: when nothing was read from the socket and no written byte
   * went out for `seconds`, `onIdle()` is called (again after each further
   * `seconds` of idleness). The check runs once a second for all objects
   * (so it fires between `seconds` and `seconds` + 1 later); activity costs
   * a store, no timer. 0 turns it off.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `seconds` is not a number; RangeError (code `ERR_OUT_OF_RANGE`) when it is negative, NaN or above 2^31-1 ms.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  setIdleTimeout(seconds: number): void {
    const ms = Math.ceil(validateSeconds('seconds', seconds) * 1000);
    if (this.#closed === null) this.#extras().setIdle(this, ms);
  }

  /**
   * The idle timeout passed. The default closes the object with reason 'idle'.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  onIdle(): void {
    this.close('idle');
  }

  /** @internal the idle sweep (see LoopObject). */
  [kIdleCheck](nowMs: number): void {
    if (this.#closed === null && this.#ext?.idleDue(nowMs) === true) this.onIdle();
  }

  /**
   * A graceful shutdown began (`DangaSocket.shutdown()`). The default calls
   * `this.end()`: stop reading, close once everything queued is out. The
   * hooks compose: a subclass that overrides `end()` (to send a last reply)
   * has its `end()` run at shutdown too. Protocol code overrides
   * `onShutdown()` to let the request in hand finish first.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  onShutdown(): void {
    this.end();
  }

  /** @internal tells `fn` when the object closes (one watcher: the Listener that accepted it). */
  [kCloseHook](fn: (() => void) | null): void {
    if (this.#closed === null) this.#extras().onClose = fn;
  }

  /** The rarely used settings, made on first use. */
  #extras(): Extras {
    return (this.#ext ??= new Extras());
  }

  /** @internal runs a write callback (see OutboundHost): what it queues waits for it to return. */
  [kRunCallback](fn: WriteCallback): void {
    this.#callbackDepth++;
    try {
      fn();
    } finally {
      this.#callbackDepth--;
    }
  }

  /** Writes as much of the queue as the socket takes. */
  #flush(): boolean {
    const out = this.#out;
    if (out !== null) return out.flush(this) === DRAINED;
    if (this.#closed === null) this[kDrained]();
    return true;
  }

  /**
   * @internal a queued file range cannot be sent (see OutboundHost): the
   * bytes promised cannot follow, so `eventErr(err)` is told and the object
   * closes with reason 'file_error' unless the handler closed it.
   */
  [kFileFailed](err: Error): void {
    reactor.guard(this, () => this.eventErr(err));
    if (this.#closed === null) this.close('file_error');
  }

  /** @internal the transport, when writes go straight to it (see OutboundHost). */
  [kDirect](): Transport | null {
    const ext = this.#ext;
    return ext === null || ext.writer === null ? this.#t : null;
  }

  /** @internal one write through the writer function or the transport: bytes or -errno (see OutboundHost). */
  [kWriteOne](buf: Buffer, offset: number, length: number): number {
    const ext = this.#ext;
    return ext === null || ext.writer === null ? (this.#t as Transport).write(buf, offset, length) : ext.write(buf, offset, length);
  }

  /** @internal a write failed with -errno n (see OutboundHost): wait for writability, or close. */
  [kWriteFailed](n: number): false {
    if (n === -errno.EAGAIN) {
      this.#queueWatch(true);
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
   *
   * @throws Nothing.
   * @original `$obj->on_incomplete_write()`
   */
  onIncompleteWrite(): void {
    this.#queueWatch(true);
  }

  /** Write interest on for the queue (marked as the queue's when it was off, so it goes off once drained), or off again. */
  #queueWatch(on: boolean): void {
    if (!on) this.#flags &= ~QUEUE_WATCH;
    else if (!(this.#watch & POLLOUT)) this.#flags |= QUEUE_WATCH;
    this.#setWatch(POLLOUT, on);
  }

  /**
   * Pushes `buf` back for reading: reads return pushed-back bytes before the
   * socket's. As in 1.62 it is appended after the bytes pushed back (or held
   * by the framing helpers) already, so it is read next only when nothing
   * else is held; to put bytes back in front of everything, use
   * `unshiftRead()`.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `buf` is not a Buffer, Uint8Array or string; TypeError (code `ERR_INVALID_ARG_VALUE`) for a view of a detached ArrayBuffer.
   * @original `$obj->push_back_read($buf)`
   */
  pushBackRead(buf: Buffer | Uint8Array | string): void {
    const b = toBuffer(buf, 'buf');
    if (this.#closed !== null || b.length === 0) return;
    const pb = (this.#pushBack ??= new Inbound());
    pb.push(b);
    pb.update(this);
  }

  /**
   * Puts `buf` back in front of the read stream (an "unread"): the next
   * read, or framing helper, sees it first, before anything pushed back or
   * held already. Delivered to `eventRead` like pushed-back data.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `buf` is not a Buffer, Uint8Array or string; TypeError (code `ERR_INVALID_ARG_VALUE`) for a view of a detached ArrayBuffer.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  unshiftRead(buf: Buffer | Uint8Array | string): void {
    const b = toBuffer(buf, 'buf');
    if (this.#closed !== null || b.length === 0) return;
    const pb = (this.#pushBack ??= new Inbound());
    pb.unshift(b);
    pb.update(this);
  }

  /**
   * The next bytes of the stream, at most `maxBytes`, without consuming
   * them: the next read (or framing helper) returns them again. Held bytes
   * first; when fewer than `maxBytes` are held, one socket read adds to them.
   * A protocol that must look before it picks its parser (a binary packet
   * or a text line) peeks at the first byte.
   *
   * @returns the bytes (a view when they lie in one received piece, else a
   *   copy); an empty Buffer when none is there yet; null at the end of the
   *   stream (or on error) with nothing held, or once closed.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `maxBytes` is not a number; RangeError (code `ERR_OUT_OF_RANGE`) when it is not an integer >= 1.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  peek(maxBytes: number): Buffer | null {
    if (!(typeof maxBytes === 'number' && maxBytes >= 1 && maxBytes <= Number.MAX_SAFE_INTEGER && Number.isInteger(maxBytes))) {
      throw badMaxBytes(maxBytes);
    }
    if (this.#closed !== null) return null;
    return (this.#pushBack ??= new Inbound()).peek(this, maxBytes);
  }

  /**
   * The byte at `offset` of the stream (0: the next one) as a number,
   * without consuming anything and without making a Buffer: what `peek(1)`
   * tells, for a protocol that looks at a byte to pick its parser (a binary
   * packet or a text line) once per message. Held bytes first; when they do
   * not reach `offset`, one socket read adds to them.
   *
   * @returns the byte (0-255); `undefined` when the stream has not reached
   *   `offset` yet (what is there stays buffered); `null` at the end of the
   *   stream (or on error) before `offset`, or once closed.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) / RangeError (code `ERR_OUT_OF_RANGE`) when `offset` is not an integer from 0 to the largest Buffer.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  peekByte(offset = 0): number | undefined | null {
    if (offset !== 0) validateInteger('offset', offset, 0, MAX_FRAME - 1);
    if (this.#closed) return null;
    return (this.#pushBack ??= new Inbound()).peekByte(this, offset);
  }

  /** @internal held bytes are owed to a reader, or not (see InboundHost): filed for the pushed-back phase while read interest is on. */
  [kOwed](owed: boolean): void {
    if (owed && this.#watch & POLLIN && this.#closed === null) {
      if (!(this.#flags & FILED)) {
        this.#flags |= FILED;
        reactor.pushBack.add(this);
        reactor.requestPass();
      }
    } else if (this.#flags & FILED) {
      this.#unfile();
    }
  }

  /** Out of the loop's pushed-back set. */
  #unfile(): void {
    this.#flags &= ~FILED;
    reactor.pushBack.delete(this);
  }

  /** @internal the loop delivers pushed-back data (see LoopObject). */
  [kPushBackStep](): boolean {
    const pb = this.#pushBack;
    if (this.#closed !== null || pb === null || pb.bytes === 0 || !(this.#watch & POLLIN)) {
      this.#unfile();
      return false;
    }
    const pushedBack = pb.bytes;
    const readBefore = pb.socketBytes;
    const framesBefore = pb.frames;
    this.eventRead();
    if (this.#closed !== null || this.#pushBack !== pb) return false;
    const progress = pb.socketBytes !== readBefore || pb.bytes < pushedBack || pb.frames !== framesBefore;
    if (!progress && pb.bytes > 0) {
      // Left as found (e.g. a partial line pushed back until the rest
      // arrives): wait for the socket rather than re-fire for ever.
      pb.parked = true;
      this.#unfile();
    }
    return progress && (this.#flags & FILED) !== 0;
  }

  /**
   * Reads at most `maxBytes` bytes: pushed-back data first, then the socket.
   *
   * @returns the bytes; an empty Buffer when nothing is available now; null
   *   at the end of the stream, on error, or once closed.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `maxBytes` is not a number; RangeError (code `ERR_OUT_OF_RANGE`) when it is not an integer >= 1.
   * @original `$obj->read($bytes)`
   */
  read(maxBytes: number): Buffer | null {
    if (!(typeof maxBytes === 'number' && maxBytes >= 1 && maxBytes <= Number.MAX_SAFE_INTEGER && Number.isInteger(maxBytes))) {
      throw badMaxBytes(maxBytes);
    }
    if (this.#closed !== null) return null;
    const pb = this.#pushBack;
    return pb === null ? this[kReadSocket](maxBytes) : pb.read(this, maxBytes);
  }

  /** @internal every read from the socket (see InboundHost): counted, activity for the idle timeout, end of stream noted. */
  [kReadSocket](maxBytes: number): Buffer | null {
    const buf = (this.#t as Transport).read(maxBytes);
    if (buf === null) {
      if (this.#flags & EOF_ONCE) this.#atEof();
    } else if (buf.length > 0) {
      reactor.stats.bytesIn += buf.length;
      const ext = this.#ext;
      if (ext !== null && ext.idleMs !== 0) ext.lastActive = reactor.activityTime();
    }
    return buf;
  }

  /** eofOnce: the stream ended (or failed); read interest goes off for good. */
  #atEof(): void {
    this.#flags |= AT_EOF;
    this.#stopReading();
  }

  /** Read interest off, for end() and eofOnce (not through watchRead(), which a subclass may override). */
  #stopReading(): void {
    this.#setWatch(POLLIN, false);
    if (this.#pushBack !== null) this.#pushBack.update(this);
  }

  // ---------------------------------------------------------------- framing helpers
  //
  // readLine, readUntil, readExact and readSome. A partial frame stays in the
  // pushed-back store, so read(), pushBackRead() and the helpers see one byte
  // stream. A call that finds no complete frame parks the store (it waits for
  // the socket and is not re-fired for it); one that returns a frame with
  // bytes left files the object for the post-loop phase, so a handler that
  // takes one frame per eventRead still gets the pipelined rest.

  /**
   * The next line, without its terminator: LF, or CRLF (the CR goes too).
   * Made for handlers that take lines until `undefined` (or one per call:
   * the loop calls eventRead again while complete lines remain).
   *
   * @param maxBytes the longest line accepted, without its terminator
   * @returns the line (a view of the received bytes when it came in one
   *   read, else copied once; from 512 bytes, a Buffer of its own when a
   *   view would share a buffer over twice its length); `undefined` when no complete line is there
   *   yet (the partial line is kept); `null` at end of stream, on error, or
   *   once closed. A partial line left at end of stream stays buffered:
   *   `read()` returns it.
   * @throws an Error with code ERR_DANGA_FRAME_TOO_LONG when no line end
   *   comes within `maxBytes`; nothing is consumed (the caller usually closes).
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) / RangeError (code `ERR_OUT_OF_RANGE`) when `maxBytes` is not an integer from 0 to the largest Buffer.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  readLine(maxBytes: number): Buffer | undefined | null {
    validateInteger('maxBytes', maxBytes, 0, MAX_FRAME);
    if (this.#closed !== null) return null;
    return (this.#pushBack ??= new Inbound()).readLine(this, maxBytes);
  }

  /**
   * The bytes up to the next `delimiter`, which is consumed and not
   * returned. A delimiter may arrive split across reads. A Buffer (or the
   * same string each call) costs no conversion per call.
   *
   * @param delimiter non-empty; a string is taken as UTF-8
   * @param maxBytes the longest frame accepted, without the delimiter
   * @returns as `readLine()`: the frame, `undefined` when it is not complete
   *   yet, `null` at end of stream, on error, or once closed.
   * @throws an Error with code ERR_DANGA_FRAME_TOO_LONG when no delimiter
   *   comes within `maxBytes`; nothing is consumed.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `delimiter` is not a Buffer, Uint8Array or string, TypeError (code `ERR_INVALID_ARG_VALUE`) when it is empty; TypeError (code `ERR_INVALID_ARG_TYPE`) / RangeError (code `ERR_OUT_OF_RANGE`) for a bad `maxBytes`.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  readUntil(delimiter: Buffer | Uint8Array | string, maxBytes: number): Buffer | undefined | null {
    const cached = this.#pushBack;
    const delim =
      typeof delimiter === 'string' && cached !== null && delimiter === cached.delimText ? (cached.delimBytes as Buffer) : toBuffer(delimiter, 'delimiter');
    if (delim.length === 0) throw invalidArgValue('delimiter', 'must not be empty');
    validateInteger('maxBytes', maxBytes, 0, MAX_FRAME);
    if (this.#closed !== null) return null;
    const pb = (this.#pushBack ??= new Inbound());
    if (typeof delimiter === 'string') {
      pb.delimText = delimiter;
      pb.delimBytes = delim;
    }
    return pb.readUntil(this, delim, maxBytes, false);
  }

  /**
   * Exactly `n` bytes (a view when they came in one read, else copied once;
   * from 512 bytes, a Buffer of their own when a view would share a buffer
   * over twice their length: a kept value holds about its length).
   *
   * @returns the bytes; `undefined` until all `n` are there (those that are
   *   stay buffered); `null` at end of stream, on error, or once closed.
   *   `readExact(0)` on an open object is an empty Buffer.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `n` is not a number; RangeError (code `ERR_OUT_OF_RANGE`) when it is not an integer from 0 to the largest Buffer.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  readExact(n: number): Buffer | undefined | null {
    validateInteger('n', n, 0, MAX_FRAME);
    if (this.#closed !== null) return null;
    if (n === 0) {
      // Nothing to read, but a frame all the same: the post-loop phase must
      // see it as progress, or a handler taking one frame per call would stop
      // with the next frame buffered.
      const pb = this.#pushBack;
      if (pb !== null) {
        pb.taken();
        pb.update(this);
      }
      return EMPTY;
    }
    return (this.#pushBack ??= new Inbound()).readExact(this, n);
  }

  /**
   * The next length-prefixed frame: a header holding the payload's length
   * (see FrameFormat), then the payload. A frame may arrive in any number
   * of pieces, and a header split across reads is no different.
   *
   * @param format where the length is and how wide: `{ lengthBytes: 4 }` for
   *   a 4-byte big-endian prefix. The same object each call is checked once.
   * @param maxBytes the longest payload accepted
   * @returns the payload (with `keepHeader`, the header and the payload): a
   *   view when it came in one read, else copied once; from 512 bytes, a
   *   Buffer of its own when a view would share a buffer over twice its
   *   length; `undefined` until all
   *   of it is there (what is there stays buffered); `null` at end of
   *   stream, on error, or once closed.
   * @throws an Error with code ERR_DANGA_FRAME_TOO_LONG when the header
   *   announces a payload longer than `maxBytes`, and ERR_DANGA_FRAME_INVALID
   *   when it announces a negative one (with `adjust`); nothing is consumed
   *   (the caller usually closes).
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE`) or RangeError (code `ERR_OUT_OF_RANGE`) for a bad `format` or `maxBytes`.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  readFrame(format: FrameFormat, maxBytes: number): Buffer | undefined | null {
    const cached = this.#pushBack;
    const spec = cached !== null && cached.format === format ? (cached.spec as FrameSpec) : frameSpec(format);
    validateInteger('maxBytes', maxBytes, 0, MAX_FRAME);
    if (this.#closed !== null) return null;
    const pb = (this.#pushBack ??= new Inbound());
    pb.format = format;
    pb.spec = spec;
    return pb.readFrame(this, spec, maxBytes);
  }

  /**
   * Like `read()`, but "nothing yet" is `undefined` rather than an empty
   * Buffer, so that the type tells data from no data.
   *
   * @returns at most `maxBytes` bytes (never empty); `undefined` when none
   *   is available now; `null` at end of stream, on error, or once closed.
   *
   * @throws as `read()`.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  readSome(maxBytes: number): Buffer | undefined | null {
    const buf = this.read(maxBytes);
    return buf !== null && buf.length === 0 ? undefined : buf;
  }

  /**
   * Readable: override it. The default throws, naming the class.
   *
   * @throws Error "Base class eventRead called for ClassName" unless overridden, as 1.62 dies.
   * @original `$obj->event_read()`
   */
  eventRead(): void {
    throw new Error(`Base class eventRead called for ${this.constructor.name}`);
  }

  /**
   * Error condition: override it. The default throws, naming the class.
   *
   * `err` says why, whenever there is an error to tell: the engine's Error
   * for the connection (the node engine: the stream's error, TLS errors
   * included), else the socket's pending error (SO_ERROR), else the error of
   * the read that failed; and the error the object's own writes found (a
   * queued file range that could not be sent). Reading SO_ERROR clears it,
   * so the loop reads it only for an override that declares the parameter
   * (`eventErr(err)`): one written as in 1.62, without it, still finds the
   * error in `sock().socketError()`. `closeReason()` stays the summary.
   *
   * @throws Error "Base class eventErr called for ClassName" unless overridden, as 1.62 dies.
   * @original `$obj->event_err()`
   */
  eventErr(_err?: Error): void {
    throw new Error(`Base class eventErr called for ${this.constructor.name}`);
  }

  /** @internal the loop's error event (see LoopObject): the transport's error, read here once, goes to eventErr. */
  [kEventErr](): unknown {
    const t = this.#t;
    return this.eventErr(t === null ? undefined : transportError(t, this.eventErr.length > 0));
  }

  /**
   * Hangup: override it. The default throws, naming the class.
   *
   * @throws Error "Base class eventHup called for ClassName" unless overridden, as 1.62 dies.
   * @original `$obj->event_hup()`
   */
  eventHup(): void {
    throw new Error(`Base class eventHup called for ${this.constructor.name}`);
  }

  /**
   * Writable. The default pushes the write queue.
   *
   * @throws Nothing of its own: write failures close the object; a write callback's exception propagates.
   * @original `$obj->event_write()`
   */
  eventWrite(): void {
    this.write(undefined);
  }

  /**
   * The events the object watches now: POLLIN and/or POLLOUT (errors and hangups are always watched).
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  watchMask(): number {
    return this.#watch & (POLLIN | POLLOUT);
  }

  /**
   * Turns readable events on or off. They stay off once `end()` was called,
   * and (with `eofOnce`) once the stream ended: a backpressure callback
   * turning reading back on cannot revive a connection that is finishing.
   *
   * @throws Nothing.
   * @original `$obj->watch_read($bool)`
   */
  watchRead(on: boolean): void {
    if (on && this.#flags & (AT_EOF | ENDING)) return;
    const wasOn = (this.#watch & POLLIN) !== 0;
    this.#setWatch(POLLIN, Boolean(on));
    const pb = this.#pushBack;
    if (pb !== null) {
      if (!wasOn && this.#watch & POLLIN) pb.parked = false;
      pb.update(this);
    }
  }

  /**
   * Turns writable events on or off. Turning them on makes the subclass
   * responsible for them: write() will no longer turn them off when its
   * queue drains.
   *
   * @throws Nothing.
   * @original `$obj->watch_write($bool)`
   */
  watchWrite(on: boolean): void {
    if (on) this.#flags &= ~QUEUE_WATCH;
    this.#setWatch(POLLOUT, Boolean(on));
  }

  #setWatch(bit: number, on: boolean): void {
    const t = this.#t;
    if (t === null) return;
    const mask = on ? this.#watch | bit : this.#watch & ~bit;
    if (mask === this.#watch) return;
    const rc = t.setInterest(mask);
    if (rc < 0) {
      this.dumpError(`couldn't modify epoll settings for ${this.#key} from ${this.#watch} -> ${mask}: ${systemError(rc, 'epoll_ctl').code}`);
    }
    this.#watch = mask;
  }

  /**
   * @internal what was readable before an error (see Connection.eventErr):
   * eventRead again while read interest is on and each call makes progress
   * (bytes read from the socket, pushed-back bytes or frames handed out);
   * the read that finds the error returns null and ends it.
   */
  [kReadBeforeError](): void {
    for (;;) {
      if (this.#closed !== null || !(this.#watch & POLLIN)) return;
      const bytesIn = reactor.stats.bytesIn;
      const pb = this.#pushBack;
      const held = pb === null ? 0 : pb.bytes;
      const frames = pb === null ? 0 : pb.frames;
      this.eventRead();
      const now = this.#pushBack;
      if (reactor.stats.bytesIn === bytesIn && (now === null || (now === pb && now.bytes === held && now.frames === frames))) return;
    }
  }

  /** @internal readiness computed by the engine (see LoopObject). */
  [kReadiness](): number {
    const t = this.#t;
    return t === null || t.readiness === undefined ? 0 : t.readiness();
  }

  /**
   * Prints `message`, what this object is, and a stack trace to stderr.
   *
   * @throws Nothing of its own (a logger's exception propagates).
   * @original `$obj->dump_error($msg)`
   */
  dumpError(message: string): void {
    const stack = (new Error().stack ?? '').split('\n').slice(2).join('\n');
    log('error', `ERROR: ${text(message)}\n\t${this.asString()}\n${stack}\n`);
  }

  /**
   * Prints a `util.format`-style message to stderr, prefixed with ">>> ".
   *
   * @throws Nothing of its own (a logger's exception propagates).
   * @original `$obj->debugmsg($fmt, @args)`
   */
  debugMsg(fmt: string, ...args: unknown[]): void {
    DangaSocket.debugMsg(fmt, ...args);
  }

  /**
   * The peer's IP address, or null (not connected, not an IP socket, closed).
   *
   * @throws Nothing.
   * @original `$obj->peer_ip_string()`
   */
  peerIpString(): string | null {
    return ipString(this.#address(true));
  }

  /**
   * "ip:port" of the peer ("[ip]:port" for IPv6), or null.
   *
   * @throws Nothing.
   * @original `$obj->peer_addr_string()`
   */
  peerAddrString(): string | null {
    return addrString(this.#address(true));
  }

  /**
   * The local IP address, or null.
   *
   * @throws Nothing.
   * @original `$obj->local_ip_string()`
   */
  localIpString(): string | null {
    return ipString(this.#address(false));
  }

  /**
   * "ip:port" of the local end ("[ip]:port" for IPv6), or null.
   *
   * @throws Nothing.
   * @original `$obj->local_addr_string()`
   */
  localAddrString(): string | null {
    return addrString(this.#address(false));
  }

  /** The peer's (or the local) address, asked once and kept (in Extras; a closed object that never asked has none). */
  #address(peer: boolean): SockAddress | null {
    return this.#ext === null && this.#t === null ? null : this.#extras().address(this.#t, peer);
  }

  /**
   * "ClassName(RW): open to 1.2.3.4:5"
   *
   * @throws Nothing.
   * @original `$obj->as_string()`
   */
  asString(): string {
    const rw = `(${this.#watch & POLLIN ? 'R' : ''}${this.#watch & POLLOUT ? 'W' : ''})`;
    let s = `${this.constructor.name}${rw}: ${this.#closed !== null ? 'closed' : 'open'}`;
    const peer = this.peerAddrString();
    if (peer !== null) s += ` to ${peer}`;
    return s;
  }
}
