/**
 * StreamSock: a DangaSocket over any Node Duplex (net.Socket,
 * tls.TLSSocket, an in-memory pair, a user's own stream) with the semantics
 * of a non-blocking socket.
 *
 * The stream is used in paused mode. What Node has read and not yet handed
 * out sits in the stream's readable buffer, which stands in for the kernel's
 * receive buffer: Node stops reading from the OS once it holds
 * `readableHighWaterMark` bytes, so a reader that stops reading (watchRead
 * off, or simply not reading) makes TCP backpressure reach the peer. The
 * writable buffer stands in for the kernel's send buffer: `write()` only
 * takes what fits below `writableHighWaterMark` (or, for a socket whose
 * buffer is empty, up to WHOLE_WRITE_MAX bytes in one go: a large write goes
 * to the socket whole, as a kernel with room takes it), so the write queue,
 * partial writes, EAGAIN and write interest behave as on a native socket.
 *
 * Readiness is computed, level-triggered, from the stream's state; the
 * stream's events only tell the loop to look again (the `onReady` given to
 * `attach`).
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { constants as osConstants } from 'node:os';
import { describe, errnoOf, invalidArgValue, systemError } from '../../core/errors.js';
import { EMPTY, POLLERR, POLLHUP, POLLIN, POLLOUT, noop } from '../../core/constants.js';
import type { Sock, SockAddress, Transport } from '../../core/contract.js';
import { allocateId } from './allocate-id.js';
import { eofReceived } from './node-internals.js';
import { isPeerClosed } from './pair.js';

const E = osConstants.errno;
/** Used when a stream reports a high-water mark of 0 (it would otherwise take nothing). */
const DEFAULT_CAPACITY = 16 * 1024;
/**
 * The most a write (or writev) hands a socket's stream (net.Socket,
 * tls.TLSSocket) at once when the stream's buffer is empty: 4 MiB, as far
 * as Linux lets a TCP send buffer grow by default (net.ipv4.tcp_wmem). A
 * large write then costs one write of the socket instead of one per
 * high-water mark (16 KiB), and the stream never holds more than this (or
 * its high-water mark, if larger): the bound of what the engine buffers per
 * socket beyond the object's own queue. Other streams (the in-memory socket
 * pair, a user's Duplex) have no write call to save and keep their
 * high-water mark as their send buffer.
 */
export const WHOLE_WRITE_MAX = 4 * 1024 * 1024;
/** How long a closed stream may take to flush what it holds before it is destroyed anyway. */
const LINGER_MS = 30_000;

/** Where a stream's addresses come from when Node does not know them (Unix sockets). */
export interface AddressHints {
  local?: SockAddress | null;
  remote?: SockAddress | null;
}

/** Options of a StreamSock. */
export interface StreamSockOptions {
  /** What `sock()` returns: the StreamSock itself (helpers) or the user's stream. */
  handle?: unknown;
  /** Descriptor-map id (default: a fresh negative id). */
  id?: number;
  addresses?: AddressHints;
  /**
   * Asked when the stream ends: an Error makes the end an error (a TLS
   * connection that ends before its handshake completed was cut off).
   */
  endError?: () => Error | null;
}

function ipAddress(address: string | undefined, port: number | undefined, family: string | undefined): SockAddress | null {
  if (typeof address !== 'string' || address === '' || typeof port !== 'number') return null;
  return { address, port, family: family === 'IPv6' || address.includes(':') ? 'IPv6' : 'IPv4' };
}

/**
 * A socket of the node engine: a Node Duplex driven as a non-blocking
 * socket. It is the Sock the helpers return (and `accept()` hands out) and
 * the Transport the core drives.
 *
 * Buffers given to `write()` are referenced, not copied, until the stream
 * has flushed them (as with Node's own `net`): do not modify a Buffer after
 * writing it.
 *
 * @throws Nothing of its own: made by the helpers (`connectTcp` on the node engine, `connectTls`, `accept()`), never with `new` by users.
 * @original new in danga-socket: the node engine's socket (1.62 hands around IO::Socket objects)
 */
