/**
 * Timers for the loop: a calendar of one-millisecond buckets, with a small
 * min-heap of the bucket numbers.
 *
 * Danga::Socket 1.62 kept timers in a sorted list and inserted by a linear
 * scan: quadratic with many random timers (20,000 take seconds). Here adding
 * a timer is O(1) (append to its millisecond's bucket, plus a heap push when
 * the bucket is new), cancelling is O(1) (swap-remove from the bucket, so a
 * cancelled timer holds no memory; a bucket it empties goes when it comes
 * first), and firing sorts each due bucket, which is usually tiny or already
 * in order. The firing order is the original's: time order, equal times in
 * the order added.
 *
 * A plain binary heap of timers (libuv's design) was measured against this
 * calendar and lost clearly when many timers fire: each pop walks log n
 * levels of timers spread over memory. See "Timers: heap or calendar" in
 * BENCHMARKS.md.
 *
 * A bucket holds the timers due in [k, k+1) ms; the loop waits until the end
 * of the first bucket's millisecond. The original likewise rounded the wait
 * up by a millisecond.
 */
import type { Clock } from './contract.js';
import { performance } from 'node:perf_hooks';

/**
 * The callback of a timer: receives the current time in seconds since the epoch.
 *
 * @original the `$code` of `Danga::Socket->AddTimer($secs, $code)`, which gets no argument in 1.62
 */
export type TimerCallback = (nowSeconds: number) => void;

/**
 * A pending timer, as returned by `DangaSocket.addTimer()`.
 *
 * @throws Nothing: made by `DangaSocket.addTimer()`, not with `new` by users.
 * @original `Danga::Socket::Timer`
 */
export class Timer {
  /**
   * @internal fire time on the monotonic clock: whole milliseconds (the
   * bucket) and the nanoseconds past them. Two small integers rather than one
   * double: V8 keeps small integers in the object, a double in a box of its
   * own, which would be a second allocation per timer.
   */
  _ms: number;
  /** @internal */
  _ns: number;
  /** @internal insertion order, for stable ordering of equal times */
  _seq: number;
  /** @internal null once fired or cancelled */
  _fn: TimerCallback | null;
  /** @internal the bucket holding it (null while its bucket is being fired) */
  _bucket: Timer[] | null = null;
  /** @internal position in the bucket */
  _index = -1;

  /** @internal */
  constructor(time: number, seq: number, fn: TimerCallback) {
    const ms = Math.floor(time);
    this._ms = ms;
    this._ns = Math.floor((time - ms) * 1e6);
    this._seq = seq;
    this._fn = fn;
  }

  /**
   * Cancels the timer: it will not fire. Cancelling twice, or after it fired, does nothing.
   *
   * @throws Nothing.
   * @original `Danga::Socket::Timer->cancel`
   */
  cancel(): void {
    this._fn = null;
    const bucket = this._bucket;
    if (bucket !== null) {
      // Swap-remove: order inside a bucket does not matter until it fires.
      // (A bucket left empty is dropped when it comes first.)
      const last = bucket.pop() as Timer;
      if (last !== this) {
        bucket[this._index] = last;
        last._index = this._index;
      }
      this._bucket = null;
    }
  }

