/**
 * Fairness of the loop driver: the DangaSocket loop runs inside Node's loop
 * and must never starve it. Non-waiting iterations (loop timeout 0, a timer
 * re-adding itself at 0 s, a stream socket whose readiness stays set) each
 * give Node's timers, immediates and I/O their turn; a loop restarted from
 * the previous loop's promise keeps its wake-ups; and a wake-up asked for in
 * a promise job right after an iteration is not lost.
 *
 * No timing assumptions: every test waits for things to happen, never for
 * them to happen fast, and is bounded only so that a hang fails. A starved
 * Node runs no Node timer (node:test's own timeout included), so the tests
 * that could starve Node end the loop from a DangaSocket timer (which runs
 * even then) and fail; the tests that could lose a wake-up end it from a
 * Node timer.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { DangaSocket, socketPair, type Timer } from 'danga-socket';
import { Recorder, skipOnSim } from '../helpers.js';
import { NodeDriver } from '../../src/engines/node/driver.js';

afterEach(() => DangaSocket.reset());

/** Each test's bound: a test that hangs fails. */
const TIMEOUT = { timeout: 20_000 };
/** The DangaSocket-side backstop (seconds), below node:test's timeout. */
const BACKSTOP_S = 15;

/**
 * For the tests where a lost wake-up would leave the loop waiting for ever:
 * after BACKSTOP_S, `onFire()` (which makes the post-loop callback end the
 * loop), then a fresh deferred close, which asks the loop for a pass. (A
 * timer would not do: one added after a lost one is not the first, and
 * asks for nothing.)
 */
function nodeBackstop(onFire: () => void): NodeJS.Timeout {
  return setTimeout(() => {
    onFire();
    const [x, y] = socketPair();
    new Recorder(x).close('backstop');
    y.close();
  }, BACKSTOP_S * 1000);
}

/** Node's own work of each kind, started at once: a timer, an immediate, a net round trip. */
interface NodeWork {
  timer: boolean;
  immediate: boolean;
  /** What came back from the echo server, once the client saw the end. */
  echoed: string | null;
  done(): boolean;
}

function startNodeWork(): NodeWork {
  const work: NodeWork = {
    timer: false,
    immediate: false,
    echoed: null,
    done: () => work.timer && work.immediate && work.echoed !== null,
  };
  setTimeout(() => {
    work.timer = true;
  }, 1);
  setImmediate(() => {
    work.immediate = true;
  });
  const server = net.createServer((c) => c.pipe(c));
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    let got = '';
    const client = net.connect(port, '127.0.0.1', () => client.end('round trip'));
    client.setEncoding('utf8');
    client.on('data', (d: string) => {
      got += d;
    });
    client.on('end', () => {
      work.echoed = got;
      server.close();
    });
  });
  return work;
}

/**
 * Runs the loop until `work` is done and the loop iterated at least twice
 * more after that, or the backstop fires. Returns the iterations counted
 * before and after the work was done, and whether the backstop ended it.
 */
async function runBeside(work: NodeWork, onDone = (): void => {}): Promise<{ before: number; after: number; backstop: boolean }> {
  let passes = 0;
  let doneAt = -1;
  let backstop = false;
  const stopper: Timer = DangaSocket.addTimer(BACKSTOP_S, () => {
    backstop = true;
  });
  DangaSocket.setPostLoopCallback(() => {
    passes++;
    if (doneAt < 0 && work.done()) {
      doneAt = passes;
      onDone();
    }
    return !backstop && (doneAt < 0 || passes < doneAt + 2);
  });
  await DangaSocket.eventLoop();
  stopper.cancel();
  return { before: doneAt, after: passes - doneAt, backstop };
}

function assertNodeRan(work: NodeWork, r: { before: number; after: number; backstop: boolean }): void {
  assert.ok(!r.backstop, `Node was starved: timer ${work.timer}, immediate ${work.immediate}, net ${work.echoed !== null}`);
  assert.ok(work.timer, 'a Node setTimeout ran');
  assert.ok(work.immediate, 'a Node setImmediate ran');
  assert.equal(work.echoed, 'round trip', 'a net round trip (Node I/O) completed');
  assert.ok(r.before > 0 && r.after >= 2, 'the loop kept iterating');
}

test('setLoopTimeout(0): Node timers, immediates and I/O run while the loop iterates', { ...TIMEOUT, skip: skipOnSim('nodeLoop') }, async () => {
  const work = startNodeWork();
  DangaSocket.setLoopTimeout(0);
  const r = await runBeside(work);
  assertNodeRan(work, r);
});

