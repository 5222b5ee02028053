/**
 * Timers. The ordering rules are tested on TimerQueue itself with a clock the
 * test moves by hand, so no test depends on how fast the machine is; a
 * seeded random test checks the queue against a plain reference model. The
 * loop-level tests at the end cover only what needs a real loop, and assume
 * nothing about timing beyond "a timer never fires early".
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { DangaSocket, socketPair } from 'danga-socket';
import { TimerQueue, epochSeconds, monotonicMs, type Timer } from '../../src/core/timers.js';
import { onSim, runUntil, skipOnSim } from '../helpers.js';

/** A queue whose callbacks log their names, and a run() that returns what fired. */
function logged(): {
  q: TimerQueue;
  log: string[];
  add: (now: number, delay: number, name: string, then?: () => void) => Timer;
  fire: (now: number) => { fired: string[]; wait: number };
} {
  const q = new TimerQueue();
  const log: string[] = [];
  return {
    q,
    log,
    add: (now, delay, name, then) =>
      q.add(now, delay, () => {
        log.push(name);
        then?.();
      }),
    fire: (now) => {
      const start = log.length;
      const wait = q.run(now, now / 1000);
      return { fired: log.slice(start), wait };
    },
  };
}

// ---------------------------------------------------------------- TimerQueue

test('queue: time order, whatever the order added', () => {
  const { add, fire } = logged();
  add(1000, 30.5, '30.5');
  add(1000, 30.1, '30.1');
  add(1000, 0.5, '0.5');
  add(1000, 120, '120');
  add(1000, 7, '7');
  assert.deepEqual(fire(1200).fired, ['0.5', '7', '30.1', '30.5', '120']);
});

test('queue: equal times fire in the order added, also when added at different moments', () => {
  const { add, fire } = logged();
  add(1000, 10, 'a');
  add(1005, 5, 'b'); // same fire time (1010), added later
  add(1000, 9, 'early');
  add(1009, 1, 'c');
  add(1000, 11, 'late');
  add(1010, 0, 'd');
  assert.deepEqual(fire(1011).fired, ['early', 'a', 'b', 'c', 'd', 'late']);
});

test('queue: sub-millisecond times inside one millisecond, with a pass in the middle of it', () => {
  const { add, fire } = logged();
  add(1000, 0.9, '0.9');
  add(1000, 0.1, '0.1');
  add(1000, 0.5, '0.5');
  add(1000, 0, '0');
  add(1000, 0.3, '0.3');
  add(1000, 0.5, '0.5 again');
  assert.deepEqual(fire(1000.4), { fired: ['0', '0.1', '0.3'], wait: 1 });
  assert.deepEqual(fire(1000.5), { fired: ['0.5', '0.5 again'], wait: 1 });
  assert.deepEqual(fire(1000.89), { fired: [], wait: 1 });
  assert.deepEqual(fire(1000.9), { fired: ['0.9'], wait: -1 });
});

test('queue: a negative delay means now (ordered with the timers due now by insertion)', () => {
  const { add, fire } = logged();
  add(1000, 0, 'zero');
  add(1000, -5, 'minus five');
  add(1000, -Infinity, 'minus infinity');
  add(1000, 0.001, 'later');
  assert.deepEqual(fire(999.999), { fired: [], wait: 2 }); // to the end of millisecond 1000
  assert.deepEqual(fire(1000).fired, ['zero', 'minus five', 'minus infinity']);
});

test('queue: nothing fires before its time', () => {
  const { add, fire } = logged();
  add(1000, 10, 'ten');
  assert.deepEqual(fire(1009.999999), { fired: [], wait: 2 });
  assert.deepEqual(fire(1010), { fired: ['ten'], wait: -1 });
});

test('queue: cancel before a pass; cancelling twice or after firing does nothing', () => {
  const { q, add, fire } = logged();
  const a = add(1000, 1, 'a');
  const b = add(1000, 2, 'b');
  const c = add(1000, 3, 'c');
  assert.ok(a.pending && b.pending && c.pending);
  b.cancel();
  b.cancel();
  assert.equal(b.pending, false);
  assert.equal(q.size, 2);
  assert.deepEqual(fire(1010).fired, ['a', 'c']);
  assert.equal(a.pending, false);
  a.cancel();
  assert.equal(q.size, 0);
  assert.ok(q.isEmpty());
});