  /**
   * True until the timer fires or is cancelled.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  get pending(): boolean {
    return this._fn !== null;
  }
}

const realMonotonicMs = (): number => performance.now();
const realEpochSeconds = (monoMs: number): number => (performance.timeOrigin + monoMs) / 1000;

/**
 * Milliseconds on the monotonic clock. A live binding: `setClock()` replaces
 * it (a simulation's virtual clock), so the real engines pay nothing for the
 * indirection (no wrapper call, no branch).
 */
export let monotonicMs: () => number = realMonotonicMs;

/** Seconds since the epoch, with sub-millisecond precision, for a monotonic reading (live binding, as monotonicMs). */
export let epochSeconds: (monoMs: number) => number = realEpochSeconds;

export type { Clock };

/** The clock setClock() installed; null: the real one. */
let installedClock: Clock | null = null;

/** The clock the library reads now: the one setClock() installed, or null for the real one. */
export function currentClock(): Clock | null {
  return installedClock;
}

/**
 * Replaces the clock the library reads (timers, the loop's `now`, the idle
 * sweep, graceful shutdown's deadline); null restores the real one. Used by
 * `danga-socket/sim` for the duration of a simulation, while no timer is
 * pending (a timer's time belongs to the clock it was added on).
 */
export function setClock(clock: Clock | null): void {
  installedClock = clock;
  monotonicMs = clock === null ? realMonotonicMs : (): number => clock.monotonicMs();
  epochSeconds = clock === null ? realEpochSeconds : (monoMs: number): number => clock.epochSeconds(monoMs);
}

function byTimeThenSeq(a: Timer, b: Timer): number {
  return a._ms - b._ms || a._ns - b._ns || a._seq - b._seq;
}

/** True when `t` is due at `nowMs`. */
const isDue = (t: Timer, nowMs: number): boolean => t._ms + t._ns / 1e6 <= nowMs;

/** The timer queue of the loop. */
export class TimerQueue {
  private readonly buckets = new Map<number, Timer[]>();
  /**
   * Min-heap of the bucket numbers present in `buckets`. Buckets emptied by
   * cancel() are dropped when they come first (see dropEmptyFirst), so the
   * loop never waits for one.
   */
  private readonly keys: number[] = [];
  private nextSeq = 0;
  /** Due buckets of the pass being run (reused). */
  private readonly dueBuckets: Timer[][] = [];
  /** The time of the pass being run; NaN between passes. */
  private passNow = NaN;
  /**
   * Timers added by callbacks of the pass being run that were due already:
   * run() then returns 0. (Rare: the loop's clock has moved by then.)
   */
  private readonly addedDue: Timer[] = [];
  /** How many callbacks the last `run()` called. */
  fired = 0;

  /** True when no timer is pending (between passes). */
  isEmpty(): boolean {
    this.dropEmptyFirst();
    return this.keys.length === 0;
  }

  /**
   * How many timers are pending: fired and cancelled ones are not kept. For
   * tests and diagnostics: O(milliseconds that have timers).
   */
  get size(): number {
    let n = 0;
    for (const bucket of this.buckets.values()) n += bucket.length;
    for (const bucket of this.dueBuckets) for (const t of bucket) if (t._fn !== null) n++; // during a pass
    return n;
  }

  /** Adds a timer firing `delayMs` from `nowMs`; a negative delay means now. */
  add(nowMs: number, delayMs: number, fn: TimerCallback): Timer {
    const time = delayMs > 0 ? nowMs + delayMs : nowMs;
    const t = new Timer(time, this.nextSeq++, fn);
    this.file(t);
    if (time <= this.passNow) this.addedDue.push(t);
    return t;
  }

  /** True when `t` is pending in the first bucket, i.e. it may be the next to fire. */
  isFirst(t: Timer): boolean {
    this.dropEmptyFirst();
    return t._bucket !== null && t._bucket === this.buckets.get(this.keys[0] as number);
  }

  private file(t: Timer): void {
    const key = t._ms;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(key, bucket);
      this.pushKey(key);
    }
    t._bucket = bucket;
    t._index = bucket.length;
    bucket.push(t);
  }

  /** Drops every timer (used by reset). */
  clear(): void {
    for (const bucket of this.buckets.values()) {
      for (const t of bucket) {
        t._fn = null;
        t._bucket = null;
      }
    }
    // From a callback: the timers of the pass not yet run go too, so the pass stops.
    for (const bucket of this.dueBuckets) for (const t of bucket) t._fn = null;
    this.buckets.clear();
    this.keys.length = 0;
  }

