/**
 * The class side: reset, haveEpoll, watchedSockets, profiling, toClose,
 * otherFds, loop timeout, debugMsg, timers, descriptorMap, eventLoop and
 * post-loop callbacks.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readSync } from 'node:fs';
import { DangaSocket, Timer, socketPair, listenTcp, POLLIN, type Sock } from 'danga-socket';
import { monotonicMs } from '../../src/core/timers.js';
import { runUntil, Recorder, Collector, captureStderr, Listener, onEpoll, NEEDS_EPOLL, skipOnSim, testRandom } from '../helpers.js';

afterEach(() => DangaSocket.reset());

test('haveEpoll() and engine() agree', () => {
  const wanted = process.env.DANGA_ENGINE ?? 'epoll';
  const expected = wanted === 'node' || wanted === 'sim' ? wanted : 'epoll';
  assert.equal(DangaSocket.engine(), expected);
  assert.equal(DangaSocket.haveEpoll(), expected === 'epoll');
});

test('watchedSockets() counts the descriptor map', () => {
  assert.equal(DangaSocket.watchedSockets(), 0);
  const [a, b] = socketPair();
  new Recorder(a);
  assert.equal(DangaSocket.watchedSockets(), 1);
  new Recorder(b);
  assert.equal(DangaSocket.watchedSockets(), 2);
  assert.equal(DangaSocket.descriptorMap().size, 2);
});

test('descriptorMap() is the live fd -> object map', () => {
  const map = DangaSocket.descriptorMap();
  const [a, b] = socketPair();
  const ra = new Recorder(a);
  assert.equal(map.get(a.fd), ra);
  assert.equal(DangaSocket.descriptorMap(), map);
  b.close();
});

test('reset() closes registered sockets and empties the maps', () => {
  const [a, b] = socketPair();
  const ra = new Recorder(a);
  const map = DangaSocket.descriptorMap();
  DangaSocket.addTimer(100, () => assert.fail('timer survived reset'));
  DangaSocket.setLoopTimeout(5);
  DangaSocket.setPostLoopCallback(() => true);
  DangaSocket.reset();
  assert.equal(map.size, 0);
  assert.ok(ra.closed);
  assert.ok(a.closed, 'the fd itself is closed');
  assert.equal(DangaSocket.toClose().length, 0);
  b.close();
});

test('close() is deferred: the fd stays in the map and in toClose() until the iteration ends', async () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  const fd = a.fd;
  const peer = new Recorder(b);
  let sawInside = false;
  let sawAfter = false;
  r.onRead = (self) => {
    self.read(100);
    self.close('test');
    assert.ok(self.closed);
    assert.equal(self.fd, -1);
    assert.ok(DangaSocket.descriptorMap().has(fd), 'still mapped during the iteration');
    assert.deepEqual(DangaSocket.toClose(), [a]);
    assert.ok(!a.closed, 'fd not closed yet');
    sawInside = true;
  };
  r.watchRead(true);
  peer.write('x');
  await runUntil(() => {
    if (sawInside && !DangaSocket.descriptorMap().has(fd)) sawAfter = true;
    return sawAfter;
  });
  assert.ok(a.closed);
  assert.equal(DangaSocket.toClose().length, 0);
});

test('close() outside the loop waits in toClose() until the loop runs', async () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  r.close();
  assert.deepEqual(DangaSocket.toClose(), [a]);
  assert.ok(!a.closed);
  await runUntil(() => true);
  assert.ok(a.closed);
  b.close();
});

test('enableProfiling() returns true and gathers per-class, per-event figures', async () => {
  assert.equal(DangaSocket.enableProfiling(), true);
  const [a, b] = socketPair();
  class Profiled extends Collector {}
  const c = new Profiled(a);
  const w = new Recorder(b);
  w.write('hello');
  await runUntil(() => c.bytes === 5);
  const data = DangaSocket.profilingData();
  const entry = data['Profiled-read'];
  assert.ok(entry, 'has Profiled-read');
  assert.equal(entry.length, 3);
  assert.ok(entry[2] >= 1);
  assert.ok(entry[0] >= 0 && entry[1] >= 0);
  DangaSocket.disableProfiling();
  const calls = entry[2];
  w.write('more');
  await runUntil(() => c.bytes === 9);
  assert.equal(DangaSocket.profilingData()['Profiled-read']?.[2], calls, 'no counting once disabled');
  assert.equal(DangaSocket.enableProfiling(), true);
  assert.deepEqual(DangaSocket.profilingData(), {}, 'enabling clears the data');
});

test('addOtherFds() watches a foreign fd for readability, given as an object or a Map', { skip: onEpoll() ? false : NEEDS_EPOLL }, async () => {
  const [a, b] = socketPair();
  const [c, d] = socketPair();
  const states: number[] = [];
  const statesMap: number[] = [];
  DangaSocket.addOtherFds({
    [a.fd]: (state: number) => {
      states.push(state);
      drain(a);
    },
  });
  DangaSocket.addOtherFds(
    new Map([
      [
        c.fd,
        (state: number) => {
          statesMap.push(state);
          drain(c);
        },
      ],
    ]),
  );
  const byNumber = (x: number, y: number): number => x - y;
  assert.deepEqual([...DangaSocket.otherFds().keys()].sort(byNumber), [a.fd, c.fd].sort(byNumber));
  const wb = new Recorder(b);
  const wd = new Recorder(d);
  wb.write('ping');
  wd.write('pong');
  await runUntil(() => states.length > 0 && statesMap.length > 0);
  assert.ok((states[0] as number) & POLLIN);
  assert.ok((statesMap[0] as number) & POLLIN);
  a.close();
  c.close();
});

/** Reads what is pending on a foreign socket fd. */
function drain(s: Sock): void {
  try {
    readSync(s.fd, Buffer.alloc(1024));
  } catch (err) {
    if ((err as { code?: string }).code !== 'EAGAIN') throw err;
  }
}