test('queue: equal times after a cancel still fire in the order added (cancel refills the hole from the back)', () => {
  const { q, add, fire } = logged();
  const t: Timer[] = [];
  for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) t.push(add(1000, 10, name));
  add(1000, 10.5, 'later in the same ms');
  (t[1] as Timer).cancel(); // 'f' moves into b's place
  (t[0] as Timer).cancel(); // the new last moves into a's
  assert.equal(q.size, 5);
  assert.deepEqual(fire(1011).fired, ['c', 'd', 'e', 'f', 'later in the same ms']);
  // Again with the pass in between: a bucket filled, cancelled into, then added to.
  const u = [add(2000, 5, 'u0'), add(2000, 5, 'u1'), add(2000, 5, 'u2')];
  (u[0] as Timer).cancel();
  add(2000, 5, 'u3');
  assert.deepEqual(fire(2005).fired, ['u1', 'u2', 'u3']);
});

test('queue: cancel during a pass: the next due timer, a later one of the same pass, one not due, and itself', () => {
  const { q, add, fire } = logged();
  const timers: Record<string, Timer> = {};
  timers.first = add(1000, 1, 'first', () => {
    timers.next?.cancel(); // the one due right after
    timers.later?.cancel(); // due later in this pass
    timers.notDue?.cancel(); // not due in this pass
    timers.first?.cancel(); // itself, while it runs: nothing to do
  });
  timers.next = add(1000, 1, 'next');
  add(1000, 2, 'kept');
  timers.later = add(1000, 3, 'later');
  add(1000, 4, 'kept too');
  timers.notDue = add(1000, 50, 'not due');
  add(1000, 60, 'sixty');
  assert.deepEqual(fire(1010), { fired: ['first', 'kept', 'kept too'], wait: 51 });
  for (const name of ['first', 'next', 'later', 'notDue']) assert.equal(timers[name]?.pending, false, name);
  assert.equal(q.size, 1);
});

test('queue: a timer added by a callback waits for a later pass, even when already due', () => {
  const { q, add, fire } = logged();
  add(1000, 0, 'a', () => {
    add(1000, 0, 'added with 0');
    add(1000, -1, 'added with -1');
    add(990, 0, 'added in the past'); // earlier than everything of this pass
  });
  add(1000, 0, 'b');
  const r = fire(1000);
  assert.deepEqual(r.fired, ['a', 'b']);
  assert.equal(r.wait, 0, 'overdue timers: do not wait');
  assert.equal(q.size, 3);
  assert.deepEqual(fire(1000).fired, ['added in the past', 'added with 0', 'added with -1']);
});

test('queue: a timer added by a callback and cancelled in the same pass never fires', () => {
  const { q, add, fire } = logged();
  const added: Timer[] = [];
  add(1000, 0, 'a', () => {
    added.push(add(1000, 0, 'added'), add(990, 0, 'added in the past')); // the second is taken out next, and set aside
  });
  add(1000, 0, 'b', () => added.forEach((t) => t.cancel()));
  assert.deepEqual(fire(1000), { fired: ['a', 'b'], wait: -1 });
  assert.ok(q.isEmpty());
});

test('queue: an exception mid-pass propagates and leaves the timers not yet run pending', () => {
  const { q, add, fire } = logged();
  add(1000, 1, 'a');
  add(1000, 2, 'boom', () => {
    throw new Error('boom');
  });
  const c = add(1000, 3, 'c');
  add(1000, 4, 'd');
  add(1000, 100, 'not due');
  assert.throws(() => fire(1010), /boom/);
  assert.ok(c.pending);
  assert.equal(q.size, 3);
  assert.deepEqual(fire(1010), { fired: ['c', 'd'], wait: 91 });
});