  /**
   * Runs the timers due at `nowMs`, in order. Only timers that existed when
   * the pass began run: one added by a callback (even with a delay of 0) waits
   * for a later pass. If a callback throws, the timers not yet run stay
   * pending and the exception propagates.
   *
   * @returns milliseconds until the next timer (0 when one is overdue), or
   * -1 when there is none.
   */
  run(nowMs: number, nowSeconds: number): number {
    this.fired = 0;
    this.dropEmptyFirst();
    const keys = this.keys;
    if (keys.length === 0 || (keys[0] as number) > nowMs) return this.wait(nowMs);
    // Take every due bucket out first: callbacks may add timers to the same
    // milliseconds, and those belong to a later pass. Buckets cover disjoint
    // milliseconds, so they fire one after the other, each sorted on its own.
    const due = this.dueBuckets;
    while (keys.length > 0 && (keys[0] as number) <= nowMs) {
      const key = this.popKey();
      const bucket = this.buckets.get(key) as Timer[];
      this.buckets.delete(key);
      if (bucket.length === 0) continue;
      // Detached at once: a callback cancelling one of these only clears it,
      // and whatever is left behind can be filed again.
      if (!detachSorted(bucket)) bucket.sort(byTimeThenSeq);
      due.push(bucket);
    }
    this.passNow = nowMs;
    let overdue: boolean;
    let b = 0;
    let i = 0;
    try {
      buckets: for (; b < due.length; b++) {
        const bucket = due[b] as Timer[];
        for (i = 0; i < bucket.length; i++) {
          const t = bucket[i] as Timer;
          const fn = t._fn;
          if (fn === null) continue; // cancelled by an earlier callback of this pass
          if (!isDue(t, nowMs)) break buckets; // the rest is not due yet
          t._fn = null;
          this.fired++;
          fn(nowSeconds);
        }
      }
    } finally {
      this.passNow = NaN;
      // Whatever did not run (not due yet, or left behind by an exception)
      // goes back. (After reset() from a callback, nothing of it is pending.)
      for (; b < due.length; b++) {
        const bucket = due[b] as Timer[];
        for (; i < bucket.length; i++) {
          const t = bucket[i] as Timer;
          if (t._fn !== null) this.file(t);
        }
        i = 0;
      }
      due.length = 0;
      this.dropEmptyFirst(); // taking the due buckets may have brought one to the front
      overdue = this.addedDue.some((t) => t._fn !== null);
      this.addedDue.length = 0;
    }
    return overdue ? 0 : this.wait(nowMs);
  }

  /**
   * Milliseconds until the end of the first bucket's millisecond, rounded up
   * (so the wait never ends before a timer is due), or -1 when none.
   */
  private wait(nowMs: number): number {
    const key = this.keys[0];
    if (key === undefined) return -1;
    const wait = key + 1 - nowMs;
    return wait <= 0 ? 0 : Math.ceil(wait);
  }

  /** Drops the first buckets while they are empty (emptied by cancel()). */
  private dropEmptyFirst(): void {
    const keys = this.keys;
    while (keys.length > 0) {
      const key = keys[0] as number;
      if ((this.buckets.get(key) as Timer[]).length > 0) return;
      this.buckets.delete(key);
      this.popKey();
    }
  }

  private pushKey(key: number): void {
    const keys = this.keys;
    let i = keys.length;
    keys.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = keys[p] as number;
      if (parent <= key) break;
      keys[i] = parent;
      i = p;
    }
    keys[i] = key;
  }

  private popKey(): number {
    const keys = this.keys;
    const top = keys[0] as number;
    const last = keys.pop() as number;
    const n = keys.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && (keys[r] as number) < (keys[l] as number) ? r : l;
        if ((keys[c] as number) >= last) break;
        keys[i] = keys[c] as number;
        i = c;
      }
      keys[i] = last;
    }
    return top;
  }
}

/** Detaches the timers from their bucket; returns whether they are already in firing order. */
function detachSorted(list: Timer[]): boolean {
  let sorted = true;
  let prev = list[0] as Timer;
  prev._bucket = null;
  for (let i = 1; i < list.length; i++) {
    const t = list[i] as Timer;
    t._bucket = null;
    if (sorted && byTimeThenSeq(prev, t) > 0) sorted = false;
    prev = t;
  }
  return sorted;
}
