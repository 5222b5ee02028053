/**
 * SimSock: a socket of the simulated network, with the semantics of a
 * non-blocking Linux socket (the epoll engine is the reference): level-
 * triggered readiness computed from its state, reads and writes that take
 * what there is or fail with a negative errno, end of stream readable for
 * ever, SO_ERROR consumed by the first read or write that reports it, a
 * descriptor number held until close.
 *
 * TCP ends: a peer's close is end of stream (POLLIN), not a hangup; a hangup
 * (POLLHUP) comes once both directions are shut or the connection was
 * reset. A close with unread data, or data arriving after close, resets the
 * connection, as Linux does. Unix ends (socketPair, listenUnix/connectUnix)
 * follow AF_UNIX: no delay, no reset, a peer's close is end of stream and a
 * hangup, and a write after it fails with EPIPE.
 */
import { constants as osConstants } from 'node:os';
import type { Duplex } from 'node:stream';
import { POLLERR, POLLHUP, POLLIN, POLLOUT } from '../../core/constants.js';
import type { Sock, SockAddress, Transport } from '../../core/contract.js';
import { describe, invalidArgValue, stateError, systemError } from '../../core/errors.js';
import type { SimNetwork } from './network.js';

const E = osConstants.errno;
const EMPTY = Buffer.alloc(0);

/** One direction of a connection: the bytes one end wrote, on their way to the other. */
export class Pipe {
  /** Bytes sent and not yet arrived. */
  inflight = 0;
  /** When the link is free again (virtual ms): bandwidth spaces segments out. */
  linkFree = 0;
  /** Reset: what is still in flight is lost. */
  dead = false;
  /** End of stream (FIN) or reset (RST) sent: nothing more is sent. */
  finished = false;
  /** A reset (RST) is on its way. */
  rst = false;

  constructor(
    readonly to: SimSock,
    /** One-way delay, virtual ms (0 for Unix sockets). */
    readonly delay: number,
    /** Bytes per virtual ms; Infinity when unlimited. */
    readonly bandwidth: number,
    /** Bytes in flight plus unread at the receiver before a write gets EAGAIN. */
    readonly window: number,
  ) {}
}

/** What kind of socket: a listening one, or one end of a connection. */
export type SimSockKind = 'listen' | 'stream';

function maskText(mask: number): string {
  const parts: string[] = [];
  if (mask & POLLIN) parts.push('IN');
  if (mask & POLLOUT) parts.push('OUT');
  if (mask & POLLERR) parts.push('ERR');
  if (mask & POLLHUP) parts.push('HUP');
  return parts.join('|');
}

/** A socket of the simulated network: the Sock the helpers return and the Transport the loop drives. */
export class SimSock implements Sock, Transport {
  readonly engine = 'sim' as const;
  lastError = 0;
  /** Bytes written into the network so far (for properties: what a write callback may assume is out). */
  bytesWritten = 0;
  /** Bytes read from the network so far. */
  bytesRead = 0;
  /** @internal */
  _fd: number;
  /** @internal the connection's id in the trace */
  readonly _id: number;
  /** @internal */
  _closed = false;
  /** @internal Unix socket semantics (no delay, no reset) */
  readonly _unix: boolean;
  /** @internal connect() not answered yet */
  _connecting = false;
  /** @internal the other end, once connected */
  _peer: SimSock | null = null;
  /** @internal our direction, once connected */
  _out: Pipe | null = null;
  /** @internal received and not read */
  readonly _rcv: Buffer[] = [];
  /** @internal */
  _rcvBytes = 0;
  /** @internal the peer's end of stream arrived */
  _eof = false;
  /** @internal shutdown('read') */
  _rdShut = false;
  /** @internal shutdown('write') or close: FIN sent */
  _wrShut = false;
  /** @internal the connection was reset (or refused) */
  _reset = false;
  /** @internal the peer (Unix) closed: hangup */
  _peerGone = false;
  /** @internal SO_ERROR, a positive errno; 0 when none */
  _error = 0;
  /** @internal a listening socket's accept queue */
  readonly _queue: SimSock[] = [];
  /** @internal a listening socket's backlog */
  _backlog = 0;
  /** @internal a listening socket's key in the network */
  _listenKey = '';
  /** @internal */
  _local: SockAddress | null;
  /** @internal */
  _remote: SockAddress | null;
  /** @internal */
  _mask = 0;
  /** @internal */
  _onReady: (() => void) | null = null;
  readonly #net: SimNetwork;
  readonly #kind: SimSockKind;