export class StreamSock implements Sock, Transport {
  /**
   * The engine that moves its bytes: always 'node'.
   *
   * @original new in danga-socket
   */
  readonly engine = 'node' as const;
  /**
   * The underlying Node stream.
   *
   * @original new in danga-socket
   */
  readonly stream: Duplex;
  /**
   * The negative errno of the last failed read, 0 if none.
   *
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  lastError = 0;
  private readonly _id: number;
  private readonly _handle: unknown;
  private readonly _hints: AddressHints;
  private readonly _endError: (() => Error | null) | null;
  /** A socket's stream: an empty buffer takes up to WHOLE_WRITE_MAX at once. */
  private readonly _whole: boolean;
  private _closed: boolean;
  private _listening = false;
  private _onReady: (() => void) | null = null;
  private _mask = 0;
  private _corked = false;
  private _error: Error | null = null;
  /** A read returned null for the end of stream (or the error): POLLIN is no longer owed for it. */
  private _endReported = false;
  /** The error was reported by a read or a write: POLLERR is no longer owed for it. */
  private _errorReported = false;
  private readonly _onChange = (): void => this._changed();
  private readonly _onError = (err: unknown): void => {
    this._recordError(err);
    // Make every error terminal, as on a socket: the stream closes (POLLHUP),
    // and keeps the error as its `errored`.
    if (!this.stream.destroyed) this.stream.destroy(this._error as Error);
    this._changed();
  };

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  constructor(stream: Duplex, options: StreamSockOptions = {}) {
    this.stream = stream;
    this._id = options.id ?? allocateId();
    this._handle = options.handle ?? this;
    this._hints = options.addresses ?? {};
    this._endError = options.endError ?? null;
    this._whole = stream instanceof net.Socket;
    // Half-open like a socket: reading the peer's EOF must not end our side
    // (Node's default would, and writes still queued would then fail).
    stream.allowHalfOpen = true;
    this._closed = options.handle !== undefined && options.handle !== this && stream.destroyed;
    if (stream.errored) this._recordError(stream.errored);
    this._listen(true);
  }

  /**
   * Descriptor-map id (negative unless inherited from a native fd); -1 once closed.
   *
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
   * What `sock()` returns for it.
   *
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  get handle(): unknown {
    return this._handle;
  }

  /**
   * The error that ended the stream (TLS and certificate errors included), or null.
   *
   * @throws Nothing.
   * @original new in danga-socket
   */
  get error(): Error | null {
    return this._error ?? this.stream.errored ?? null;
  }

  /**
   * The pending error as a positive errno (like SO_ERROR), 0 when none; EPROTO for errors without an OS code (TLS).
   *
   * @throws Nothing.
   * @original `getsockopt($sock, SOL_SOCKET, SO_ERROR)`
   */
  socketError(): number {
    const err = this.error;
    return err === null ? 0 : -errnoOf(err, -E.EPROTO);
  }

  /**
   * TCP_NODELAY, where the stream is a TCP socket; ignored otherwise.
   *
   * @throws Nothing.
   * @original `setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1)`
   */
  setNoDelay(on = true): void {
    if (this._closed) return;
    if (this.stream instanceof net.Socket) this.stream.setNoDelay(on);
  }

  /**
   * Half-close: 'write' and 'both' end the writing side once what the stream
   * holds is sent (FIN; TLS sends close_notify). A stream cannot refuse what
   * the peer still sends, so 'read' does nothing.
   *
   * @throws Nothing.
   * @original `shutdown($sock, $how)`
   */
  shutdown(how: 'read' | 'write' | 'both' = 'write'): void {
    if (how !== 'read' && how !== 'write' && how !== 'both') {
      throw invalidArgValue('how', `must be 'read', 'write' or 'both'. Received ${describe(how)}`);
    }
    if (this._closed || how === 'read') return;
    if (!this.stream.writableEnded) this.stream.end();
  }

  /**
   * A connected socket has nothing to accept.
   *
   * @throws Nothing.
   * @original `$sock->accept` (IO::Socket)
   */
  accept(): Sock | null {
    if (this._closed) throw invalidArgValue('this', 'is a closed socket');
    throw systemError(-E.EINVAL, 'accept', 'on a socket that is not listening');
  }

  /**
   * @throws Nothing.
   * @original `getsockname($sock)` (IO::Socket's `sockhost`/`sockport`)
   */
  localAddress(): SockAddress | null {
    if (this._closed) return null;
    const s = this.stream;
    const a = s instanceof net.Socket ? ipAddress(s.localAddress, s.localPort, s.localFamily) : null;
    return a ?? this._hints.local ?? null;
  }

  /**
   * The peer's address once Node reports the socket connected (writable), as getpeername(2) would; null before.
   *
   * @throws Nothing.
   * @original `getpeername($sock)` (IO::Socket's `peerhost`/`peerport`)
   */
  remoteAddress(): SockAddress | null {
    if (this._closed) return null;
    const s = this.stream;
    const a = s instanceof net.Socket ? ipAddress(s.remoteAddress, s.remotePort, s.remoteFamily) : null;
    return a ?? this._hints.remote ?? null;
  }