test('queue: clear() from a callback stops the pass and drops everything; timers added after it stay', () => {
  const { q, log, add, fire } = logged();
  const dropped: Timer[] = [];
  add(1000, 1, 'a', () => {
    // Due, and earlier than 'b': taken out of the heap next and set aside for the next pass.
    dropped.push(add(1000, 0, 'added before clear'));
  });
  add(1000, 1, 'b', () => {
    dropped.push(add(1000, 0, 'added just before clear'));
    q.clear();
    dropped.forEach((t) => t.cancel()); // already gone: nothing to do
    add(1000, 0, 'added after clear');
  });
  dropped.push(add(1000, 1, 'c'), add(1000, 2, 'd'), add(1000, 500, 'e'));
  assert.deepEqual(fire(1010), { fired: ['a', 'b'], wait: 0 });
  for (const t of dropped) assert.equal(t.pending, false);
  assert.equal(q.size, 1);
  assert.deepEqual(fire(1010), { fired: ['added after clear'], wait: -1 });
  assert.deepEqual(log, ['a', 'b', 'added after clear']);
});

test("queue: the wait runs to the end of the next timer's millisecond, in whole ms; 0 when overdue, -1 when empty", () => {
  // Like the original, which waited int(ms) + 1: never wakes before the
  // timer is due, at most a millisecond after.
  const q = new TimerQueue();
  const noop = (): void => {};
  assert.equal(q.run(1000, 1), -1);
  q.add(1000, 3, noop); // due at 1003: wait until 1004
  assert.equal(q.run(1000, 1), 4);
  assert.equal(q.run(1000.25, 1), 4); // 3.75 -> 4
  assert.equal(q.run(1002.999, 1), 2); // 1.001 -> 2
  const t = q.add(1000, 0.0001, noop);
  assert.equal(q.run(1000, 1), 1); // 0.1 µs away: 1 ms, never 0
  t.cancel();
  assert.equal(q.run(1000, 1), 4);
  q.add(1000, 2, noop).cancel(); // a millisecond left empty is not waited for
  assert.equal(q.run(1000, 1), 4);
  assert.equal(q.fired, 0);
  assert.equal(q.run(1003, 1), -1);
  assert.equal(q.fired, 1);
  // Overdue: only a timer added by a callback can be, as the pass leaves it.
  q.add(1000.5, 0, () => q.add(1000.5, 0, noop));
  assert.equal(q.run(1000.5, 1), 0);
  assert.equal(q.run(1000.5, 1), -1);
  for (const [now, delay] of [
    [0.3, 0.4],
    [1.5, 2.25],
    [7, 0.015625],
    [100.125, 999.875],
    [5, 5],
  ] as const) {
    const r = new TimerQueue();
    r.add(now, delay, noop);
    const wait = r.run(now, 1);
    assert.ok(Number.isInteger(wait) && wait >= delay && wait < delay + 2, `wait ${wait} for ${delay}`);
    assert.equal(r.run(now + wait, 1), -1);
    assert.equal(r.fired, 1);
  }
});

test('queue: fired counts the callbacks of the last run, and they get the time in seconds', () => {
  const q = new TimerQueue();
  const seen: number[] = [];
  q.add(0, 1, (s) => seen.push(s));
  q.add(0, 2, (s) => seen.push(s));
  q.add(0, 9, (s) => seen.push(s));
  q.run(5, 1234.5);
  assert.equal(q.fired, 2);
  assert.deepEqual(seen, [1234.5, 1234.5]);
  q.run(6, 1);
  assert.equal(q.fired, 0);
});

test('queue: isFirst is true for the timer due next, false for timers due in a later millisecond', () => {
  const q = new TimerQueue();
  const noop = (): void => {};
  const a = q.add(1000, 10, noop);
  assert.ok(q.isFirst(a));
  const b = q.add(1000, 10, noop); // same time, added later: "may be first" allows either answer
  assert.ok(q.isFirst(a));
  const c = q.add(1000, 5, noop);
  assert.ok(q.isFirst(c) && !q.isFirst(a) && !q.isFirst(b));
  const d = q.add(1000, 7, noop);
  assert.ok(!q.isFirst(d));
  c.cancel();
  assert.ok(!q.isFirst(c) && q.isFirst(d) && !q.isFirst(a));
  d.cancel();
  assert.ok(q.isFirst(a));
  q.run(1010, 1);
  assert.ok(!q.isFirst(a) && !q.isFirst(b));
  const other = new TimerQueue();
  other.add(0, 0, noop);
  assert.ok(!other.isFirst(q.add(0, 0, noop)), 'a timer of another queue');
});

