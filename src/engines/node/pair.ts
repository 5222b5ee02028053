/**
 * An in-memory socket pair for `socketPair()` on the node engine. Node has
 * no socketpair(2) and no synchronous way to build a connected pair of real
 * sockets, so the pair is two Duplex ends that behave like the ends of an
 * AF_UNIX stream socketpair:
 *
 * - bytes written on one end are read on the other, copied (as the kernel
 *   copies), with backpressure: a writer waits while the reader's buffer is
 *   full;
 * - ending one end (shutdown) is the other end's EOF;
 * - closing one end is the other end's EOF and hangup, and its writes fail
 *   with EPIPE from then on.
 */
import { Duplex } from 'node:stream';
import { systemError } from '../../core/errors.js';
import { constants as osConstants } from 'node:os';

/** Buffer size of each direction, like a small kernel socket buffer. */
const PAIR_HIGH_WATER_MARK = 64 * 1024;

function epipe(): Error {
  return systemError(-osConstants.errno.EPIPE, 'write');
}

/** One end of an in-memory socket pair. */
export class PairEnd extends Duplex {
  /** The other end. */
  peer: PairEnd | null = null;
  /** True once the other end was destroyed (closed). */
  peerClosed = false;
  /** The callback of a write waiting for the peer's reader to make room. */
  private pendingWrite: ((err?: Error | null) => void) | null = null;

  constructor() {
    super({ allowHalfOpen: true, highWaterMark: PAIR_HIGH_WATER_MARK, decodeStrings: true });
  }

  override _read(): void {
    // Our reader made room: let the peer's waiting write complete.
    const p = this.peer;
    if (p !== null && p.pendingWrite !== null) {
      const cb = p.pendingWrite;
      p.pendingWrite = null;
      cb();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    const p = this.peer;
    if (p === null || this.peerClosed || p.destroyed) {
      cb(epipe());
      return;
    }
    if (p.push(Buffer.from(chunk))) cb();
    else this.pendingWrite = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    const p = this.peer;
    if (p !== null && !p.destroyed) p.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const p = this.peer;
    if (p !== null && !p.destroyed && !p.peerClosed) {
      p.peerClosed = true;
      p.push(null);
      // What the peer had in flight to us is discarded, as the kernel
      // discards a closed socket's receive queue; its next write fails.
      const waiting = p.pendingWrite;
      p.pendingWrite = null;
      if (waiting !== null) waiting();
      p.emit('peerclose');
    }
    this.pendingWrite = null;
    cb(err);
  }
}

/** Two connected in-memory ends. */
export function duplexPair(): [PairEnd, PairEnd] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** True when `stream` is a pair end whose peer has closed (a hangup). */
export function isPeerClosed(stream: unknown): boolean {
  return stream instanceof PairEnd && stream.peerClosed;
}
