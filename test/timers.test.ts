/**
 * Timer queue edge cases: reset() from inside a timer, cancelling timers of
 * the same millisecond from a callback, timers far apart, fractional delays.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { DangaSocket, socketPair } from 'danga-socket';
import { runUntil } from './helpers.js';

afterEach(() => DangaSocket.reset());

test('reset() from inside a timer drops the timers due in the same pass', async () => {
  const fired: string[] = [];
  DangaSocket.addTimer(0, () => {
    fired.push('first');
    DangaSocket.reset();
  });
  DangaSocket.addTimer(0, () => fired.push('second'));
  DangaSocket.addTimer(0.001, () => fired.push('third'));
  let passes = 0;
  DangaSocket.setLoopTimeout(0);
  DangaSocket.setPostLoopCallback(() => ++passes < 3);
  // reset() also drops the post-loop callback and the loop timeout: end the loop with a timer.
  setTimeout(() => DangaSocket.addTimer(0, () => DangaSocket.setPostLoopCallback(() => false)), 20);
  await DangaSocket.eventLoop();
  assert.deepEqual(fired, ['first']);
});

test('a callback cancelling later timers of its own millisecond, and adding new ones', async () => {
  const fired: number[] = [];
  const timers = Array.from({ length: 20 }, (_, i) =>
    DangaSocket.addTimer(0.002, () => {
      fired.push(i);
      if (i === 0) for (let k = 1; k < 20; k += 2) timers[k]?.cancel();
      if (i === 2) DangaSocket.addTimer(0, () => fired.push(100));
    }),
  );
  await runUntil(() => fired.includes(100) && fired.length === 11);
  assert.deepEqual(fired, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 100]);
});

test('fractional and widely spread delays fire in time order', async () => {
  const fired: string[] = [];
  DangaSocket.addTimer(0.0305, () => fired.push('30.5ms'));
  DangaSocket.addTimer(0.0301, () => fired.push('30.1ms'));
  DangaSocket.addTimer(0.0005, () => fired.push('0.5ms'));
  DangaSocket.addTimer(0.12, () => fired.push('120ms'));
  DangaSocket.addTimer(-5, () => fired.push('negative = now'));
  await runUntil(() => fired.length === 5);
  assert.deepEqual(fired, ['negative = now', '0.5ms', '30.1ms', '30.5ms', '120ms']);
});

test('timers of a millisecond that is only partly due when a pass runs still fire, later', async () => {
  // Sub-millisecond delays put several timers in one bucket; a pass that
  // comes in the middle of that millisecond must keep the rest for later.
  const fired = new Set<number>();
  for (let i = 0; i < 200; i++) DangaSocket.addTimer((i % 10) * 0.0001, () => fired.add(i));
  let sentinel = false;
  DangaSocket.addTimer(0.05, () => { sentinel = true; });
  // A Node timer ends the loop too, should the sentinel itself be lost.
  const backstop = setTimeout(() => { sentinel = true; }, 5000);
  DangaSocket.setLoopTimeout(0);
  DangaSocket.setPostLoopCallback(() => !sentinel);
  await DangaSocket.eventLoop();
  clearTimeout(backstop);
  assert.equal(fired.size, 200);
});

/** Spins until `ms` have passed, so timers added before are due together. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('a pass over several due milliseconds: cancels reach later buckets; after an exception the rest still fire', async () => {
  const fired: string[] = [];
  let victim: { cancel(): void } | null = null;
  DangaSocket.addTimer(0, () => {
    fired.push('a');
    victim?.cancel();
    throw new Error('boom in a');
  });
  victim = DangaSocket.addTimer(0.002, () => fired.push('victim'));
  DangaSocket.addTimer(0.002, () => fired.push('b'));
  DangaSocket.addTimer(0.004, () => fired.push('c'));
  spin(6); // everything above is due by the time the loop starts
  await assert.rejects(DangaSocket.eventLoop(), /boom in a/);
  await runUntil(() => fired.includes('c'));
  assert.deepEqual(fired, ['a', 'b', 'c']);
});

test('a wake-up requested from a promise job after an event handler is not lost', async () => {
  const [a, b] = socketPair();
  let fired = false;
  class Waker extends DangaSocket {
    override eventRead(): void {
      this.read(100);
      this.watchRead(false);
      // Runs after the handler, while the iteration is finishing.
      void Promise.resolve().then(() => DangaSocket.addTimer(0, () => { fired = true; }));
    }
    override eventHup(): void {
      this.close('hup');
    }
  }
  const w = new Waker(a);
  w.watchRead(true);
  new Waker(b).write('wake');
  DangaSocket.setLoopTimeout(-1);
  let lost = false;
  DangaSocket.setPostLoopCallback(() => !fired && !lost);
  // Should the wake-up be lost, the loop would wait forever: end it and fail.
  const backstop = setTimeout(() => DangaSocket.addTimer(0, () => { lost = true; }), 10_000);
  await DangaSocket.eventLoop();
  clearTimeout(backstop);
  assert.ok(fired && !lost, 'the timer added from the promise job fired');
});