test('queue: cancelled and fired timers are not retained', () => {
  const q = new TimerQueue();
  const noop = (): void => {};
  const timers: Timer[] = [];
  for (let i = 0; i < 100_000; i++) timers.push(q.add(0, (i * 7919) % 1000, noop));
  assert.equal(q.size, 100_000);
  for (let i = 0; i < timers.length; i += 2) timers[i]?.cancel(); // out of order: from the middle of the buckets
  assert.equal(q.size, 50_000);
  for (let i = timers.length - 1; i > 0; i -= 2) timers[i]?.cancel();
  assert.equal(q.size, 0);
  assert.ok(q.isEmpty());
  // Nor are the emptied buckets (a look inside).
  const inside = q as unknown as { buckets: Map<number, unknown>; keys: number[]; addedDue: unknown[] };
  assert.equal(inside.buckets.size + inside.keys.length, 0);
  assert.equal(q.run(1000, 1), -1);
  assert.equal(q.fired, 0);
  // Timers that callbacks add while due are let go with the pass too.
  q.add(0, 0, () => {
    for (let i = 0; i < 1000; i++) q.add(0, 0, noop).cancel();
  });
  assert.equal(q.run(0, 1), -1);
  assert.equal(inside.buckets.size + inside.keys.length + inside.addedDue.length, 0);
  for (let i = 0; i < 1000; i++) q.add(0, i % 10, noop);
  q.run(10, 1);
  assert.equal(q.fired, 1000);
  assert.equal(q.size, 0);
  q.add(0, 1, noop);
  q.clear();
  assert.equal(q.size, 0);
});

// ------------------------------------------------- against a reference model

/** mulberry32: a small seeded PRNG, so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a timer's callback does when it fires. */
type Action =
  | { kind: 'none' }
  /** cancels timer `target`, or when negative the one added `-target` timers ago (-1: the newest) */
  | { kind: 'cancel'; target: number }
  /** adds a timer `delay` after `back` ms before the pass's time (a clock behind the pass's, to reach every path) */
  | { kind: 'add'; delay: number; back: number }
  | { kind: 'throw' }
  | { kind: 'clear' };

/**
 * A random delay in ms: multiples of 1/64 ms, exact in binary, sub-millisecond
 * and with many ties; sometimes 0 or negative.
 */
function randomDelay(rnd: () => number): number {
  const r = rnd();
  if (r < 0.1) return 0;
  if (r < 0.15) return -Math.floor(rnd() * 5);
  if (r < 0.6) return Math.floor(rnd() * 64) / 64;
  return Math.floor(rnd() * 64 * 50) / 64;
}

/** The action of timer `id`: a function of the seed and the id only, so both sides agree. */
function actionOf(seed: number, id: number): Action {
  const rnd = prng(seed * 1_000_003 + id);
  const r = rnd();
  if (r < 0.6) return { kind: 'none' };
  if (r < 0.78) return { kind: 'cancel', target: rnd() < 0.3 ? -1 - Math.floor(rnd() * 3) : Math.floor(rnd() * (id + 5)) }; // maybe itself, a fired one, or a future one
  if (r < 0.93) return { kind: 'add', delay: randomDelay(rnd), back: rnd() < 0.7 ? 0 : Math.floor(rnd() * 64 * 3) / 64 };
  if (r < 0.985) return { kind: 'throw' };
  return { kind: 'clear' };
}

/**
 * The reference: a plain list of timers. A pass fires, one at a time, the
 * smallest (time, seq) among the timers that are live, due, and older than
 * the pass; a callback that throws or clears ends the pass.
 */