test('addOtherFds() while the loop runs takes effect at once', { skip: onEpoll() ? false : NEEDS_EPOLL }, async () => {
  const [a, b] = socketPair();
  let fired = 0;
  const wb = new Recorder(b);
  DangaSocket.addTimer(0, () => {
    DangaSocket.addOtherFds({
      [a.fd]: () => {
        fired++;
        drain(a);
      },
    });
    wb.write('x');
  });
  await runUntil(() => fired > 0);
  assert.equal(fired, 1);
  a.close();
});

test('otherFds(map) replaces the set and stops watching removed fds', { skip: onEpoll() ? false : NEEDS_EPOLL }, async () => {
  const [a, b] = socketPair();
  const [c, d] = socketPair();
  let aFired = 0;
  let cFired = 0;
  DangaSocket.addOtherFds({
    [a.fd]: () => {
      aFired++;
      drain(a);
    },
  });
  const m = DangaSocket.otherFds({
    [c.fd]: () => {
      cFired++;
      drain(c);
    },
  });
  assert.deepEqual([...m.keys()], [c.fd]);
  new Recorder(b).write('to a');
  new Recorder(d).write('to c');
  await runUntil(() => cFired > 0);
  assert.equal(aFired, 0, 'a no longer watched');
  a.close();
  c.close();
});

test('setLoopTimeout(0) polls without waiting: post-loop callbacks run with no events', async () => {
  DangaSocket.setLoopTimeout(0);
  let n = 0;
  DangaSocket.setPostLoopCallback(() => ++n < 50);
  await DangaSocket.eventLoop();
  assert.equal(n, 50);
});

test('setLoopTimeout(N) runs post-loop callbacks with no events at all', async () => {
  assert.equal(DangaSocket.setLoopTimeout(5), 5);
  let n = 0;
  DangaSocket.setPostLoopCallback((dmap, other) => {
    assert.ok(dmap instanceof Map);
    assert.ok(other instanceof Map);
    return ++n < 3;
  });
  await DangaSocket.eventLoop();
  assert.equal(n, 3);
});

test('setLoopTimeout(-1) is the default: the loop waits for events or timers only', async () => {
  assert.equal(DangaSocket.setLoopTimeout(-1), -1);
  let iterations = 0;
  let fired = false;
  DangaSocket.addTimer(0.01, () => {
    fired = true;
  });
  DangaSocket.setPostLoopCallback(() => {
    iterations++;
    return !fired;
  });
  await DangaSocket.eventLoop();
  assert.ok(fired);
  assert.ok(iterations >= 1);
});

test('debugMsg() prints a formatted line to stderr', () => {
  const out = captureStderr(() => DangaSocket.debugMsg('fd=%d name=%s\n', 7, 'x'));
  assert.equal(out, '>>> fd=7 name=x\n');
});

// Timer ordering is tested on TimerQueue with an injected clock (timers.test.ts).

