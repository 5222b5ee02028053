/**
 * Extras: what a DangaSocket rarely needs, made on first use, so that an
 * object without any of it costs one empty field (PublicInbox::DS style:
 * state that is usually empty is absent). An idle timeout, a watcher told
 * when it closes, a writer function in place of the write syscall, the
 * addresses once asked for, and the plain transport a STARTTLS switch gave
 * up. The hot paths only look: a read or a written byte stores
 * `lastActive` when `idleMs` is set, and a write goes through `writer` when
 * one is set.
 */
import type { SockAddress, Transport } from './contract.js';
import { errno, errnoOf } from './errors.js';
import { reactor, type LoopObject } from './loop.js';
import type { WriterFunc } from './socket-types.js';

/** One object's rarely used settings and state. */
export class Extras {
  /** Idle timeout in ms; 0 = none. */
  idleMs = 0;
  /** Time of the last activity (loop clock, ms). */
  lastActive = 0;
  /** Told when the object closes (a Listener counting its connections). */
  onClose: (() => void) | null = null;
  /** Replaces the write syscall (setWriterFunc); null = none. */
  writer: WriterFunc | null = null;
  /** A transport given up for STARTTLS, whose fd number stays reserved until the deferred close. */
  reserved: Transport | null = null;
  /** The addresses, asked once (undefined: not asked yet). */
  #peer: SockAddress | null | undefined = undefined;
  #local: SockAddress | null | undefined = undefined;

  /** Sets `obj`'s idle timeout (0 = none): under the loop's idle sweep from now, or off it. */
  setIdle(obj: LoopObject, ms: number): void {
    this.idleMs = ms;
    if (ms === 0) {
      reactor.unwatchIdle(obj);
      return;
    }
    reactor.watchIdle(obj);
    this.lastActive = reactor.activityTime();
  }

  /** The idle sweep at `nowMs`: true when the timeout passed (its clock then starts again). */
  idleDue(nowMs: number): boolean {
    if (this.idleMs === 0 || nowMs - this.lastActive < this.idleMs) return false;
    this.lastActive = nowMs;
    return true;
  }

  /** The object closed: the watcher is told, once; the reserved transport is handed back (to the deferred close). */
  closed(): Transport | null {
    const onClose = this.onClose;
    if (onClose !== null) {
      this.onClose = null;
      onClose();
    }
    const reserved = this.reserved;
    this.reserved = null;
    return reserved;
  }

  /** One write through the writer function (set): bytes written (at most `length`) or -errno; a throw or a bad result is EINVAL. */
  write(buf: Buffer, offset: number, length: number): number {
    let n: number;
    try {
      n = (this.writer as WriterFunc)(buf, length, offset);
    } catch (err) {
      return errnoOf(err, -errno.EINVAL);
    }
    if (typeof n !== 'number' || !(n >= 0)) return -errno.EINVAL;
    return n > length ? length : Math.floor(n);
  }

  /** The peer's address (`peer`) or the local one, asked of `t` once; null when there is none (a peer not connected yet is asked again). */
  address(t: Transport | null, peer: boolean): SockAddress | null {
    const known = peer ? this.#peer : this.#local;
    if (known !== undefined) return known;
    if (t === null) return null;
    if (!peer) return (this.#local = t.localAddress());
    const a = t.remoteAddress();
    if (a !== null) this.#peer = a; // not connected yet: ask again later
    return a;
  }
}

/** The IP address of `a`, or null (none, or a Unix socket). */
export function ipString(a: SockAddress | null): string | null {
  return a !== null && a.family !== 'unix' ? a.address : null;
}

/** "ip:port" of `a` ("[ip]:port" for IPv6), or null (none, or a Unix socket). */
export function addrString(a: SockAddress | null): string | null {
  if (a === null || a.family === 'unix') return null;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
