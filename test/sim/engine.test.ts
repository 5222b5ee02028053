/**
 * The sim engine itself (src/engines/sim, src/sim.ts): determinism and
 * replay, the virtual clock, descriptor numbers, the faults that reach the
 * library's error paths, the failures a simulation reports, and its limits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Connection, DangaSocket, Listener, connectTcp, connectTls, listenTcp, listenTls, socketPair, type Sock } from 'danga-socket';
import { SimSock, SimulationError, seeds, simulate } from 'danga-socket/sim';
import { echoScenario } from './scenarios.js';

const fixture = fileURLToPath(new URL('./fixtures/digest.js', import.meta.url));

/** Does nothing; closes on errors and hangups. */
class Idle extends DangaSocket {
  override eventRead(): void {}
  override eventErr(): void {
    this.close('error');
  }
  override eventHup(): void {
    this.close('hup');
  }
}

async function simFailure(run: () => Promise<unknown>): Promise<SimulationError> {
  try {
    await run();
  } catch (err) {
    assert.ok(err instanceof SimulationError, String(err));
    return err;
  }
  assert.fail('the simulation did not fail');
}

test('the same seed gives the same trace, byte for byte, in this process and in another; other seeds give others', async () => {
  const a = await echoScenario(7);
  const b = await echoScenario(7);
  assert.equal(a.digest, b.digest);
  assert.equal(a.events, b.events);
  assert.notEqual((await echoScenario(8)).digest, a.digest);
  const out = execFileSync(process.execPath, [fixture, '7'], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { seed: 7, digest: a.digest });
});

test('DANGA_SIM_SEED overrides the seed (a replay) and narrows seeds() to it', async () => {
  process.env.DANGA_SIM_SEED = '42';
  try {
    assert.deepEqual(seeds(500), [42]);
    const r = await simulate({ seed: 5 }, () => {});
    assert.equal(r.seed, 42);
  } finally {
    delete process.env.DANGA_SIM_SEED;
  }
  assert.deepEqual(seeds(3, 10), [10, 11, 12]);
});

test('inside a simulation the engine is sim and the helpers make simulated sockets; the real engine is back afterwards', async () => {
  const before = DangaSocket.engine();
  await simulate({}, () => {
    assert.equal(DangaSocket.engine(), 'sim');
    const [a, b] = socketPair();
    assert.ok(a instanceof SimSock && b instanceof SimSock);
    assert.equal(a.engine, 'sim');
    a.close();
    b.close();
  });
  assert.equal(DangaSocket.engine(), before);
  assert.equal(DangaSocket.watchedSockets(), 0);
});

test('time is virtual: a timer an hour away fires after a simulated hour, with the virtual wall clock', async () => {
  let firedAt = -1;
  let nowSeconds = -1;
  const r = await simulate({ epoch: 1_000_000, watchdog: 0, duration: 7200 }, (sim) => {
    DangaSocket.addTimer(3600, (now) => {
      firedAt = sim.now();
      nowSeconds = now;
    });
  });
  // The loop waits to the end of the timer's millisecond, as 1.62 rounded its wait up.
  assert.equal(firedAt, 3_600_001);
  assert.equal(nowSeconds, 1_000_000 + 3600.001);
  assert.equal(r.endedBy, 'idle');
  assert.equal(r.timeMs, 3_600_001);
});

test('the loop timeout runs on virtual time: one post-loop pass per virtual second', async () => {
  let passes = 0;
  const r = await simulate({ watchdog: 0, duration: 10 }, () => {
    DangaSocket.setLoopTimeout(1000);
    DangaSocket.setPostLoopCallback(() => {
      passes++;
      return true;
    });
  });
  assert.equal(r.endedBy, 'duration');
  assert.ok(passes >= 10 && passes <= 12, `${passes} passes`);
});

test('descriptor numbers are the lowest free ones, and a closed object keeps its number until the end of the iteration', async () => {
  await simulate({}, async (sim) => {
    const [a, b] = socketPair();
    assert.deepEqual([a.fd, b.fd], [3, 4]);
    const objA = new Idle(a);
    const objB = new Idle(b);
    let during: number[] = [];
    DangaSocket.addTimer(0, () => {
      objA.close('test');
      const [c, d] = socketPair();
      during = [c.fd, d.fd];
      c.close();
      d.close();
    });
    await sim.runUntil(() => during.length > 0);
    assert.deepEqual(during, [5, 6], 'fd 3 stays reserved while its object is filed under it');
    const [e, f] = socketPair();
    assert.deepEqual([e.fd, f.fd], [3, 5]);
    objB.close('done');
    e.close();
    f.close();
  });
});