test('a cancelled timer never fires, even when cancelled by a timer due in the same pass', async () => {
  const fired: string[] = [];
  const t1 = DangaSocket.addTimer(0, () => {
    fired.push('first');
    t2.cancel();
  });
  const t2: Timer = DangaSocket.addTimer(0, () => fired.push('second'));
  const t3 = DangaSocket.addTimer(0.001, () => fired.push('third'));
  t3.cancel();
  t3.cancel();
  assert.ok(t3 instanceof Timer);
  assert.equal(t3.pending, false);
  DangaSocket.addTimer(0.02, () => fired.push('end'));
  await runUntil(() => fired.includes('end'));
  assert.deepEqual(fired, ['first', 'end']);
  assert.equal(t1.pending, false);
});

test('addTimer(0) inside a timer runs on a later pass, never the same one', async () => {
  let pass = 0;
  const seen: Array<[string, number]> = [];
  DangaSocket.addTimer(0, () => {
    seen.push(['outer', pass]);
    DangaSocket.addTimer(0, () => seen.push(['inner', pass]));
  });
  DangaSocket.setLoopTimeout(0);
  DangaSocket.setPostLoopCallback(() => {
    pass++;
    return seen.length < 2;
  });
  await DangaSocket.eventLoop();
  assert.equal(seen[0]?.[0], 'outer');
  assert.equal(seen[1]?.[0], 'inner');
  assert.ok(seen[1][1] > seen[0][1], 'inner ran on a later pass');
});

test('many random timers fire in time order', async () => {
  // Each addTimer() reads the clock itself, somewhere between the reading
  // taken just before it and the one taken just before the next add; a pair
  // is out of order only if that is so whatever the exact readings were.
  // (The loop's clock: performance.now() on the real engines, virtual time in the sim pass.)
  const n = 2000;
  const fired: number[] = [];
  const delays: number[] = [];
  const addedAfter: number[] = [];
  const timers = [];
  for (let i = 0; i < n; i++) {
    const d = testRandom() * 50;
    delays.push(d);
    addedAfter.push(monotonicMs());
    timers.push(DangaSocket.addTimer(d / 1000, () => fired.push(i)));
  }
  addedAfter.push(monotonicMs());
  const cancelled = new Set<number>();
  for (let i = 0; i < n; i += 7) {
    timers[i]?.cancel();
    cancelled.add(i);
  }
  await runUntil(() => fired.length === n - cancelled.size);
  for (const i of fired) assert.ok(!cancelled.has(i));
  for (let k = 1; k < fired.length; k++) {
    const a = fired[k - 1] as number;
    const b = fired[k] as number;
    const earliestA = (addedAfter[a] as number) + (delays[a] as number);
    const latestB = (addedAfter[b + 1] as number) + (delays[b] as number);
    assert.ok(earliestA <= latestB, `timer ${a} fired before timer ${b}, which was due earlier`);
  }
});

test('eventLoop() resolves when the post-loop callback returns false, and can run again', async () => {
  let n = 0;
  DangaSocket.setLoopTimeout(0);
  DangaSocket.setPostLoopCallback(() => ++n % 3 !== 0);
  await DangaSocket.eventLoop();
  assert.equal(n, 3);
  await DangaSocket.eventLoop();
  assert.equal(n, 6);
});

test('eventLoop() while it runs is an error', async () => {
  let inner: unknown = null;
  DangaSocket.setLoopTimeout(0);
  DangaSocket.setPostLoopCallback(() => {
    if (inner === null) inner = DangaSocket.eventLoop().catch((e: unknown) => e);
    return false;
  });
  await DangaSocket.eventLoop();
  const err = (await inner) as Error & { code: string };
  assert.ok(err instanceof Error);
  assert.equal(err.code, 'ERR_LOOP_RUNNING');
});

test('an exception in a handler rejects eventLoop(); state is kept and the loop can run again', async () => {
  const [a, b] = socketPair();
  class Bare extends DangaSocket {}
  const bare = new Bare(a);
  bare.watchRead(true);
  const w = new Recorder(b);
  w.write('data');
  await assert.rejects(DangaSocket.eventLoop(), /Base class eventRead called for Bare/);
  assert.equal(DangaSocket.watchedSockets(), 2, 'state kept');
  bare.watchRead(false);
  let ran = false;
  DangaSocket.addTimer(0, () => {
    ran = true;
  });
  await runUntil(() => ran);
  assert.ok(ran);
});

