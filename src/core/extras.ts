/**
 * Extras: what a DangaSocket rarely needs (an idle timeout, a watcher told
 * when it closes), made on first use, so that an object without them costs
 * one empty field. The hot paths only look: a read or a written byte stores
 * `lastActive` when `idleMs` is set.
 */
import { reactor, type LoopObject } from './loop.js';

/** One object's rarely used settings. */
export class Extras {
  /** Idle timeout in ms; 0 = none. */
  idleMs = 0;
  /** Time of the last activity (loop clock, ms). */
  lastActive = 0;
  /** Told when the object closes (a Listener counting its connections). */
  onClose: (() => void) | null = null;

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

  /** The object closed: the watcher is told, once. */
  closed(): void {
    const onClose = this.onClose;
    if (onClose !== null) {
      this.onClose = null;
      onClose();
    }
  }
}