test('a refused connect reaches eventErr with ECONNREFUSED in socketError()', async () => {
  let err = -1;
  await simulate({ faults: { delay: 2 } }, () => {
    const c = new (class extends Idle {
      override eventErr(): void {
        err = this.requireSock().socketError();
        this.close('refused');
      }
    })(connectTcp({ host: '127.0.0.1', port: 9 }));
    c.watchWrite(true);
  });
  assert.equal(err, 111); // ECONNREFUSED
});

test('accept failing with EMFILE/ENFILE reaches Listener.onAcceptError once per episode; the listener retries and serves', async () => {
  const errors: string[] = [];
  let served = 0;
  await simulate({ seed: 3, faults: { acceptError: 0.6 } }, () => {
    class L extends Listener {
      override onAcceptError(e: unknown): void {
        errors.push((e as { code: string }).code);
      }
    }
    const l = new L(listenTcp({ host: '127.0.0.1', port: 80 }), (s: Sock) => {
      served++;
      const conn = new Idle(s);
      conn.close('served');
      if (served === 5) l.close('done');
      return conn;
    });
    for (let i = 0; i < 5; i++) new Idle(connectTcp({ host: '127.0.0.1', port: 80 }));
  });
  assert.equal(served, 5);
  assert.ok(errors.length > 0, 'no accept failure was injected');
  for (const code of errors) assert.ok(code === 'EMFILE' || code === 'ENFILE', code);
});

test('a real descriptor limit: connections past maxFds fail accept with EMFILE', async () => {
  const errors: string[] = [];
  await simulate({ maxFds: 8 }, () => {
    class L extends Listener {
      override onAcceptError(e: unknown): void {
        errors.push((e as { code: string }).code);
        DangaSocket.stop();
      }
    }
    new L(listenTcp({ host: '127.0.0.1', port: 80 }), (s: Sock) => new Idle(s));
    for (let i = 0; i < 4; i++) new Idle(connectTcp({ host: '127.0.0.1', port: 80 }));
  });
  assert.deepEqual(errors, ['EMFILE']);
});

test("a handler's exception fails the simulation with the seed, the replay line and the last 50 trace events", async () => {
  const boom = new Error('boom');
  const failure = await simFailure(() =>
    simulate({ seed: 99 }, () => {
      const [a, b] = socketPair();
      new (class extends Idle {
        override eventRead(): void {
          throw boom;
        }
      })(a).watchRead(true);
      const w = new Idle(b);
      for (let i = 0; i < 60; i++) w.write('x');
    }),
  );
  assert.equal(failure.code, 'ERR_DANGA_SIM_FAILED');
  assert.equal(failure.seed, 99);
  assert.equal(failure.cause, boom);
  assert.match(failure.message, /^simulation failed \(seed 99, at 0 ms virtual time\): boom\n {2}replay: DANGA_SIM_SEED=99\n/);
  assert.equal(failure.tail.length, 50);
});

test('the check setup returns fails the simulation the same way', async () => {
  const failure = await simFailure(() =>
    simulate({ seed: 4 }, () => () => {
      throw new Error('checked');
    }),
  );
  assert.equal((failure.cause as Error).message, 'checked');
  assert.equal(failure.seed, 4);
});

test('the watchdog fails a simulation that keeps time moving without progress', async () => {
  const failure = await simFailure(() =>
    simulate({ watchdog: 10 }, () => {
      const [a] = socketPair();
      new Idle(a).watchRead(true); // waits for ever for a byte
      const tick = (): void => void DangaSocket.addTimer(1, tick);
      tick();
    }),
  );
  assert.equal((failure.cause as { code: string }).code, 'ERR_DANGA_SIM_WATCHDOG');
  assert.equal(failure.timeMs, 10_000);
});

test('a livelock (ready for ever, time standing still) fails the simulation', async () => {
  const failure = await simFailure(() =>
    simulate({ maxIterationsPerInstant: 500 }, () => {
      const [a] = socketPair();
      new (class extends Idle {
        override eventWrite(): void {}
      })(a).watchWrite(true);
    }),
  );
  assert.equal((failure.cause as { code: string }).code, 'ERR_DANGA_SIM_LIVELOCK');
});