class Model {
  readonly timers: { time: number; seq: number; live: boolean }[] = [];
  constructor(private readonly seed: number) {}
  add(now: number, delay: number): void {
    this.timers.push({ time: delay > 0 ? now + delay : now, seq: this.timers.length, live: true });
  }
  /** The id of the live timer that fires first, among those `ok` accepts. */
  first(ok: (id: number) => boolean = () => true): number | undefined {
    let best: number | undefined;
    this.timers.forEach((t, id) => {
      if (!t.live || !ok(id)) return;
      if (best === undefined || t.time < this.timers[best]!.time) best = id; // ids ascend: ties keep the older
    });
    return best;
  }
  run(now: number): { fired: number[]; threw: boolean; wait: number } {
    const firstNew = this.timers.length;
    const fired: number[] = [];
    let threw = false;
    for (;;) {
      const id = this.first((i) => i < firstNew && this.timers[i]!.time <= now);
      if (id === undefined) break;
      this.timers[id]!.live = false;
      fired.push(id);
      const action = actionOf(this.seed, id);
      if (action.kind === 'cancel') {
        const target = this.timers[action.target < 0 ? this.timers.length + action.target : action.target];
        if (target) target.live = false;
      } else if (action.kind === 'add') this.add(now - action.back, action.delay);
      else if (action.kind === 'clear') for (const t of this.timers) t.live = false;
      if (action.kind === 'throw') threw = true;
      if (action.kind === 'throw' || action.kind === 'clear') break;
    }
    const first = this.first();
    const time = first === undefined ? 0 : this.timers[first]!.time;
    // Until the end of the first timer's millisecond.
    return { fired, threw, wait: first === undefined ? -1 : time <= now ? 0 : Math.ceil(Math.floor(time) + 1 - now) };
  }
}

test('queue: matches a reference model on random adds, cancels and passes (seeded)', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = prng(seed);
    const model = new Model(seed);
    const q = new TimerQueue();
    const real: Timer[] = [];
    let fired: number[] = [];
    let now = 1000;
    const add = (delay: number, back = 0): void => {
      const id = real.length;
      const action = actionOf(seed, id);
      real.push(
        q.add(now - back, delay, () => {
          fired.push(id);
          if (action.kind === 'cancel') real[action.target < 0 ? real.length + action.target : action.target]?.cancel();
          else if (action.kind === 'add') add(action.delay, action.back);
          else if (action.kind === 'throw') throw new Error(`timer ${id}`);
          else if (action.kind === 'clear') q.clear();
        }),
      );
    };
    const where = (step: number): string => `seed ${seed}, step ${step}`;
    for (let step = 0; step < 300; step++) {
      const r = rnd();
      if (r < 0.5) {
        const delay = randomDelay(rnd);
        add(delay);
        model.add(now, delay);
      } else if (r < 0.65) {
        const id = Math.floor(rnd() * (real.length + 1));
        real[id]?.cancel();
        const t = model.timers[id];
        if (t) t.live = false;
      } else {
        now += rnd() < 0.3 ? 0 : Math.floor(rnd() * 64 * 8) / 64;
        const expected = model.run(now);
        fired = [];
        let threw = false;
        let wait = -1;
        try {
          wait = q.run(now, now / 1000);
        } catch {
          threw = true;
        }
        assert.deepEqual(fired, expected.fired, where(step));
        assert.equal(threw, expected.threw, where(step));
        // After an exception run() returns nothing; the loop asks again.
        if (!threw) assert.equal(wait, expected.wait, where(step));
        assert.equal(q.fired, expected.fired.length, where(step));
      }
      const live = model.timers.flatMap((t, id) => (t.live ? [id] : []));
      assert.equal(real.length, model.timers.length, where(step));
      assert.equal(q.size, live.length, where(step));
      assert.equal(q.isEmpty(), live.length === 0, where(step));
      const first = model.first();
      if (first !== undefined) assert.ok(q.isFirst(real[first]!), where(step));
      const other = live[Math.floor(rnd() * live.length)];
      if (other !== undefined && Math.floor(model.timers[other]!.time) > Math.floor(model.timers[first!]!.time)) {
        assert.ok(!q.isFirst(real[other]!), where(step));
      }
      const wrong = real.findIndex((t, id) => t.pending !== model.timers[id]!.live);
      assert.equal(wrong, -1, `${where(step)}: pending of timer ${wrong}`);
    }
  }
});

