/**
 * Timers for the loop: a binary min-heap ordered by (fire time, insertion
 * order), with O(log n) insert and cancel.
 *
 * Danga::Socket 1.62 kept timers in a sorted list and inserted by a linear
 * scan; with many random timers that is quadratic (20,000 random timers take
 * seconds). A heap gives the same firing order (time order, equal times in the
 * order they were added) at O(log n) a timer. Cancelling removes the timer from
 * the heap at once, so cancelled timers hold no memory and never fire.
 */
import { performance } from 'node:perf_hooks';

/** The callback of a timer: receives the current time in seconds since the epoch. */
export type TimerCallback = (nowSeconds: number) => void;

/** A pending timer, as returned by `DangaSocket.addTimer()`. */
export class Timer {
  /** @internal monotonic fire time in milliseconds */
  _time: number;
  /** @internal insertion order, for stable ordering of equal times */
  _seq: number;
  /** @internal null once fired or cancelled */
  _fn: TimerCallback | null;
  /** @internal position in the heap, -1 when not in it */
  _index = -1;
  /** @internal the heap that holds it */
  _heap: TimerHeap | null;

  /** @internal */
  constructor(heap: TimerHeap, time: number, seq: number, fn: TimerCallback) {
    this._heap = heap;
    this._time = time;
    this._seq = seq;
    this._fn = fn;
  }

  /** Cancels the timer: it will not fire. Cancelling twice, or after it fired, does nothing. */
  cancel(): void {
    this._fn = null;
    if (this._index >= 0 && this._heap !== null) this._heap.remove(this);
  }

  /** True until the timer fires or is cancelled. */
  get pending(): boolean {
    return this._fn !== null;
  }
}

/** Milliseconds on the monotonic clock. */
export const monotonicMs = (): number => performance.now();

/** Seconds since the epoch, with sub-millisecond precision, for a monotonic reading. */
export const epochSeconds = (monoMs: number): number => (performance.timeOrigin + monoMs) / 1000;

function before(a: Timer, b: Timer): boolean {
  return a._time < b._time || (a._time === b._time && a._seq < b._seq);
}

/** The heap itself. */
export class TimerHeap {
  private items: Timer[] = [];
  private nextSeq = 0;
  /** How many callbacks the last `run()` called. */
  fired = 0;

  /** Number of pending timers. */
  get size(): number {
    return this.items.length;
  }

  /** Adds a timer firing `delayMs` from `nowMs`. */
  add(nowMs: number, delayMs: number, fn: TimerCallback): Timer {
    const t = new Timer(this, nowMs + delayMs, this.nextSeq++, fn);
    const i = this.items.length;
    this.items.push(t);
    t._index = i;
    this.up(i);
    return t;
  }

  /** Removes a timer that is in the heap. */
  remove(t: Timer): void {
    const i = t._index;
    const items = this.items;
    const last = items.pop() as Timer;
    t._index = -1;
    if (last !== t) {
      items[i] = last;
      last._index = i;
      this.down(i);
      this.up(last._index);
    }
  }

  /** Drops every timer (used by reset). */
  clear(): void {
    for (const t of this.items) {
      t._index = -1;
      t._fn = null;
    }
    this.items = [];
  }

  /**
   * Runs the timers due at `nowMs`, in order. Only timers that existed when
   * the pass began run: one added by a callback (even with a delay of 0) waits
   * for a later pass. If a callback throws, the timers not yet run stay in the
   * heap and the exception propagates.
   *
   * @returns milliseconds until the next timer, or -1 when there is none.
   */
  run(nowMs: number, nowSeconds: number): number {
    const items = this.items;
    const limit = this.nextSeq;
    this.fired = 0;
    while (items.length > 0) {
      const top = items[0] as Timer;
      // Heap order is (time, seq): a timer added during this pass has the
      // largest seq and a time >= now, so it reaches the top only after every
      // older due timer has run.
      if (top._time > nowMs || top._seq >= limit) break;
      this.remove(top);
      const fn = top._fn;
      top._fn = null;
      if (fn !== null) {
        this.fired++;
        fn(nowSeconds);
      }
    }
    if (items.length === 0) return -1;
    const wait = (items[0] as Timer)._time - nowMs;
    return wait <= 0 ? 0 : Math.ceil(wait);
  }

  private up(i: number): void {
    const items = this.items;
    const t = items[i] as Timer;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as Timer;
      if (!before(t, parent)) break;
      items[i] = parent;
      parent._index = i;
      i = p;
    }
    items[i] = t;
    t._index = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    if (i >= n) return;
    const t = items[i] as Timer;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && before(items[r] as Timer, items[l] as Timer)) c = r;
      const child = items[c] as Timer;
      if (!before(child, t)) break;
      items[i] = child;
      child._index = i;
      i = c;
    }
    items[i] = t;
    t._index = i;
  }
}
