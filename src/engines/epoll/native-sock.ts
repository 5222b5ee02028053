/**
 * A socket of the native engine: an fd the addon created (or was given),
 * registered with the process's epoll set. It is both the Sock users see and
 * the Transport the core drives.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, errno, invalidArgValue, systemError } from '../../core/errors.js';
import type { Sock, SockAddress, Transport } from '../../core/contract.js';
import { EPOLL_CTL, ioSlots, type NativeBinding } from './binding.js';
import { EMPTY, POLLIN, POLLOUT } from '../../core/constants.js';

const EAGAIN = -errno.EAGAIN;
// The hot path's read and write pass their numbers through the
// shared slots (binding.ts, native/io_slots.h) rather than as arguments.
const io = ioSlots;
const EEXIST = -errno.EEXIST;
const ENOENT = -errno.ENOENT;

// Reads land in a shared slab. A caller may keep what read() returns (line
// protocols keep the partial line between reads), and a kept view keeps its
// whole ArrayBuffer alive: 2,000 kept 18-byte views of 128 KiB slabs between
// bulk reads held 250 MiB. So what a kept read holds is bounded by its
// length:
// - a read of COPY_BELOW bytes or more is handed out as a view of the slab
//   (no copy, no allocation beyond the view), pinning at most SLAB_SIZE, at
//   most 8 times its length;
// - a shorter read is copied into a pool chunk of its size class (see
//   copyOut), pinning at most POOL_FACTOR times its length, and the slab
//   space is used again (so it stays in cache).
// A read asks for min(n, what the slab has left), but a fresh slab is taken
// rather than read less than MIN_SLAB_READ: the usual read(65536) of a bulk
// transfer then always gets 64 KiB at once (reading only the slab's tail
// measured ~20% slower streaming). Level-triggered readiness brings any rest
// next iteration.
const SLAB_SIZE = 128 * 1024;
const MIN_SLAB_READ = 64 * 1024;
const COPY_BELOW = 16 * 1024;
const READ_CAP = 1024 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
// The slab's ArrayBuffer, for copyOut: `slab.buffer` is a call into
// the runtime each time (V8's TypedArray buffer getter), ~2% of a 64-byte
// ping-pong's user time. allocUnsafeSlow's byteOffset is 0.
let slabBuffer = slab.buffer;
let slabOffset = 0;
// A read of more than a slab (read(1 << 20), as Gearman::Server reads)
// lands in one buffer of the largest such size asked for (at most
// READ_CAP), made once and reused: a fresh one per call cost 3x the CPU of
// a 16-byte ping-pong at 1 MiB, in allocation and the garbage collection of
// memory never used. It is handed out only when the read filled at least
// half of it (pinning at most twice the read's length), and made again by
// the next large read.
let large: Buffer | null = null;

// Pools for the copies of short reads, one per size class: class c holds
// reads of 2^c to 2^(c+1) - 1 bytes in chunks of POOL_FACTOR * 2^c bytes,
// so a kept copy pins at most POOL_FACTOR times its length, and a chunk
// takes at least POOL_FACTOR / 2 reads: one ArrayBuffer per 8-16 reads. (An
// ArrayBuffer of its own per read, as Node's streams make, cost 64-byte
// ping-pong ~10% more server CPU per round trip, much of it in the garbage
// collector; see "Reads that do not pin" in BENCHMARKS.md.)
const POOL_FACTOR = 16;
const POOL_CLASSES = 31 - Math.clz32(COPY_BELOW - 1) + 1;
const pools: (Buffer | null)[] = new Array<Buffer | null>(POOL_CLASSES).fill(null);
const poolUsed = new Int32Array(POOL_CLASSES);

// A short read (fewer bytes than asked for, or none) of a stream socket
// means its receive queue is empty for now: a read after it in the same
// iteration of the loop would find EAGAIN, a syscall that tells nothing
// level-triggered readiness would not. So a stream socket remembers, by
// the iteration's number, that it was drained, and read() answers "nothing
// now" without a syscall until the next iteration, which reports it
// readable again as soon as more has arrived (end of stream included: it
// is reported one iteration later, by the read that finds it). The framing
// helpers read until a read brings nothing: that last read costs nothing.
// Outside iterations (Node's own callbacks, code before the loop runs) the
// number is even and nothing is remembered: every read makes its syscall.
// (It stays a small non-negative integer, wrapping after 2^29 iterations.)
// (Datagram and seqpacket sockets are not streams: one read takes one
// record, and a short one says nothing of the next.)
let iteration = 0;

/** @internal The EpollDriver: an iteration of the loop begins (the number becomes odd). */
export function iterationBegins(): void {
  iteration = ((iteration + 1) & 0x3fffffff) | 1;
}