  /** @internal made by the network */
  constructor(net: SimNetwork, kind: SimSockKind, unix: boolean, fd: number, id: number, local: SockAddress | null, remote: SockAddress | null) {
    this.#net = net;
    this.#kind = kind;
    this._unix = unix;
    this._fd = fd;
    this._id = id;
    this._local = local;
    this._remote = remote;
  }

  /** The (simulated) file descriptor: a small number, the lowest free one, as the kernel gives them; -1 once closed. */
  get fd(): number {
    return this._closed ? -1 : this._fd;
  }

  get closed(): boolean {
    return this._closed;
  }

  get handle(): SimSock {
    return this;
  }

  /** What the trace calls it: fdN, or cN for an end not accepted yet. */
  get name(): string {
    return this._fd >= 0 ? `fd${this._fd}` : `c${this._id}`;
  }

  /** True for a listening socket. */
  get listening(): boolean {
    return this.#kind === 'listen';
  }

  accept(): SimSock | null {
    if (this._closed) throw invalidArgValue('this', 'is a closed socket');
    if (this.#kind !== 'listen') throw systemError(-E.EINVAL, 'accept', 'on a socket that is not listening');
    return this.#net.accept(this);
  }

  localAddress(): SockAddress | null {
    return this._closed ? null : this._local;
  }

  remoteAddress(): SockAddress | null {
    if (this._closed || this._connecting || this._peer === null) return null;
    return this._remote;
  }

  close(): void {
    if (this._closed) return;
    this.#net.close(this);
  }

  socketError(): number {
    if (this._closed) return E.EBADF;
    const e = this._error;
    this._error = 0;
    return e;
  }

  setNoDelay(_on?: boolean): void {}

  shutdown(how: 'read' | 'write' | 'both' = 'write'): void {
    if (how !== 'read' && how !== 'write' && how !== 'both') {
      throw invalidArgValue('how', `must be 'read', 'write' or 'both'. Received ${describe(how)}`);
    }
    if (this._closed || this._peer === null || this._connecting) return;
    this.#net.shutdown(this, how);
  }

  // ---------------------------------------------------------------- Transport

  attach(mask: number, onReady: () => void): number {
    if (this._closed) return -E.EBADF;
    this._onReady = onReady;
    this._mask = mask;
    this.#net.markDirty(this);
    return 0;
  }

  setInterest(mask: number): number {
    if (this._closed) return -E.EBADF;
    this._mask = mask;
    if (this.readiness() !== 0) this.#net.markDirty(this);
    return 0;
  }

  detach(): number {
    this._onReady = null;
    this._mask = 0;
    return 0;
  }

  readiness(): number {
    if (this._closed) return 0;
    const mask = this._mask;
    let r = 0;
    if (this.#kind === 'listen') {
      if (mask & POLLIN && this._queue.length > 0) r |= POLLIN;
      return r;
    }
    const ended = this._eof || this._rdShut || this._reset;
    if (mask & POLLIN && (this._rcvBytes > 0 || ended)) r |= POLLIN;
    if (mask & POLLOUT && !this._connecting && (this._reset || this._wrShut || this._peerGone || this.#room() > 0)) r |= POLLOUT;
    if (this._error !== 0) r |= POLLERR;
    if (this._reset || this._peerGone || ((this._eof || this._rdShut) && this._wrShut)) r |= POLLHUP;
    return r;
  }

  /** The readiness as the trace shows it. */
  readinessText(): string {
    return maskText(this.readiness());
  }

  read(max: number): Buffer | null {
    if (this._closed) {
      this.lastError = -E.EBADF;
      return null;
    }
    const net = this.#net;
    if (this.#kind === 'listen' || this._connecting) return EMPTY;
    if (this._rcvBytes > 0) {
      const f = net.faults;
      // A spurious wakeup; never while an error is pending, when the kernel's answer is definite.
      if (this._error === 0 && !this._reset && net.prng.chance(f.readEagain)) {
        net.log(`read ${this.name} EAGAIN*`);
        return EMPTY;
      }
      if (!this._unix && !this._reset && net.prng.chance(f.reset)) {
        net.abort(this, 'read');
        // What had arrived is still readable (the kernel keeps the receive queue); the error comes after it.
      }
      let n = max < this._rcvBytes ? max : this._rcvBytes;
      let short = '';
      if (n > 1 && net.prng.chance(f.shortRead)) {
        n = net.prng.int(1, n - 1);
        short = '*';
      }
      const out = this.#take(n);
      net.log(`read ${this.name} ${n}/${max}${short}`);
      net.progress();
      this.bytesRead += n;
      // Room for the sender again.
      const peer = this._peer;
      if (peer !== null && !peer._closed) net.markDirty(peer);
      return out;
    }
    if (this._error !== 0) {
      this.lastError = -this._error;
      this._error = 0;
      net.log(`read ${this.name} ${errName(this.lastError)}`);
      net.progress();
      return null;
    }
    if (this._eof || this._rdShut || this._reset) {
      net.log(`read ${this.name} EOF`);
      return null;
    }
    return EMPTY;
  }

  write(buf: Buffer, offset: number, length: number): number {
    const rc = this.#writable();
    if (rc !== 0) return rc;
    const n = this.#takeRoom(length);
    if (n <= 0) return n;
    const bytes = Buffer.from(buf.subarray(offset, offset + n));
    this.#net.send(this, bytes);
    this.bytesWritten += n;
    return n;
  }

  writev(list: readonly unknown[], start: number, count: number, firstOffset: number): number {
    let want = 0;
    for (let i = start; i < start + count; i++) want += (list[i] as Buffer).length - (i === start ? firstOffset : 0);
    const rc = this.#writable();
    if (rc !== 0) return rc;
    const n = this.#takeRoom(want);
    if (n <= 0) return n;
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    for (let i = start; i < start + count && at < n; i++) {
      const b = list[i] as Buffer;
      const off = i === start ? firstOffset : 0;
      const len = Math.min(b.length - off, n - at);
      b.copy(out, at, off, off + len);
      at += len;
    }
    this.#net.send(this, out);
    this.bytesWritten += n;
    return n;
  }

  /** TCP_CORK has no effect on the simulated network (nothing is sent in frames); 0 for TCP, as the kernel says. */
  setCork(_on: boolean): number {
    if (this._closed) return -E.EBADF;
    return this._unix ? -E.EOPNOTSUPP : 0;
  }

  /** STARTTLS is not simulated. */
  release(): Duplex {
    throw stateError('ERR_DANGA_SIM_UNSUPPORTED', 'TLS (startTls) is not simulated: the simulated network has no Node stream to give TLS');
  }

  // ---------------------------------------------------------------- internals

  /** 0 when a write may go ahead, else what it returns. */
  #writable(): number {
    if (this._closed) return -E.EBADF;
    const net = this.#net;
    if (this.#kind === 'listen') return -E.ENOTCONN;
    if (this._error !== 0) {
      const e = -this._error;
      this._error = 0;
      net.log(`write ${this.name} ${errName(e)}`);
      return e;
    }
    if (this._reset || this._wrShut || this._peerGone) {
      net.log(`write ${this.name} EPIPE`);
      return -E.EPIPE;
    }
    if (this._connecting) return -E.EAGAIN;
    const f = net.faults;
    if (!this._unix && net.prng.chance(f.reset)) {
      net.abort(this, 'write');
      this._error = 0;
      net.log(`write ${this.name} ECONNRESET`);
      return -E.ECONNRESET;
    }
    if (net.prng.chance(f.writeEagain)) {
      net.log(`write ${this.name} EAGAIN*`);
      return -E.EAGAIN;
    }
    return 0;
  }

  /** How much of `want` bytes this write takes (short-write fault included), or -EAGAIN. */
  #takeRoom(want: number): number {
    const net = this.#net;
    const room = this.#room();
    if (room <= 0 || want === 0) {
      net.log(`write ${this.name} EAGAIN`);
      return want === 0 ? 0 : -E.EAGAIN;
    }
    let n = want < room ? want : room;
    let short = '';
    if (n > 1 && net.prng.chance(net.faults.shortWrite)) {
      n = net.prng.int(1, n - 1);
      short = '*';
    }
    net.log(`write ${this.name} ${n}/${want}${short}`);
    net.progress();
    return n;
  }

  /** Bytes a write may send now: the window less what is in flight and unread at the peer. */
  #room(): number {
    const out = this._out;
    const peer = this._peer;
    if (out === null || peer === null) return 0;
    const unread = peer._closed ? 0 : peer._rcvBytes;
    return out.window - out.inflight - unread;
  }

  /** Takes `n` bytes from the front of the receive queue. */
  #take(n: number): Buffer {
    const rcv = this._rcv;
    this._rcvBytes -= n;
    const first = rcv[0] as Buffer;
    if (first.length === n) {
      rcv.shift();
      return first;
    }
    if (first.length > n) {
      rcv[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const b = rcv[0] as Buffer;
      const len = Math.min(b.length, n - at);
      b.copy(out, at, 0, len);
      at += len;
      if (len === b.length) rcv.shift();
      else rcv[0] = b.subarray(len);
    }
    return out;
  }
}

/** 'ECONNRESET' for -104, … */
export function errName(negErrno: number): string {
  for (const [name, n] of Object.entries(E)) if (n === -negErrno) return name;
  return String(negErrno);
}
