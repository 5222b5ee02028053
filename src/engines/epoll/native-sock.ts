/**
 * A socket of the native engine: an fd the addon created (or was given),
 * registered with the process's epoll set. It is both the Sock users see and
 * the Transport the core drives.
 */
import { describe, errno, invalidArgValue, systemError } from '../../core/errors.js';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Sock, SockAddress, Transport } from '../../core/contract.js';
import type { NativeBinding } from './binding.js';

const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;
const EAGAIN = -errno.EAGAIN;
const EEXIST = -errno.EEXIST;

// Reads land in a shared slab and are handed out as views of it, as Node's
// own stream reads do: no allocation per read beyond the view, one slab per
// SLAB_SIZE bytes read. A read asks for min(n, what the slab has left), but
// a fresh slab is taken rather than read less than MIN_SLAB_READ: the usual
// read(65536) of a bulk transfer then always gets 64 KiB at once (reading
// only the slab's tail measured ~20% slower streaming), while small reads
// share a slab. Level-triggered readiness brings any rest next iteration.
const SLAB_SIZE = 128 * 1024;
const MIN_SLAB_READ = 64 * 1024;
const READ_CAP = 1024 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabOffset = 0;
const EMPTY = Buffer.alloc(0);

/** A socket fd driven by the native engine. */
export class NativeSock implements Sock, Transport {
  readonly engine = 'epoll' as const;
  private _fd: number;
  private _closed = false;
  lastError = 0;
  private readonly b: NativeBinding;
  private readonly tcpLevel: number;
  private readonly tcpCork: number;

  /** @internal use the helpers (listenTcp, …) or `accept()` */
  constructor(binding: NativeBinding, fd: number) {
    this.b = binding;
    this._fd = fd;
    this.tcpLevel = binding.constants.IPPROTO_TCP as number;
    this.tcpCork = binding.constants.TCP_CORK as number;
  }

  get fd(): number {
    return this._fd;
  }

  get closed(): boolean {
    return this._closed;
  }

  get handle(): NativeSock {
    return this;
  }

  /** Accepts one pending connection; null when none is pending. Throws on other errors (EMFILE, …). */
  accept(): NativeSock | null {
    if (this._closed) throw invalidArgValue('this', 'is a closed socket');
    const fd = this.b.accept(this._fd);
    if (fd >= 0) return new NativeSock(this.b, fd);
    if (fd === EAGAIN) return null;
    throw systemError(fd, 'accept');
  }

  localAddress(): SockAddress | null {
    if (this._closed) return null;
    try {
      return this.b.getsockname(this._fd);
    } catch {
      return null;
    }
  }

  remoteAddress(): SockAddress | null {
    if (this._closed) return null;
    try {
      return this.b.getpeername(this._fd);
    } catch {
      return null;
    }
  }

  /**
   * Gives the connection to Node as a net.Socket (STARTTLS). The fd now
   * belongs to Node: this Sock counts as closed, and closing it later leaves
   * the fd alone.
   */
  release(): Duplex {
    this.detach();
    let stream: net.Socket;
    try {
      stream = new net.Socket({ fd: this._fd, readable: true, writable: true, allowHalfOpen: true });
    } catch (err) {
      throw invalidArgValue('this', `has fd ${this._fd}, which Node cannot drive as a stream`, err);
    }
    this._closed = true;
    this._fd = -1;
    return stream;
  }

  /** Closes the fd now. */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    this.b.close(this._fd);
    this._fd = -1;
  }

  shutdown(how: 'read' | 'write' | 'both' = 'write'): void {
    if (this._closed) return;
    const code = how === 'read' ? 0 : how === 'write' ? 1 : how === 'both' ? 2 : -1;
    if (code < 0) throw invalidArgValue('how', `must be 'read', 'write' or 'both'. Received ${describe(how)}`);
    const rc = this.b.shutdown(this._fd, code);
    // Not connected (yet, or any more): nothing to shut down.
    if (rc < 0 && rc !== -errno.ENOTCONN) throw systemError(rc, 'shutdown', `fd ${this._fd}`);
  }

  socketError(): number {
    if (this._closed) return errno.EBADF;
    try {
      return this.b.getsockopt(this._fd, this.b.constants.SOL_SOCKET as number, this.b.constants.SO_ERROR as number);
    } catch (err) {
      return -(((err as { errno?: number }).errno ?? -errno.EINVAL) as number);
    }
  }

  setNoDelay(on = true): void {
    if (this._closed) return;
    const rc = this.setOption(this.tcpLevel, this.b.constants.TCP_NODELAY as number, on ? 1 : 0);
    if (rc < 0 && rc !== -errno.EOPNOTSUPP && rc !== -errno.ENOPROTOOPT) throw systemError(rc, 'setsockopt', 'TCP_NODELAY');
  }

  /** Sets an integer socket option; 0 or -errno. */
  setOption(level: number, name: number, value: number): number {
    return this.b.setsockopt(this._fd, level, name, value);
  }

  attach(mask: number, _onReady: () => void): number {
    const rc = this.b.ctl(EPOLL_CTL_ADD, this._fd, mask);
    // Registered twice: take the new interest mask.
    return rc === EEXIST ? this.b.ctl(EPOLL_CTL_MOD, this._fd, mask) : rc;
  }

  setInterest(mask: number): number {
    return this.b.ctl(EPOLL_CTL_MOD, this._fd, mask);
  }

  detach(): number {
    return this.b.ctl(EPOLL_CTL_DEL, this._fd, 0);
  }

  read(max: number): Buffer | null {
    let want = max < READ_CAP ? max : READ_CAP;
    let avail = SLAB_SIZE - slabOffset;
    if (want > avail && avail < MIN_SLAB_READ) {
      slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      slabOffset = 0;
      avail = SLAB_SIZE;
    }
    if (want > avail) {
      if (want > SLAB_SIZE) return this.readLarge(want);
      want = avail;
    }
    const n = this.b.read(this._fd, slab, slabOffset, want);
    if (n > 0) {
      const out = slab.subarray(slabOffset, slabOffset + n);
      slabOffset += (n + 7) & ~7;
      return out;
    }
    if (n === EAGAIN) return EMPTY;
    if (n < 0) this.lastError = n;
    return null;
  }

  /** A read bigger than a slab gets its own buffer. */
  private readLarge(want: number): Buffer | null {
    const buf = Buffer.allocUnsafeSlow(want);
    const n = this.b.read(this._fd, buf, 0, want);
    if (n > 0) return n * 2 < want ? Buffer.from(buf.subarray(0, n)) : buf.subarray(0, n);
    if (n === EAGAIN) return EMPTY;
    if (n < 0) this.lastError = n;
    return null;
  }

  write(buf: Buffer, offset: number, length: number): number {
    return this.b.write(this._fd, buf, offset, length);
  }

  writev(list: readonly unknown[], start: number, count: number, firstOffset: number): number {
    return this.b.writev(this._fd, list, start, count, firstOffset);
  }

  setCork(on: boolean): number {
    return this.b.setsockopt(this._fd, this.tcpLevel, this.tcpCork, on ? 1 : 0);
  }
}