test('a timer that re-adds itself with addTimer(0) does not starve Node', { ...TIMEOUT, skip: skipOnSim('nodeLoop') }, async () => {
  let ticks = 0;
  let ticking = true;
  const tick = (): void => {
    ticks++;
    if (ticking) DangaSocket.addTimer(0, tick);
  };
  DangaSocket.addTimer(0, tick);
  DangaSocket.setLoopTimeout(-1);
  const work = startNodeWork();
  let ticksAtDone = -1;
  const r = await runBeside(work, () => {
    ticksAtDone = ticks;
  });
  ticking = false;
  assertNodeRan(work, r);
  assert.ok(ticksAtDone > 0 && ticks > ticksAtDone, 'the timer kept re-adding itself beside Node');
});

test('a net.Socket with write interest on and nothing queued: its own I/O still completes', { ...TIMEOUT, skip: skipOnSim('nodeStream') }, async () => {
  // The echo server is Node's; the client is a Node socket given to a
  // DangaSocket, whose reads and writes libuv does: with write interest
  // on and nothing to write, the socket is writable at every iteration.
  const server = net.createServer((c) => c.pipe(c));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  class Pinger extends DangaSocket<net.Socket> {
    writable = 0;
    got = '';
    override eventWrite(): void {
      // Interest stays on: the default eventWrite would turn it off.
      if (++this.writable === 1) this.write('ping');
    }
    override eventRead(): void {
      const buf = this.read(1024);
      if (buf === null) this.close('eof');
      else this.got += buf.toString();
    }
    override eventErr(): void {
      this.close('err');
    }
    override eventHup(): void {
      this.close('hup');
    }
  }
  const p = new Pinger(net.connect(port, '127.0.0.1'));
  p.watchRead(true);
  p.watchWrite(true);
  let passes = 0;
  let doneAt = -1;
  let backstop = false;
  let immediate = false;
  setImmediate(() => {
    immediate = true;
  });
  const stopper = DangaSocket.addTimer(BACKSTOP_S, () => {
    backstop = true;
  });
  DangaSocket.setLoopTimeout(-1);
  DangaSocket.setPostLoopCallback(() => {
    passes++;
    if (doneAt < 0 && p.got === 'ping' && immediate) doneAt = passes;
    return !backstop && (doneAt < 0 || passes < doneAt + 2);
  });
  await DangaSocket.eventLoop();
  stopper.cancel();
  assert.ok(!backstop, `Node was starved: got ${JSON.stringify(p.got)} after ${p.writable} eventWrite calls`);
  assert.equal(p.got, 'ping', 'the echo came back through libuv');
  assert.ok(p.writable > 1, 'eventWrite kept firing with nothing queued');
  assert.ok(immediate);
  p.close('done');
  server.close();
});

test("eventLoop() restarted from the previous loop's .then keeps its wake-ups: a timer added right after fires", TIMEOUT, async () => {
  DangaSocket.setLoopTimeout(-1);
  // The first loop ends at its first pass (the timer makes one happen).
  DangaSocket.addTimer(0, () => {});
  DangaSocket.setPostLoopCallback(() => false);
  let fired = false;
  let lost = false;
  const { second } = await new Promise<{ second: Promise<void> }>((resolve, reject) => {
    DangaSocket.eventLoop().then(() => {
      // Inside the old loop's last callback (its promise jobs run there).
      DangaSocket.setPostLoopCallback(() => !fired && !lost);
      const again = DangaSocket.eventLoop();
      DangaSocket.addTimer(0, () => {
        fired = true;
      });
      resolve({ second: again }); // (a bare promise would be adopted)
    }, reject);
  });
  // Should the wake-up be lost, the loop would wait forever: end it and fail.
  const backstop = nodeBackstop(() => {
    lost = true;
  });
  await second;
  clearTimeout(backstop);
  assert.ok(fired && !lost, 'the timer added after the restart fired');
});

test("eventLoop() restarted from the previous loop's .catch keeps its wake-ups: a close() completes", TIMEOUT, async () => {
  const [a, b] = socketPair();
  const obj = new Recorder(a);
  DangaSocket.setLoopTimeout(-1);
  // The first loop ends with an exception at its first pass (the timer,
  // run as the loop starts, makes that pass happen at once).
  DangaSocket.addTimer(0, () => {});
  DangaSocket.setPostLoopCallback(() => {
    throw new Error('end of the first loop');
  });
  let lost = false;
  const { second } = await new Promise<{ second: Promise<void> }>((resolve) => {
    DangaSocket.eventLoop().catch((err: unknown) => {
      assert.match(String(err), /end of the first loop/);
      DangaSocket.setPostLoopCallback(() => !a.closed && !lost);
      const again = DangaSocket.eventLoop();
      obj.close('after the restart');
      resolve({ second: again }); // (a bare promise would be adopted)
    });
  });
  const backstop = nodeBackstop(() => {
    lost = true;
  });
  await second;
  clearTimeout(backstop);
  assert.ok(a.closed && !lost, 'the deferred close completed');
  b.close();
});