/** @internal The EpollDriver: the iteration ended (the number becomes even: nothing remembered holds). */
export function iterationEnds(): void {
  iteration = (iteration + 1) & 0x3ffffffe;
}

// An idle connection costs its objects and nothing else, so a NativeSock
// keeps four fields (56 bytes of heap; it had eight): what is usually the
// same for every socket is encoded in the fields that vary. `_fd` is the fd
// when open, CLOSED after close(), and RELEASED - fd after release() (the
// original fd, kept open so that its number stays reserved until close());
// `_drainedIn` is NOT_STREAM for a datagram or seqpacket socket. The
// engine's name is the prototype's. (9,000 idle connections: BENCHMARKS.md,
// "Where the memory goes".)
const CLOSED = -1;
const RELEASED = -2;
const NOT_STREAM = -2;

/** A socket fd driven by the native engine. */
export class NativeSock implements Sock, Transport {
  /** The fd (>= 0), CLOSED, or RELEASED - (the original fd) after release(). */
  private _fd: number;
  lastError = 0;
  protected readonly b: NativeBinding;
  /**
   * The (odd) number of the iteration in which a short read drained it; -1:
   * none; NOT_STREAM: a datagram or seqpacket socket, for which a short read
   * says nothing of the next.
   */
  private _drainedIn: number;

  /** @internal use the helpers (listenTcp, …) or `accept()`; `stream` false for a datagram or seqpacket socket. */
  constructor(binding: NativeBinding, fd: number, stream = true) {
    this._fd = fd;
    this.b = binding;
    this._drainedIn = stream ? -1 : NOT_STREAM;
  }

  get engine(): 'epoll' {
    return 'epoll';
  }

  get fd(): number {
    return this._fd >= 0 ? this._fd : -1;
  }

  get closed(): boolean {
    return this._fd < 0;
  }

  get handle(): NativeSock {
    return this;
  }

  /** Accepts one pending connection; null when none is pending. Throws on other errors (EMFILE, …). */
  accept(): NativeSock | null {
    if (this._fd < 0) throw invalidArgValue('this', 'is a closed socket');
    const fd = this.b.accept(this._fd);
    if (fd >= 0) return new NativeSock(this.b, fd, this._drainedIn !== NOT_STREAM);
    if (fd === EAGAIN) return null;
    throw systemError(fd, 'accept');
  }

  localAddress(): SockAddress | null {
    if (this._fd < 0) return null;
    const r = this.b.getsockname(this._fd);
    return typeof r === 'number' ? null : r;
  }

  remoteAddress(): SockAddress | null {
    if (this._fd < 0) return null;
    const r = this.b.getpeername(this._fd);
    return typeof r === 'number' ? null : r;
  }

