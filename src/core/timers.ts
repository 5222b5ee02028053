/**
 * Timers for the loop: a binary min-heap of timers ordered by (fire time,
 * insertion sequence), as in libuv.
 *
 * Danga::Socket 1.62 kept timers in a sorted list and inserted by a linear
 * scan: quadratic with many random timers (20,000 take seconds). Here adding
 * a timer is O(log n); cancelling is O(log n) too, through the heap index each
 * timer keeps, and takes the timer out at once, so a cancelled timer holds no
 * memory. The firing order is the original's: time order, equal times in the
 * order added (the sequence number breaks ties).
 *
 * A one-millisecond calendar (O(1) add and cancel) was measured against this
 * heap and did not win clearly; see "Timers: heap or calendar" in
 * BENCHMARKS.md.
 */
import { performance } from 'node:perf_hooks';

/** The callback of a timer: receives the current time in seconds since the epoch. */
export type TimerCallback = (nowSeconds: number) => void;

/** A pending timer, as returned by `DangaSocket.addTimer()`. */
export class Timer {
  /**
   * @internal fire time on the monotonic clock: whole milliseconds and the
   * nanoseconds past them. Two small integers rather than one double: V8
   * keeps small integers in the object, a double in a box of its own, which
   * would be a second allocation per timer.
   */
  _ms: number;
  /** @internal */
  _ns: number;
  /** @internal insertion order, for stable ordering of equal times */
  _seq: number;
  /** @internal null once fired or cancelled */
  _fn: TimerCallback | null;
  /** @internal the queue whose heap holds it; null when out of the heap */
  _queue: TimerQueue | null = null;
  /** @internal position in the heap */
  _index = -1;

  /** @internal */
  constructor(time: number, seq: number, fn: TimerCallback) {
    const ms = Math.floor(time);
    this._ms = ms;
    this._ns = Math.floor((time - ms) * 1e6);
    this._seq = seq;
    this._fn = fn;
  }

  /** Cancels the timer: it will not fire. Cancelling twice, or after it fired, does nothing. */
  cancel(): void {
    this._fn = null;
    if (this._queue !== null) this._queue._remove(this);
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

/** True when `a` fires before `b`: earlier time, or the same time and added earlier. */
function before(a: Timer, b: Timer): boolean {
  if (a._ms !== b._ms) return a._ms < b._ms;
  if (a._ns !== b._ns) return a._ns < b._ns;
  return a._seq < b._seq;
}

/** True when `t` is due at `nowMs`. */
const isDue = (t: Timer, nowMs: number): boolean => t._ms + t._ns / 1e6 <= nowMs;

/** The timer queue of the loop. */
export class TimerQueue {
  private readonly heap: Timer[] = [];
  private nextSeq = 0;
  /** Due timers added during the pass being run (reused): they wait for the next pass. */
  private readonly later: Timer[] = [];
  /** Bumped by clear(), so a pass interrupted by reset() stops firing. */
  private generation = 0;
  /** How many callbacks the last `run()` called. */
  fired = 0;

  /** True when no timer is pending. */
  isEmpty(): boolean {
    return this.heap.length === 0;
  }

  /** How many timers are pending (cancelled ones are gone at once). */
  get size(): number {
    return this.heap.length;
  }

  /** Adds a timer firing `delayMs` from `nowMs`; a negative delay means now. */
  add(nowMs: number, delayMs: number, fn: TimerCallback): Timer {
    const t = new Timer(delayMs > 0 ? nowMs + delayMs : nowMs, this.nextSeq++, fn);
    this.insert(t);
    return t;
  }

  /** True when `t` is the next timer to fire. */
  isFirst(t: Timer): boolean {
    return t._queue === this && t._index === 0;
  }

  /** Drops every timer (used by reset). */
  clear(): void {
    for (const t of this.heap) {
      t._fn = null;
      t._queue = null;
    }
    this.heap.length = 0;
    this.generation++;
  }

  /**
   * Runs the timers due at `nowMs`, in order. Only timers that existed when
   * the pass began run: one added by a callback (even with a delay of 0) waits
   * for a later pass. If a callback throws, the timers not yet run stay
   * pending and the exception propagates.
   *
   * @returns milliseconds until the next timer (whole ms, rounded up, so the
   * wait never ends before the timer is due), or -1 when there is none.
   */
  run(nowMs: number, nowSeconds: number): number {
    this.fired = 0;
    const heap = this.heap;
    if (heap.length === 0 || !isDue(heap[0] as Timer, nowMs)) return this.wait(nowMs);
    const firstNew = this.nextSeq;
    const generation = this.generation;
    const later = this.later;
    try {
      // Timers are taken out one at a time, just before they run: a callback
      // that throws leaves the rest in the heap, and one that cancels a later
      // timer takes it out of the heap like any cancel.
      while (heap.length > 0) {
        const t = heap[0] as Timer;
        if (!isDue(t, nowMs)) break;
        this._remove(t);
        if (t._seq >= firstNew) {
          later.push(t); // added by a callback of this pass
          continue;
        }
        const fn = t._fn as TimerCallback;
        t._fn = null;
        this.fired++;
        fn(nowSeconds);
        if (this.generation !== generation) break; // reset() from a callback
      }
    } finally {
      if (later.length > 0) {
        const keep = this.generation === generation;
        for (const t of later) {
          if (t._fn === null) continue; // cancelled meanwhile
          if (keep) this.insert(t);
          else t._fn = null; // reset() dropped it with the rest
        }
        later.length = 0;
      }
    }
    return this.wait(nowMs);
  }

  /** Milliseconds until the first timer is due, rounded up; 0 when overdue, -1 when none. */
  private wait(nowMs: number): number {
    const first = this.heap[0];
    if (first === undefined) return -1;
    const wait = first._ms + first._ns / 1e6 - nowMs;
    return wait <= 0 ? 0 : Math.ceil(wait);
  }

  private insert(t: Timer): void {
    t._queue = this;
    this.siftUp(t, this.heap.length);
  }

  /** @internal Takes `t` out of the heap (Timer#cancel, and run() before firing). */
  _remove(t: Timer): void {
    const heap = this.heap;
    const i = t._index;
    t._queue = null;
    t._index = -1;
    const last = heap.pop() as Timer;
    if (last === t) return;
    // The last timer fills the hole, then moves up or down to its place.
    if (i > 0 && before(last, heap[(i - 1) >> 1] as Timer)) this.siftUp(last, i);
    else this.siftDown(last, i);
  }

  /** Puts `t` at hole `i` or above it. */
  private siftUp(t: Timer, i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p] as Timer;
      if (!before(t, parent)) break;
      heap[i] = parent;
      parent._index = i;
      i = p;
    }
    heap[i] = t;
    t._index = i;
  }

  /** Puts `t` at hole `i` or below it. */
  private siftDown(t: Timer, i: number): void {
    const heap = this.heap;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(heap[r] as Timer, heap[l] as Timer) ? r : l;
      const child = heap[c] as Timer;
      if (!before(child, t)) break;
      heap[i] = child;
      child._index = i;
      i = c;
    }
    heap[i] = t;
    t._index = i;
  }
}
