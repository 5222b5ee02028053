/**
 * The loop's embedding port (src/core/loop.ts: Reactor.lend, fail,
 * endWhen, describeFd), what danga-socket/sim runs the loop through, and
 * the compile-time guard on the loop's settings (no client may assign
 * them). On every engine: the lent parts are a real simulation's
 * (engines/sim/setup.ts), as simulate() lends them.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { DangaSocket, socketPair } from 'danga-socket';
import { reactor } from '../../src/core/loop.js';
import { currentClock } from '../../src/core/timers.js';
import { resolveFaults, simulationParts } from '../../src/engines/sim/index.js';

afterEach(() => {
  reactor.endWhen(null);
  DangaSocket.reset();
});

function parts(): ReturnType<typeof simulationParts> {
  return simulationParts(
    { seed: 3, faults: resolveFaults({}), epoch: 1_000, maxFds: 64, keepTrace: true, durationMs: 60_000, watchdogMs: 0, maxPerInstant: 1_000 },
    reactor,
  );
}

test('lend() puts an engine, its driver and its clock in the loop; the function it returns gives everything back', async () => {
  const engine = DangaSocket.engine();
  const driver = reactor.driver;
  const clock = currentClock();
  const onError = (): void => {};
  DangaSocket.setErrorHandler(onError);
  let ownCalls = 0;
  DangaSocket.setPostLoopCallback(() => {
    ownCalls++;
    return false;
  });

  const lent = parts();
  const giveBack = reactor.lend(lent);
  assert.equal(DangaSocket.engine(), 'sim');
  assert.equal(reactor.driver, lent.driver);
  assert.equal(currentClock(), lent.clock);
  // The lent engine's sockets are the simulated network's, numbered from 3 there.
  const [a] = socketPair();
  assert.equal(a.engine, 'sim');
  new DangaSocket(a);
  assert.equal(reactor.descriptorMap.size, 1);
  DangaSocket.setErrorHandler(null);
  DangaSocket.setPostLoopCallback(null);

  giveBack();
  assert.equal(DangaSocket.engine(), engine);
  assert.equal(reactor.driver, driver);
  assert.equal(currentClock(), clock);
  assert.equal(reactor.descriptorMap.size, 0, 'the loop was reset: the lent sockets are gone');
  assert.ok(a.closed);
  assert.equal(reactor.errorHandler, onError, 'the error handler in force before the loan is back');
  // The post-loop callback in force before the loan is back: it ends this loop after one iteration.
  DangaSocket.addTimer(0, () => DangaSocket.stop());
  await DangaSocket.eventLoop();
  assert.equal(ownCalls, 1);

  giveBack(); // later calls do nothing
  assert.equal(DangaSocket.engine(), engine);
});

test('lend() refuses a running loop', async () => {
  DangaSocket.setLoopTimeout(0); // an iteration at once: nothing else would wake the loop
  let refused: unknown = null;
  DangaSocket.setPostLoopCallback(() => {
    try {
      reactor.lend(parts());
    } catch (err) {
      refused = err;
    }
    return false;
  });
  await DangaSocket.eventLoop();
  assert.equal((refused as { code?: string } | null)?.code, 'ERR_LOOP_RUNNING');
});

test('fail() ends the running loop at the end of the iteration and eventLoop() rejects with the error; outside a loop it does nothing', async () => {
  reactor.fail(new Error('no loop runs')); // nothing: the next loop is not failed by it
  DangaSocket.setLoopTimeout(0); // an iteration at once: nothing else would wake the loop
  const stuck = new Error('stuck');
  let calls = 0;
  DangaSocket.setPostLoopCallback(() => {
    calls++;
    if (calls === 1) reactor.fail(stuck);
    return true;
  });
  const got = await DangaSocket.eventLoop().then(
    () => null,
    (err: unknown) => err,
  );
  assert.equal(got, stuck);
  assert.equal(calls, 1, 'the loop ended in the iteration that failed it');

  // From a timer (outside the post-loop phase), and the first failure of a run wins.
  const first = new Error('first');
  DangaSocket.setPostLoopCallback(null);
  DangaSocket.addTimer(0, () => {
    reactor.fail(first);
    reactor.fail(new Error('second'));
  });
  assert.equal(
    await DangaSocket.eventLoop().then(
      () => null,
      (err: unknown) => err,
    ),
    first,
  );

  // The failure went with its run: the next loop ends normally.
  DangaSocket.setPostLoopCallback(() => false);
  await DangaSocket.eventLoop();
});

test('endWhen(): done() is looked at after the post-loop callback and ends the loop in the iteration where it holds', async () => {
  let iterations = 0;
  DangaSocket.setLoopTimeout(0);
  DangaSocket.setPostLoopCallback(() => {
    iterations++;
    return true;
  });
  reactor.endWhen(() => iterations >= 3);
  await DangaSocket.eventLoop();
  assert.equal(iterations, 3);

  // A post-loop callback that ends the loop itself: done() is not asked. (The loop timeout is still 0.)
  let asked = false;
  reactor.endWhen(() => (asked = true));
  DangaSocket.setPostLoopCallback(() => false);
  await DangaSocket.eventLoop();
  assert.equal(asked, false);
});

test("describeFd(): the object's class and close reason, for a trace; '' for an fd without an object", () => {
  class Named extends DangaSocket {}
  const [a, b] = socketPair();
  const obj = new Named(a);
  assert.equal(reactor.describeFd(a.fd), 'Named -');
  assert.equal(reactor.describeFd(b.fd), '');
  obj.close('done');
  b.close();
});

/** Never called: tsc fails on an unused @ts-expect-error, so each line proves the compiler refuses the assignment. */
export function settingsAreNotAssignable(): void {
  // @ts-expect-error -- set through setErrorHandler()
  reactor.errorHandler = null;
  // @ts-expect-error -- read-only: the loop's own state
  reactor.running = false;
  // @ts-expect-error -- read-only: filed by deferClose()
  reactor.pending = [];
  // @ts-expect-error -- set through enableProfiling()
  reactor.profiling = {};
  // @ts-expect-error -- no such field: setLoopTimeout()
  reactor.loopTimeout = 0;
  // @ts-expect-error -- no such field: setPostLoopCallback()
  reactor.postLoopCallback = null;
  // @ts-expect-error -- no such field: enableProfiling()/disableProfiling()
  reactor.doProfile = true;
  // @ts-expect-error -- no such field: private to the loop
  reactor.inIteration = false;
  // @ts-expect-error -- no such field: stop()
  reactor.stopRequested = true;
  // @ts-expect-error -- no such field: the idle sweep's clock
  reactor.now = 0;
}