test('an exception in a timer rejects eventLoop() and the later timers still fire', async () => {
  const fired: string[] = [];
  DangaSocket.addTimer(0, () => {
    throw new Error('timer boom');
  });
  DangaSocket.addTimer(0, () => fired.push('next'));
  await assert.rejects(DangaSocket.eventLoop(), /timer boom/);
  await runUntil(() => fired.length === 1);
  assert.deepEqual(fired, ['next']);
});

test('per-object post-loop callbacks run before the global one; any falsy result ends the loop', async () => {
  const [a, b] = socketPair();
  const ra = new Recorder(a);
  const calls: string[] = [];
  ra.setPostLoopCallback(() => {
    calls.push('object');
    return true;
  });
  DangaSocket.setPostLoopCallback(() => {
    calls.push('global');
    return calls.length < 4;
  });
  DangaSocket.setLoopTimeout(0);
  await DangaSocket.eventLoop();
  assert.deepEqual(calls, ['object', 'global', 'object', 'global']);
  ra.setPostLoopCallback(() => false);
  DangaSocket.setPostLoopCallback(() => true);
  await DangaSocket.eventLoop();
  ra.setPostLoopCallback(null);
  b.close();
});

test('the loop runs inside Node: Node timers, promises and net work beside it', { skip: skipOnSim('nodeNet') }, async () => {
  const collectors: Collector[] = [];
  const server = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => collectors.push(new Collector(s)));
  const port = (server.sock() as Sock).localAddress() as { port: number };
  const net = await import('node:net');
  let nodeTimer = false;
  let promiseDone = false;
  setTimeout(() => {
    nodeTimer = true;
  }, 1);
  void Promise.resolve().then(() => {
    promiseDone = true;
  });
  const client = net.connect(port.port, '127.0.0.1');
  let connected = false;
  client.on('connect', () => {
    connected = true;
    client.end('from node');
  });
  await runUntil(() => nodeTimer && promiseDone && connected && collectors[0]?.eof === true);
  assert.equal(collectors[0]?.text(), 'from node');
  assert.ok(nodeTimer && promiseDone);
});

test('reset() inside a handler keeps the closed numbers reserved: the rest of the batch never reaches new objects', async () => {
  // Four connections whose peers are gone: one batch holds an event for each.
  const pairs = Array.from({ length: 4 }, () => socketPair());
  const fresh: Recorder[] = [];
  let resetDone = false;
  class Resetter extends DangaSocket {
    override eventRead(): void {
      this.onEvent();
    }
    override eventHup(): void {
      this.onEvent();
    }
    override eventErr(): void {
      this.onEvent();
    }
    private onEvent(): void {
      if (resetDone) return;
      resetDone = true;
      DangaSocket.reset();
      // New healthy connections, made while the batch is being dispatched.
      for (let i = 0; i < 8; i++) {
        const [x, y] = socketPair();
        fresh.push(new Recorder(x), new Recorder(y));
      }
      DangaSocket.setPostLoopCallback(() => false);
    }
  }
  const oldFds = new Set<number>();
  for (const [a, b] of pairs) {
    oldFds.add(a.fd);
    new Resetter(a).watchRead(true);
    b.close();
  }
  await DangaSocket.eventLoop();
  assert.ok(resetDone);
  for (const r of fresh) {
    assert.ok(!oldFds.has(r.fd), `a new socket got fd ${r.fd}, still reserved by a closed object`);
    assert.deepEqual(r.log, [], `a healthy new connection (fd ${r.fd}) was handed events of the old batch`);
  }
});

test(
  'dropping a foreign fd its owner closed leaves the registration of a new socket with that number alone',
  { skip: onEpoll() ? false : NEEDS_EPOLL },
  async () => {
    const [a, b] = socketPair();
    const foreign = a.fd;
    DangaSocket.addOtherFds({ [foreign]: () => {} });
    a.close(); // its owner closes the foreign fd: the number is free
    // A new connection takes the number and is registered with the loop.
    let mine: [Sock, Sock] | null = null;
    const spare: Sock[] = [];
    for (let i = 0; i < 64 && mine === null; i++) {
      const [x, y] = socketPair();
      if (x.fd === foreign) mine = [x, y];
      else if (y.fd === foreign) mine = [y, x];
      else spare.push(x, y);
    }
    assert.ok(mine !== null, 'the number was reused');
    const reader = new Collector(mine[0]);
    const writer = new Collector(mine[1]);
    DangaSocket.otherFds(new Map()); // drop the foreign fd
    writer.write('still here');
    await runUntil(() => reader.text() === 'still here');
    for (const s of spare) s.close();
    b.close();
  },
);
