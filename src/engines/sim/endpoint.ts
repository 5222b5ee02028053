/**
 * The kernel side of a simulated socket: what Linux keeps for one socket
 * (its descriptor, receive queue, shutdown and reset state, pending
 * SO_ERROR, accept queue, the epoll interest and the wake-up), and the
 * readiness computed from it. Only the network (network.ts) changes it:
 * the syscalls, the segments arriving, every fault. SimSock (sim-sock.ts)
 * is the face user code holds, over one Endpoint.
 *
 * TCP ends: a peer's close is end of stream (POLLIN), not a hangup; a hangup
 * (POLLHUP) comes once both directions are shut or the connection was
 * reset. Unix ends (socketPair, listenUnix/connectUnix) follow AF_UNIX: a
 * peer's close is end of stream and a hangup.
 */
import { POLLERR, POLLHUP, POLLIN, POLLOUT } from '../../core/constants.js';
import type { SockAddress } from '../../core/contract.js';

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
    /** The receiving end. */
    readonly to: Endpoint,
    /** One-way delay, virtual ms (0 for Unix sockets). */
    readonly delay: number,
    /** Bytes per virtual ms; Infinity when unlimited. */
    readonly bandwidth: number,
    /** Bytes in flight plus unread at the receiver before a write gets EAGAIN. */
    readonly window: number,
  ) {}
}

/** What kind of socket: a listening one, or one end of a connection. */
export type EndpointKind = 'listen' | 'stream';

/** The kernel's state of one simulated socket (see the module comment). */
export class Endpoint {
  /** The descriptor number; -1 while queued on a listener, not accepted yet. */
  fd: number;
  /** closed(2) */
  closed = false;
  /** connect() not answered yet */
  connecting = false;
  /** The other end, once connected. */
  peer: Endpoint | null = null;
  /** Our direction, once connected. */
  out: Pipe | null = null;
  /** Received and not read. */
  readonly rcv: Buffer[] = [];
  /** Bytes in `rcv`. */
  rcvBytes = 0;
  /** The peer's end of stream arrived. */
  eof = false;
  /** shutdown('read') */
  rdShut = false;
  /** shutdown('write') or close: FIN sent. */
  wrShut = false;
  /** The connection was reset (or refused). */
  reset = false;
  /** The peer (Unix) closed: hangup. */
  peerGone = false;
  /** SO_ERROR, a positive errno; 0 when none. */
  error = 0;
  /** A listening socket's accept queue. */
  readonly queue: Endpoint[] = [];
  /** A listening socket's backlog. */
  backlog = 0;
  /** A listening socket's key in the network's table of listeners. */
  listenKey = '';
  /** The events the loop is interested in (epoll_ctl's mask). */
  mask = 0;
  /** The loop's wake-up while attached (the network calls it when readiness is reported). */
  onReady: (() => void) | null = null;

  constructor(
    readonly kind: EndpointKind,
    /** Unix socket semantics (no delay, no reset). */
    readonly unix: boolean,
    fd: number,
    /** The connection's id in the trace. */
    readonly id: number,
    /** getsockname(2) */
    readonly local: SockAddress | null,
    /** getpeername(2), once connected. */
    readonly remote: SockAddress | null,
  ) {
    this.fd = fd;
  }

  /** What the trace calls it: fdN, or cN for an end not accepted yet. */
  get name(): string {
    return this.fd >= 0 ? `fd${this.fd}` : `c${this.id}`;
  }

  /** True for a listening socket. */
  get listening(): boolean {
    return this.kind === 'listen';
  }

  /** Level-triggered readiness for the events of `mask` (POLLERR and POLLHUP always), as epoll would report it. */
  readiness(): number {
    if (this.closed) return 0;
    const mask = this.mask;
    let r = 0;
    if (this.kind === 'listen') {
      if (mask & POLLIN && this.queue.length > 0) r |= POLLIN;
      return r;
    }
    const ended = this.eof || this.rdShut || this.reset;
    if (mask & POLLIN && (this.rcvBytes > 0 || ended)) r |= POLLIN;
    if (mask & POLLOUT && !this.connecting && (this.reset || this.wrShut || this.peerGone || this.room() > 0)) r |= POLLOUT;
    if (this.error !== 0) r |= POLLERR;
    if (this.reset || this.peerGone || ((this.eof || this.rdShut) && this.wrShut)) r |= POLLHUP;
    return r;
  }

  /** The readiness as the trace shows it. */
  readinessText(): string {
    return maskText(this.readiness());
  }

  /** Bytes a write may send now: the window less what is in flight and unread at the peer. */
  room(): number {
    const out = this.out;
    const peer = this.peer;
    if (out === null || peer === null) return 0;
    const unread = peer.closed ? 0 : peer.rcvBytes;
    return out.window - out.inflight - unread;
  }

  /** Takes `n` bytes (1 to rcvBytes) from the front of the receive queue. */
  take(n: number): Buffer {
    const rcv = this.rcv;
    this.rcvBytes -= n;
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

  /** Drops what was received and not read. */
  discard(): void {
    this.rcv.length = 0;
    this.rcvBytes = 0;
  }
}

function maskText(mask: number): string {
  const parts: string[] = [];
  if (mask & POLLIN) parts.push('IN');
  if (mask & POLLOUT) parts.push('OUT');
  if (mask & POLLERR) parts.push('ERR');
  if (mask & POLLHUP) parts.push('HUP');
  return parts.join('|');
}