test('what needs a kernel is refused inside a simulation: real fds, Node streams, foreign fds, TLS', async () => {
  await simulate({}, () => {
    assert.throws(() => new Idle(0), { code: 'ERR_DANGA_SIM_UNSUPPORTED' });
    assert.throws(() => DangaSocket.addOtherFds({ 0: () => {} }), { code: 'ERR_DANGA_SIM_UNSUPPORTED' });
    const [a, b] = socketPair();
    const obj = new Idle(a);
    assert.throws(() => obj.startTls({}), { code: 'ERR_DANGA_SIM_UNSUPPORTED' });
    obj.close('done');
    b.close();
  });
});

test('listenTls and connectTls inside a simulation fail at once (ERR_DANGA_SIM_UNSUPPORTED) and open nothing real', async () => {
  const real = (): string[] => process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP'));
  const before = real();
  await simulate({}, () => {
    assert.throws(() => listenTls({ host: '127.0.0.1', port: 0 }), { code: 'ERR_DANGA_SIM_UNSUPPORTED', message: /listenTls/ });
    assert.throws(() => listenTls({ port: 0 }), { code: 'ERR_DANGA_SIM_UNSUPPORTED' }, 'also with the default host (no IPv4 fallback)');
    assert.throws(() => connectTls({ host: '127.0.0.1', port: 4433 }), { code: 'ERR_DANGA_SIM_UNSUPPORTED', message: /connectTls/ });
    assert.equal(DangaSocket.engine(), 'sim');
  });
  assert.deepEqual(real(), before, 'no real socket was opened');
  // Their argument checks still come first.
  await simulate({}, () => {
    assert.throws(() => listenTls({ port: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  });
});

test('simulate() checks its arguments and refuses to run beside registered sockets', async () => {
  await assert.rejects(
    simulate({ seed: -1 }, () => {}),
    { code: 'ERR_OUT_OF_RANGE' },
  );
  await assert.rejects(
    simulate({ faults: { shortRead: 2 } }, () => {}),
    { code: 'ERR_OUT_OF_RANGE' },
  );
  await assert.rejects(
    simulate({ faults: { delay: [5, 1] } }, () => {}),
    { code: 'ERR_OUT_OF_RANGE' },
  );
  await assert.rejects(simulate({}, null as unknown as () => void), { code: 'ERR_INVALID_ARG_TYPE' });
  const t = DangaSocket.addTimer(100, () => {});
  await assert.rejects(
    simulate({}, () => {}),
    { code: 'ERR_DANGA_SIM_BUSY' },
  );
  t.cancel();
  await simulate({}, () => {});
});

test('Connection over the simulated network: half close, end of stream once, hangup', async () => {
  let got = '';
  await simulate({ faults: { delay: [1, 5], shortRead: 0.5, shortWrite: 0.5 } }, () => {
    new Listener(listenTcp({ host: '127.0.0.1', port: 25 }), (s: Sock) => {
      const c = new (class extends Connection {
        override eventRead(): void {
          const line = this.readLine(100);
          if (line === null) return this.end();
          if (line !== undefined) this.write(`${line.toString().toUpperCase()}\n`);
        }
      })(s);
      return c;
    });
    const client = new (class extends Connection {
      override eventRead(): void {
        const buf = this.read(100);
        if (buf === null) return this.close('eof');
        got += buf.toString();
      }
    })(connectTcp({ host: '127.0.0.1', port: 25 }));
    client.write('hello\nworld\n');
    client.end({ halfClose: true });
  });
  assert.equal(got, 'HELLO\nWORLD\n');
});

test("the classes danga-socket/sim exports have no internal (underscore) member: SimSock is a face, the socket state is the network's", async () => {
  const names = (o: object): string[] => [...Object.getOwnPropertyNames(o), ...Object.getOwnPropertyNames(Object.getPrototypeOf(o) as object)];
  await simulate({}, (sim) => {
    assert.deepEqual(
      names(sim).filter((n) => n.startsWith('_')),
      [],
    );
    const [a, b] = socketPair();
    const l = listenTcp({ host: '127.0.0.1', port: 80 });
    const c = connectTcp({ host: '127.0.0.1', port: 80 });
    for (const s of [a, b, l, c]) {
      assert.ok(s instanceof SimSock);
      assert.deepEqual(
        names(s).filter((n) => n.startsWith('_')),
        [],
      );
    }
    assert.deepEqual(Object.keys(a).sort(), ['bytesRead', 'bytesWritten', 'engine', 'lastError']);
    for (const s of [a, b, l, c]) s.close();
  });
});