  /**
   * Gives the connection to Node as a stream (STARTTLS): detaches the fd
   * from epoll and returns a net.Socket over a dup of it. From then on this
   * Sock counts as closed (`closed` true, `fd` -1), but its own fd stays
   * open, so that its number stays reserved: Node may close the dup at any
   * time (at once, when a TLS handshake fails), while the DangaSocket that
   * owned this Sock is filed under the original number until its deferred
   * close. `close()` then closes the original fd, never Node's dup; the
   * connection ends once both are closed.
   */
  release(): Duplex {
    if (this._fd < 0) throw invalidArgValue('this', 'is a closed socket');
    const fd = this._fd;
    this.b.ctl(EPOLL_CTL.DEL, fd, 0); // (may not be registered: ENOENT)
    const dup = this.b.dup(fd);
    if (dup < 0) throw systemError(dup, 'dup', `fd ${fd}`);
    let stream: Duplex;
    try {
      stream = new net.Socket({ fd: dup, readable: true, writable: true, allowHalfOpen: true });
    } catch (err) {
      this.b.close(dup);
      throw invalidArgValue('this', `has fd ${fd}, which Node cannot drive as a stream`, err);
    }
    this._fd = RELEASED - fd;
    return stream;
  }

  /**
   * @internal Undoes `release()` when its stream could not be used (the
   * caller destroyed it, which closed only the dup): the Sock is open
   * again, as before, and can be attached again.
   */
  _unrelease(): void {
    if (this._fd <= RELEASED) this._fd = RELEASED - this._fd;
  }

  /** Closes the fd now (after `release()`: the original fd, whose number it reserved). */
  close(): void {
    const fd = this._fd;
    if (fd === CLOSED) return;
    this._fd = CLOSED;
    this.b.close(fd >= 0 ? fd : RELEASED - fd);
  }

  shutdown(how: 'read' | 'write' | 'both' = 'write'): void {
    if (this._fd < 0) return;
    const code = how === 'read' ? 0 : how === 'write' ? 1 : how === 'both' ? 2 : -1;
    if (code < 0) throw invalidArgValue('how', `must be 'read', 'write' or 'both'. Received ${describe(how)}`);
    const rc = this.b.shutdown(this._fd, code);
    // Not connected (yet, or any more): nothing to shut down.
    if (rc < 0 && rc !== -errno.ENOTCONN) throw systemError(rc, 'shutdown', `fd ${this._fd}`);
  }

  socketError(): number {
    if (this._fd < 0) return errno.EBADF;
    // SO_ERROR's value, or the errno of a getsockopt that failed: positive either way.
    const r = this.b.socketError(this._fd);
    return r < 0 ? -r : r;
  }

  setNoDelay(on = true): void {
    if (this._fd < 0) return;
    const rc = this.b.setNoDelay(this._fd, !!on);
    if (rc < 0 && rc !== -errno.EOPNOTSUPP && rc !== -errno.ENOPROTOOPT) throw systemError(rc, 'setsockopt', 'TCP_NODELAY');
  }

  attach(mask: number, _onReady: () => void): number {
    const rc = this.b.ctl(EPOLL_CTL.ADD, this._fd, mask);
    // Registered twice: take the new interest mask.
    return rc === EEXIST ? this.b.ctl(EPOLL_CTL.MOD, this._fd, mask) : rc;
  }

  setInterest(mask: number): number {
    return this.b.ctl(EPOLL_CTL.MOD, this._fd, mask);
  }

  detach(): number {
    return this.b.ctl(EPOLL_CTL.DEL, this._fd, 0);
  }

  read(max: number): Buffer | null {
    if (this._drainedIn === iteration) return EMPTY;
    let want = max < READ_CAP ? max : READ_CAP;
    let avail = SLAB_SIZE - slabOffset;
    if (want > avail && avail < MIN_SLAB_READ) {
      slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      slabBuffer = slab.buffer;
      slabOffset = 0;
      avail = SLAB_SIZE;
    }
    if (want > avail) {
      if (want > SLAB_SIZE) return this.readLarge(want);
      want = avail;
    }
    io[0] = this._fd;
    io[1] = slabOffset;
    io[2] = want;
    this.b.readIo(slabBuffer);
    const n = io[3]!;
    if ((n > 0 ? n < want : n === EAGAIN) && iteration & 1 && this._drainedIn !== NOT_STREAM) this._drainedIn = iteration;
    if (n >= COPY_BELOW) {
      const out = slab.subarray(slabOffset, slabOffset + n);
      slabOffset += (n + 7) & ~7;
      return out;
    }
    if (n > 0) return copyOut(slabBuffer, slabOffset, n);
    if (n === EAGAIN) return EMPTY;
    if (n < 0) this.lastError = n;
    return null;
  }