// ---------------------------------------------------------- through the loop

afterEach(() => DangaSocket.reset());

/** Seconds since the epoch, on the clock the loop uses. */
/** The loop's clock in epoch seconds: (performance.timeOrigin + performance.now()) / 1000 on the real engines, virtual in the sim pass. */
const epochNow = (): number => epochSeconds(monotonicMs());

test('loop: a timer fires, never early, and its callback gets the time in seconds since the epoch', async () => {
  const added = epochNow();
  let got: number | null = null;
  DangaSocket.addTimer(0.01, (now) => {
    got = now;
  });
  await runUntil(() => got !== null);
  const after = epochNow();
  assert.ok(got !== null);
  const when: number = got;
  const ulp = 1e-6; // epoch seconds as doubles are exact to ~0.2 µs
  assert.ok(when >= added + 0.01 - ulp && when <= after + ulp, `fired at ${when}, added at ${added}, checked at ${after}`);
  // The wall clock: Date.now() on the real engines; the simulation's virtual wall clock in the sim pass.
  assert.ok(Math.abs(when - (onSim() ? epochNow() : Date.now() / 1000)) < 3600, 'seconds since the epoch');
});

test('loop: a cancelled timer does not fire', async () => {
  let cancelledFired = false;
  let done = false;
  const t = DangaSocket.addTimer(0.001, () => {
    cancelledFired = true;
  });
  DangaSocket.addTimer(0.002, () => {
    done = true;
  });
  t.cancel();
  assert.equal(t.pending, false);
  await runUntil(() => done);
  assert.equal(cancelledFired, false);
});

/**
 * Runs the loop until `done()`, with no loop timeout. Should a wake-up be
 * lost, the loop would wait for good: after `backstopMs` a write on a watched
 * socket pair wakes it (which needs no timer) and ends it, and the test fails.
 */
async function runWaiting(done: () => boolean, backstopMs = 30_000): Promise<boolean> {
  class Sink extends DangaSocket {
    override eventRead(): void {
      this.read(100);
    }
  }
  const [a, b] = socketPair();
  const sink = new Sink(a);
  const poker = new Sink(b);
  sink.watchRead(true);
  let lost = false;
  const backstop = setTimeout(() => {
    lost = true;
    poker.write('x');
  }, backstopMs);
  DangaSocket.setLoopTimeout(-1);
  DangaSocket.setPostLoopCallback(() => !done() && !lost);
  try {
    await DangaSocket.eventLoop();
  } finally {
    clearTimeout(backstop);
    sink.close('done');
    poker.close('done');
  }
  return !lost;
}

test('loop: a timer added between iterations shortens the wait of a waiting loop', { skip: skipOnSim('realTime') }, async () => {
  DangaSocket.addTimer(3600, () => assert.fail('the hour-long timer fired'));
  let fired = false;
  // From a Node timer: outside any iteration, while the loop waits for the hour-long timer.
  setTimeout(
    () =>
      DangaSocket.addTimer(0, () => {
        fired = true;
      }),
    20,
  );
  assert.ok(await runWaiting(() => fired), 'the wait was shortened');
});

test('loop: a timer added from a promise job after an event handler fires', async () => {
  const [a, b] = socketPair();
  let fired = false;
  class Waker extends DangaSocket {
    override eventRead(): void {
      this.read(100);
      this.watchRead(false);
      // Runs after the handler, while the iteration is finishing.
      void Promise.resolve().then(() =>
        DangaSocket.addTimer(0, () => {
          fired = true;
        }),
      );
    }
  }
  const w = new Waker(a);
  const peer = new Waker(b);
  w.watchRead(true);
  peer.write('wake');
  try {
    assert.ok(await runWaiting(() => fired), 'the timer added from the promise job fired');
  } finally {
    w.close('done');
    peer.close('done');
  }
});