  // ---------------------------------------------------------------- Transport

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  attach(mask: number, onReady: () => void): number {
    if (this._closed) return -E.EBADF;
    // Registered again (the same socket given to a second object): the new
    // object takes its events, as the fd's epoll registration would.
    this._onReady = onReady;
    this._mask = mask;
    this._listen(true);
    this._changed();
    return 0;
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  setInterest(mask: number): number {
    if (this._closed) return -E.EBADF;
    this._mask = mask;
    if (this.readiness() !== 0) this._changed();
    return 0;
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  detach(): number {
    this._onReady = null;
    this._mask = 0;
    // A user's stream handed back by stealSocket() gets no more of our listeners.
    if (this._handle !== this) this._listen(false);
    return 0;
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  readiness(): number {
    if (this._closed) return 0;
    const s = this.stream;
    const mask = this._mask;
    let r = 0;
    const finished = this._finished(); // (may turn an end into an error)
    const error = this.error !== null && !this._errorReported;
    // An error is reported by eventErr (with the Error in `error`), not by a
    // read returning null: a handler that closes on a null read would
    // otherwise never see it. Data that arrived before it is still readable.
    if (mask & POLLIN && (s.readableLength > 0 || (!error && finished && !this._endReported))) r |= POLLIN;
    if (mask & POLLOUT && this._writable() && this._room() > 0) r |= POLLOUT;
    if (error) r |= POLLERR;
    if (s.destroyed || isPeerClosed(s)) r |= POLLHUP;
    return r;
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  read(max: number): Buffer | null {
    if (this._closed) return null;
    const s = this.stream;
    const length = s.readableLength;
    let buf: Buffer | null;
    if (length > 0) {
      // read(n) for n > highWaterMark would raise the stream's high-water
      // mark (and so the data Node buffers); read() takes all there is.
      const hwm = s.readableHighWaterMark;
      buf = this._bytes(max >= length ? s.read() : s.read(max > hwm && hwm > 0 ? hwm : max));
    } else {
      buf = this._finished() ? null : this._bytes(s.read());
      if (buf !== null && buf.length > max) {
        s.unshift(buf.subarray(max));
        buf = buf.subarray(0, max);
      }
    }
    if (buf !== null) {
      // Node promises another 'readable' event only to a reader that read
      // until read() returned null; a read that emptied the buffer may have
      // been one short of that (more data can arrive during read()).
      if (s.readableLength === 0 && !this._finished()) {
        const more: unknown = s.read();
        if (more !== null) s.unshift(more);
      }
      return buf;
    }
    if (!this._finished()) return EMPTY;
    this._endReported = true;
    const err = this.error;
    if (err !== null && !this._errorReported) {
      this._errorReported = true;
      this.lastError = errnoOf(err, -E.EPROTO);
    }
    // Let Node emit 'end' (and close the stream once both sides are done).
    if (!s.destroyed) s.read();
    return null;
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  write(buf: Buffer, offset: number, length: number): number {
    if (this._closed) return -E.EBADF;
    const failed = this._writeFailure();
    if (failed !== 0) return failed;
    const s = this.stream;
    let written = 0;
    while (written < length) {
      const room = this._takes();
      if (room <= 0) break;
      const n = room < length - written ? room : length - written;
      const start = offset + written;
      s.write(start === 0 && n === buf.length ? buf : buf.subarray(start, start + n));
      written += n;
      // Node reports a write the kernel refused synchronously (EPIPE after
      // the peer reset) through the stream's error state.
      const err = this._writeFailure();
      if (err !== 0) return written > n ? written - n : err;
    }
    return written > 0 ? written : -E.EAGAIN;
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  writev(list: readonly unknown[], start: number, count: number, firstOffset: number): number {
    if (this._closed) return -E.EBADF;
    const failed = this._writeFailure();
    if (failed !== 0) return failed;
    const s = this.stream;
    // What the stream takes is decided once, before the first buffer: an
    // empty socket takes the whole call (up to WHOLE_WRITE_MAX).
    const room = this._takes();
    if (room <= 0) return -E.EAGAIN;
    // Corked, the buffers of one call go out in one writev of the stream.
    const cork = s.writableCorked === 0;
    if (cork) s.cork();
    let total = 0;
    try {
      for (let i = start; i < start + count && total < room; i++) {
        const buf = list[i] as Buffer;
        const off = i === start ? firstOffset : 0;
        const len = buf.length - off;
        const n = len < room - total ? len : room - total;
        s.write(off === 0 && n === buf.length ? buf : buf.subarray(off, off + n));
        total += n;
      }
    } finally {
      if (cork) s.uncork();
    }
    // A writev the kernel refused at once (uncork wrote it) failed whole.
    const err = this._writeFailure();
    return err !== 0 ? err : total;
  }

  /**
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  setCork(on: boolean): number {
    if (this._closed) return -E.EBADF;
    if (on === this._corked) return 0;
    this._corked = on;
    if (on) this.stream.cork();
    else this.stream.uncork();
    return 0;
  }

  /**
   * Closes like close(2): what the stream holds to send is still sent (then
   * FIN; TLS sends close_notify), unread data makes a TCP socket reset.
   *
   * @throws Nothing.
   * @original `close($sock)`
   */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    this._onReady = null;
    const s = this.stream;
    this._listen(false);
    s.on('error', noop); // late errors of a socket nobody watches any more
    if (this._corked) {
      this._corked = false;
      s.uncork();
    }
    if (s.destroyed) return;
    if (s.writableLength > 0 || (s instanceof tls.TLSSocket && s.writable)) {
      s.resume(); // discard what still arrives, as a closed socket does
      const timer = setTimeout(() => s.destroy(), LINGER_MS).unref();
      s.once('finish', () => s.destroy());
      s.once('close', () => clearTimeout(timer));
      s.end();
      return;
    }
    if (s.readableLength > 0 && !this._finished() && s instanceof net.Socket) {
      try {
        s.resetAndDestroy(); // TCP only: other handles throw ERR_INVALID_HANDLE_TYPE
        return;
      } catch {
        // fall through
      }
    }
    s.destroy();
  }

  /**
   * Gives the stream away (STARTTLS): no more listeners, and closing this
   * Sock no longer touches the stream. What it read and nobody took stays
   * in the stream.
   *
   * @internal the engine's side of the socket (the Transport the loop drives), not for users.
   */
  release(): Duplex {
    this._listen(false);
    this._onReady = null;
    this._closed = true;
    return this.stream;
  }

  // ---------------------------------------------------------------- internals

  private _changed(): void {
    if (this._onReady !== null) this._onReady();
  }

  /** A chunk of the stream as a Buffer (a stream with an encoding set hands out strings). */
  private _bytes(chunk: unknown): Buffer | null {
    if (chunk === null || chunk === undefined) return null;
    return typeof chunk === 'string' ? Buffer.from(chunk, this.stream.readableEncoding ?? 'utf8') : (chunk as Buffer);
  }

  private _recordError(err: unknown): void {
    if (this._error !== null) return;
    this._error = err instanceof Error ? err : new Error(String(err));
  }

  private _listen(on: boolean): void {
    if (on === this._listening) return;
    this._listening = on;
    const s = this.stream;
    const method = on ? 'on' : 'off';
    s[method]('readable', this._onChange);
    s[method]('end', this._onChange);
    s[method]('drain', this._onChange);
    s[method]('close', this._onChange);
    s[method]('connect', this._onChange);
    s[method]('peerclose', this._onChange);
    s[method]('error', this._onError);
  }

  /** The end of the stream is there (EOF, error or destroyed): a read returns null once the data is read. */
  private _finished(): boolean {
    const s = this.stream;
    const ended = eofReceived(s);
    if (ended && this._error === null && this._endError !== null) {
      const err = this._endError();
      if (err !== null) {
        this._recordError(err);
        if (!s.destroyed) s.destroy(err);
      }
    }
    return ended || s.destroyed || this.error !== null;
  }

  private _writable(): boolean {
    const s = this.stream;
    return s.writable && !(s instanceof net.Socket && s.connecting) && this.error === null;
  }

  /** Bytes the stream takes before it must drain (the emulated send buffer); writable while positive. */
  private _room(): number {
    const s = this.stream;
    const cap = s.writableHighWaterMark > 0 ? s.writableHighWaterMark : DEFAULT_CAPACITY;
    return cap - s.writableLength;
  }

  /**
   * Bytes one write (or writev) hands the stream now: the room below the
   * high-water mark, or, for a socket whose buffer is empty, up to
   * WHOLE_WRITE_MAX (a kernel with room takes a large write whole). A
   * corked stream whose buffer is full (TCP_CORK emulation) is flushed
   * first, as the kernel sends full frames of a corked socket.
   */
  private _takes(): number {
    const s = this.stream;
    if (s.writableCorked > 0 && s.writableLength > 0 && this._room() <= 0) this._flushCorked();
    const room = this._room();
    return this._whole && s.writableLength === 0 && room < WHOLE_WRITE_MAX ? WHOLE_WRITE_MAX : room;
  }

  /** -errno when writing can only fail (peer gone, error, ended), else 0. */
  private _writeFailure(): number {
    const s = this.stream;
    const err = this.error;
    if (err !== null) {
      this._errorReported = true;
      return errnoOf(err, -E.EPIPE);
    }
    if (s.destroyed || s.writableEnded || !s.writable || isPeerClosed(s)) return -E.EPIPE;
    return 0;
  }

  private _flushCorked(): void {
    const s = this.stream;
    const depth = s.writableCorked;
    for (let i = 0; i < depth; i++) s.uncork();
    for (let i = 0; i < depth; i++) s.cork();
  }
}