  /**
   * A read bigger than a slab lands in the large read buffer, which is
   * handed out (and a new one made by the next large read) only when the
   * read filled at least half of it; what a smaller read got is copied out
   * (as a slab read's is), so the call costs what arrived, not `want`.
   */
  private readLarge(want: number): Buffer | null {
    let buf = large;
    if (buf === null || buf.length < want) buf = large = Buffer.allocUnsafeSlow(want);
    const n = this.b.read(this._fd, buf, 0, want);
    if ((n > 0 ? n < want : n === EAGAIN) && iteration & 1 && this._drainedIn !== NOT_STREAM) this._drainedIn = iteration;
    if (n > 0) {
      if (n < COPY_BELOW) return copyOut(buf.buffer, buf.byteOffset, n);
      if (n * 2 < buf.length) return copyExact(buf, 0, n);
      large = null;
      return buf.subarray(0, n);
    }
    if (n === EAGAIN) return EMPTY;
    if (n < 0) this.lastError = n;
    return null;
  }

  write(buf: Buffer, offset: number, length: number): number {
    io[0] = this._fd;
    io[1] = offset;
    io[2] = length;
    this.b.writeIo(buf);
    return io[3]!;
  }

  writev(list: readonly unknown[], start: number, count: number, firstOffset: number): number {
    return this.b.writev(this._fd, list, start, count, firstOffset);
  }

  sendFile(fileFd: number, position: number, count: number): number {
    return this.b.sendfile(this._fd, fileFd, position, count);
  }

  setCork(on: boolean): number {
    return this.b.setCork(this._fd, !!on);
  }
}

/** EPOLLEXCLUSIVE (linux/eventpoll.h): of the epoll sets watching one socket, one is woken per event. */
const EPOLLEXCLUSIVE = 1 << 28;

/**
 * A listening socket shared by several loops (a worker group's 'shared'
 * mode), registered with EPOLLEXCLUSIVE so that a connection wakes one loop
 * rather than all. The kernel refuses EPOLL_CTL_MOD on such a registration,
 * so a change of interest registers it again.
 */
export class ExclusiveListenSock extends NativeSock {
  override attach(mask: number, _onReady: () => void): number {
    return this.setInterest(mask);
  }

  override setInterest(mask: number): number {
    const rc = this.detach();
    if (rc < 0 && rc !== ENOENT) return rc;
    // (The kernel takes only these bits with EPOLLEXCLUSIVE; errors and hangups are reported anyway.)
    const bits = mask & (POLLIN | POLLOUT);
    return bits === 0 ? 0 : this.b.ctl(EPOLL_CTL.ADD, this.fd, bits | EPOLLEXCLUSIVE);
  }
}

/**
 * `n` (1 to COPY_BELOW - 1) bytes of the ArrayBuffer `src` from byte `start`,
 * copied into the pool chunk of their size class. Never Node's shared 8 KiB
 * pool, whose chunk a kept Buffer.from() of a few bytes keeps alive whatever
 * its length.
 */
function copyOut(src: ArrayBufferLike, start: number, n: number): Buffer {
  const c = 31 - Math.clz32(n);
  let pool = pools[c] ?? null;
  let used = poolUsed[c]!;
  if (pool === null || used + n > pool.length) {
    pool = pools[c] = Buffer.allocUnsafeSlow(POOL_FACTOR << c);
    used = 0;
  }
  // (TypedArray#set over a view: Buffer#copy validates its arguments first.)
  pool.set(new Uint8Array(src, start, n), used);
  poolUsed[c] = used + n;
  return pool.subarray(used, used + n);
}

/** `n` bytes of `src` from `start` in a Buffer of exactly their length. */
function copyExact(src: Buffer, start: number, n: number): Buffer {
  const out = Buffer.allocUnsafeSlow(n);
  src.copy(out, 0, start, start + n);
  return out;
}