test(
  'a stream socket made ready in a promise job right after an iteration is seen without another event',
  { ...TIMEOUT, skip: skipOnSim('nodeStream') },
  async () => {
    // The stream's 'readable' comes in a nextTick of a promise job that an
    // event handler queued: both run after the iteration returned, inside
    // the same call from the driver. With the loop timeout at -1 and no
    // other event to come, only the wake-up asked for then makes the loop
    // look at the stream again.
    const stream = new PassThrough();
    class StreamReader extends DangaSocket<PassThrough> {
      got = '';
      override eventRead(): void {
        const buf = this.read(100);
        if (buf !== null) this.got += buf.toString();
      }
    }
    const reader = new StreamReader(stream);
    reader.watchRead(true);
    const [a, b] = socketPair();
    const trigger = new Recorder(a);
    trigger.onRead = (self) => {
      self.read(100);
      self.watchRead(false);
      void Promise.resolve().then(() => stream.write('from a promise job'));
    };
    trigger.watchRead(true);
    new Recorder(b).write('go');
    DangaSocket.setLoopTimeout(-1);
    let lost = false;
    DangaSocket.setPostLoopCallback(() => reader.got === '' && !lost);
    const backstop = nodeBackstop(() => {
      lost = true;
    });
    await DangaSocket.eventLoop();
    clearTimeout(backstop);
    assert.equal(reader.got, 'from a promise job');
    assert.ok(!lost);
  },
);

test('a timer added in a promise job right after an iteration fires (loop timeout -1)', TIMEOUT, async () => {
  const [a, b] = socketPair();
  let fired = false;
  const trigger = new Recorder(a);
  trigger.onRead = (self) => {
    self.read(100);
    self.watchRead(false);
    void Promise.resolve().then(() =>
      DangaSocket.addTimer(0, () => {
        fired = true;
      }),
    );
  };
  trigger.watchRead(true);
  new Recorder(b).write('go');
  DangaSocket.setLoopTimeout(-1);
  let lost = false;
  DangaSocket.setPostLoopCallback(() => !fired && !lost);
  const backstop = nodeBackstop(() => {
    lost = true;
  });
  await DangaSocket.eventLoop();
  clearTimeout(backstop);
  assert.ok(fired && !lost, 'the timer added from the promise job fired');
});

test('the node driver keeps the contract: an arm(0) made during an iteration wins over its return value', TIMEOUT, async () => {
  // The core does not arm() during an iteration today (its return value
  // covers what the iteration did); the contract allows it, so a driver
  // must merge, not overwrite. (The epoll driver's one instance belongs to
  // the loop: the tests above cover it through the loop.)
  for (const returned of [-1, 3_600_000]) {
    const driver = new NodeDriver();
    let passes = 0;
    const outcome = await new Promise<string>((resolve) => {
      const backstop = setTimeout(() => {
        driver.stop();
        resolve('lost');
      }, BACKSTOP_S * 1000);
      driver.start(() => {
        if (++passes === 1) {
          driver.arm(0);
          return returned;
        }
        clearTimeout(backstop);
        resolve('second pass');
        driver.stop();
        return -1;
      }, 0);
    });
    assert.equal(outcome, 'second pass', `the arm(0) was lost to a return value of ${returned}`);
  }
});

// Eight workers: bounded more generously (under valgrind they take ~30 s).
test('a worker torn down with the loop in any state closes every handle of the driver', { timeout: 90_000, skip: skipOnSim('worker') }, async () => {
  // Teardown (the native cleanup hook) must close each handle it opened:
  // a close count higher than the handles it closes hangs the worker's
  // exit (this test then fails).
  for (const mode of ['zero', 'timer', 'events', 'stopped']) {
    for (const end of ['terminate', 'exit']) {
      const worker = new Worker(new URL('./fixtures/loop-worker.js', import.meta.url), { workerData: { mode, end } });
      const code = await new Promise<number>((resolve, reject) => {
        worker.on('error', reject);
        worker.on('message', (m) => {
          if (m === 'running' && end === 'terminate') void worker.terminate();
        });
        worker.on('exit', resolve);
      });
      assert.equal(code, end === 'terminate' ? 1 : 0, `${mode}/${end}`);
    }
  }
});
