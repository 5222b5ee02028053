/**
 * WorkerGroup under real load: the C client (fixtures/conn-client.c) keeps
 * connections in flight while workers are balanced, killed, reloaded. A
 * connection no worker had accepted (no greeting yet) must never be refused
 * or reset. Runs on the engine of the pass (the workers inherit
 * DANGA_ENGINE); needs the native addon for the supervisor's sockets.
 */
import assert from 'node:assert/strict';
import { writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DangaSocket, WorkerGroup, type WorkerExit, type WorkerMode } from '../../src/index.js';
import { loadBinding } from '../../src/engines/epoll/binding.js';
import { skipOn, skipOnSim } from '../helpers.js';
import { connClient, fdCount, startLoad, type LoadResult } from './load.js';

const hello = new URL('./fixtures/hello-server.js', import.meta.url);
const noSetup = new URL('./fixtures/no-setup.js', import.meta.url);
const throwsSetup = new URL('./fixtures/throws-setup.js', import.meta.url);

const skip = skipOnSim('worker') || (loadBinding() === null ? 'a WorkerGroup needs the native addon' : false);
const skipLoad = skip || (connClient() === null ? 'no C compiler (cc) for the load client' : false);
/** DANGA_TEST_LOAD_SCALE (default 1): CI runs the full counts once, and fewer on its other Node releases. */
const scale = Number(process.env.DANGA_TEST_LOAD_SCALE ?? '1') || 1;
const scaled = (n: number): number => Math.max(2, Math.round(n * scale));

/** 'handoff' accepts in this thread's loop: the epoll engine only (its workers may run either engine). */
const handoff = DangaSocket.engine() === 'epoll';

const groups: WorkerGroup[] = [];
after(async () => {
  await Promise.all(groups.map((g) => g.shutdown({ timeout: 1 })));
});

function group(options: Partial<ConstructorParameters<typeof WorkerGroup>[0]> = {}): WorkerGroup {
  const g = new WorkerGroup({ module: hello, workers: 2, listen: [{ host: '127.0.0.1', port: 0 }], stableAfter: 0, ...options });
  groups.push(g);
  return g;
}

function portOf(g: WorkerGroup): number {
  const a = g.addresses()[0]!;
  assert.ok('port' in a);
  return a.port;
}

/** Resolves with the next event `name` of `g` that `pred` accepts. */
function nextEvent<T>(g: WorkerGroup, name: string, pred: (v: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const on = (v: T): void => {
      if (!pred(v)) return;
      g.off(name, on);
      resolve(v);
    };
    g.on(name, on);
  });
}

function assertClean(r: LoadResult, what: string): void {
  assert.equal(r.refused, 0, `${what}: refused connects`);
  assert.equal(r.reset_before_accept, 0, `${what}: connections reset before a worker accepted them`);
  assert.equal(r.corrupt, 0, `${what}: corrupt replies`);
  assert.equal(r.timeout, 0, `${what}: stalled connections`);
}

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('connect', () => {
      c.destroy();
      resolve(false);
    });
    c.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('WorkerGroup: bad input', { skip }, () => {
  test('a worker count that is not an integer from 1 to 1024, an unknown mode, no addresses: coded errors at once', () => {
    const base = { module: hello, listen: [{ port: 0 }] };
    assert.throws(() => new WorkerGroup({ ...base, workers: 0 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => new WorkerGroup({ ...base, workers: 1.5 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => new WorkerGroup({ ...base, workers: 1025 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => new WorkerGroup({ ...base, workers: '2' as unknown as number }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new WorkerGroup({ ...base, mode: 'roundrobin' as WorkerMode }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new WorkerGroup({ ...base, listen: [] }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new WorkerGroup({ ...base, listen: [{ port: 70000 }] }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => new WorkerGroup({ ...base, listen: [{ host: 'example.com', port: 1 }] }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new WorkerGroup({ ...base, module: 42 as unknown as string }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new WorkerGroup(null as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  });

  for (const [what, module, expected] of [
    ['a module that cannot be loaded', new URL('./fixtures/no-such-module.js', import.meta.url), { code: 'ERR_MODULE_NOT_FOUND' }],
    ['a module without the setup export', noSetup, { code: 'ERR_DANGA_NO_SETUP', message: /no exported function "setup"/ }],
    ['a setup that throws', throwsSetup, { name: 'RangeError', code: 'ERR_TEST_REFUSED', message: 'setup refuses' }],
  ] as const) {
    test(`${what}: start() rejects with its error, and nothing is left listening or open`, async () => {
      const port = await freePort();
      const before = fdCount();
      const g = new WorkerGroup({ module, workers: 2, listen: [{ host: '127.0.0.1', port }] });
      await assert.rejects(g.start(), expected);
      assert.ok(await refused(port), 'nothing listens on the port after the failed start');
      assert.equal(fdCount(), before, 'no fd left open');
      assert.throws(() => g.addresses(), { code: 'ERR_DANGA_GROUP_STOPPED' });
      await assert.rejects(g.start(), { code: 'ERR_DANGA_GROUP_STARTED' });
    });
  }

  test('a reload while a reload runs rejects with ERR_DANGA_RELOAD_RUNNING; the first completes', async () => {
    const g = group();
    await g.start();
    const first = g.reload();
    await assert.rejects(g.reload(), { code: 'ERR_DANGA_RELOAD_RUNNING' });
    await first;
    await g.shutdown({ timeout: 1 });
    await assert.rejects(g.reload(), { code: 'ERR_DANGA_GROUP_STOPPED' });
  });
});

describe('WorkerGroup: serving', { skip }, () => {
  test('shutdown() during start(): the start completes, then every worker stops and every socket closes', async () => {
    const port = await freePort();
    const before = fdCount();
    const g = new WorkerGroup({ module: hello, workers: 2, listen: [{ host: '127.0.0.1', port }] });
    const started = g.start();
    const stopped = g.shutdown({ timeout: 1 });
    await started;
    await stopped;
    assert.ok(await refused(port), 'nothing listens after the shutdown');
    assert.equal(fdCount(), before, 'no fd left open');
    assert.equal(g.shutdown(), stopped, 'shutdown() again: the same promise');
  });

  test(
    "'handoff' needs the epoll engine in the supervisor's thread: elsewhere start() rejects with ERR_DANGA_NO_EPOLL",
    { skip: skipOn('handoffElsewhere') },
    async () => {
      const g = new WorkerGroup({ module: hello, workers: 1, mode: 'handoff', listen: [{ host: '127.0.0.1', port: 0 }] });
      await assert.rejects(g.start(), { code: 'ERR_DANGA_NO_EPOLL' });
    },
  );

  test('stats() per worker and summed; messages both ways; addresses(); shutdown closes every socket', async () => {
    const before = fdCount();
    const g = group({ workers: 2 });
    await g.start();
    const port = portOf(g);
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1');
        c.on('data', () => {
          c.destroy();
          resolve();
        });
        c.on('error', reject);
      });
    }
    const s = await g.stats();
    assert.equal(s.workers.length, 2);
    assert.deepEqual(
      s.workers.map((w) => w.slot),
      [0, 1],
    );
    assert.equal(s.total.accepted, 20);
    assert.equal(
      s.workers.reduce((n, w) => n + w.stats.accepted, 0),
      20,
    );
    const pongs: { pong: number; slot: number }[] = [];
    const got = new Promise<void>((resolve) =>
      g.on('message', (m: { pong: number; slot: number }, slot: number) => {
        assert.equal(m.slot, slot);
        pongs.push(m);
        if (pongs.length === 3) resolve();
      }),
    );
    assert.equal(g.broadcast({ ping: 1 }), 2);
    assert.equal(g.send(1, { ping: 2 }), true);
    assert.throws(() => g.send(2, {}), { code: 'ERR_OUT_OF_RANGE' });
    await got;
    assert.deepEqual(pongs.map((p) => `${p.pong}@${p.slot}`).sort(), ['1@0', '1@1', '2@1']);
    await g.shutdown({ timeout: 1 });
    assert.ok(await refused(port), 'the port is closed after shutdown');
    assert.equal(fdCount(), before, 'every fd of the group is closed');
  });
});

const modes: [WorkerMode, number][] = [['reuseport', 2], ['reuseport', 4], ['shared', 2], ...(handoff ? ([['handoff', 2]] as [WorkerMode, number][]) : [])];

for (const [mode, n] of modes) {
  test(`balance, ${mode}, ${n} workers: 10,000 connections, each worker's share reported`, { skip: skipLoad }, async (t) => {
    const g = group({ workers: n, mode });
    await g.start();
    const r = await startLoad(portOf(g), 50, 10_000).done;
    assertClean(r, 'balance');
    assert.equal(r.ok, 10_000);
    assert.equal(r.failed_after_accept, 0);
    const s = await g.stats();
    const accepted = s.workers.map((w) => w.stats.accepted);
    assert.equal(
      accepted.reduce((a, b) => a + b, 0),
      10_000,
    );
    const ratio = Math.max(...accepted) / Math.min(...accepted);
    t.diagnostic(`accepted per worker: ${accepted.join(' / ')}; max/min ${ratio.toFixed(3)}`);
    // The kernel's reuseport hash spreads connections evenly; the shared
    // socket makes no promise (whichever loop is woken first takes them).
    if (mode === 'reuseport') assert.ok(ratio <= 1.3, `max/min ${ratio} <= 1.3`);
    else assert.ok(Math.min(...accepted) > 0, 'every worker accepted some');
    await g.shutdown({ timeout: 1 });
  });
}

for (const [mode, crashes] of [['reuseport', scaled(50)], ...(handoff ? [['handoff', scaled(20)]] : [])] as [WorkerMode, number][])
  test(
    `crash, ${mode}: ${crashes} workers killed under continuous connects; nothing refused or reset that no worker had accepted; fds back to baseline`,
    { skip: skipLoad },
    async (t) => {
      const g = group({ workers: 2, mode });
      await g.start();
      const baseline = fdCount();
      const load = startLoad(portOf(g), 20);
      await load.started;
      const gaps: number[] = [];
      const kinds = ['throw', 'exit'];
      for (let i = 0; i < crashes; i++) {
        const slot = i % 2;
        const exited = nextEvent<WorkerExit>(g, 'exit', (e) => e.slot === slot);
        assert.ok(g.send(slot, { crash: kinds[i % 2] }));
        const e = await exited;
        const died = performance.now();
        assert.equal(e.expected, false);
        assert.equal(e.respawnIn, 0, 'a worker that had started is replaced at once');
        if (kinds[i % 2] === 'throw') assert.match(String(e.error?.message), /crash on purpose/);
        else assert.equal(e.code, 3);
        await nextEvent<{ slot: number }>(g, 'ready', (r) => r.slot === slot);
        gaps.push(performance.now() - died);
      }
      const r = await load.stop();
      if (DangaSocket.engine() === 'epoll') assertClean(r, 'crash');
      else {
        // Node accepts on its own: a node-engine worker dies with the
        // connections libuv had accepted for it and not handed over yet
        // (accepted by that worker, but not greeted): counted, not asserted.
        assert.equal(r.refused, 0, 'crash: refused connects');
        assert.equal(r.corrupt, 0, 'crash: corrupt replies');
        assert.equal(r.timeout, 0, 'crash: stalled connections');
        t.diagnostic(`node engine: ${r.reset_before_accept} connections died in libuv's accept queue of a dead worker`);
      }
      assert.ok(r.ok > 0);
      gaps.sort((a, b) => a - b);
      t.diagnostic(
        `${crashes} crashes under load (${mode}): ${r.ok} exchanges, ${r.failed_after_accept} lost with their worker (accepted by it), ${r.refused} refused, ${r.reset_before_accept} reset before accept; back to 2 workers after a median ${gaps[crashes >> 1]!.toFixed(0)} ms, max ${gaps[crashes - 1]!.toFixed(0)} ms`,
      );
      assert.deepEqual(
        g.threadIds().map((id) => id > 0),
        [true, true],
      );
      // The client is gone: what is left is the group at rest, as at the baseline.
      await waitFor(() => fdCount() === baseline);
      assert.equal(fdCount(), baseline, 'every fd of the dead workers is closed');
      await g.shutdown({ timeout: 1 });
    },
  );

test('a worker out of memory (resourceLimits) is replaced like any crash', { skip: skipLoad }, async () => {
  const g = group({ workers: 1, resourceLimits: { maxOldGenerationSizeMb: 32 } });
  await g.start();
  const exited = nextEvent<WorkerExit>(g, 'exit');
  g.send(0, { crash: 'oom' });
  const e = await exited;
  assert.equal(e.expected, false);
  assert.equal((e.error as { code?: string } | null)?.code, 'ERR_WORKER_OUT_OF_MEMORY');
  await nextEvent(g, 'ready');
  const r = await startLoad(portOf(g), 5, 100).done;
  assertClean(r, 'after the OOM');
  assert.equal(r.ok, 100);
  await g.shutdown({ timeout: 1 });
});

test('a module that fails at once is retried with growing delays, and its slot recovers once it works', { skip: skipLoad }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'danga-wg-'));
  const flag = join(dir, 'fail');
  try {
    const g = group({ workers: 1, data: { failSetupFlag: flag }, respawnDelay: 0.01 });
    await g.start();
    writeFileSync(flag, '');
    const delays: number[] = [];
    const fourFailures = new Promise<void>((resolve) =>
      g.on('exit', (e: WorkerExit) => {
        delays.push(e.respawnIn ?? -1);
        if (delays.length === 4) resolve();
      }),
    );
    g.send(0, { crash: 'exit' });
    await fourFailures;
    // The first death (of a worker that had started) is replaced at once; each setup failure after it waits twice as long.
    assert.deepEqual(delays, [0, 0.01, 0.02, 0.04]);
    const ready = nextEvent(g, 'ready');
    rmSync(flag);
    await ready;
    const r = await startLoad(portOf(g), 5, 100).done;
    assertClean(r, 'after the recovery');
    await g.shutdown({ timeout: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const reloadRuns: [WorkerMode, 'epoll' | 'node' | undefined, number][] = [
  ['reuseport', undefined, scaled(100)],
  ['shared', undefined, scaled(20)],
  ...(handoff
    ? ([
        ['handoff', undefined, scaled(20)],
        ['handoff', 'node', scaled(10)],
      ] as [WorkerMode, 'node' | undefined, number][])
    : []),
];
for (const [mode, engine, reloads] of reloadRuns) {
  const on = engine === undefined ? '' : ` (workers on the ${engine} engine)`;
  test(
    `reload, ${mode}${on}: ${reloads} rolling reloads under continuous connects and requests: nothing refused, reset, lost or corrupted`,
    { skip: skipLoad },
    async (t) => {
      const g = group({ workers: 2, mode, ...(engine === undefined ? {} : { engine }) });
      await g.start();
      const load = startLoad(portOf(g), 20);
      await load.started;
      const ids = new Set(g.threadIds());
      for (let i = 0; i < reloads; i++) {
        await g.reload();
        for (const id of g.threadIds()) {
          assert.ok(!ids.has(id), 'every slot has a new worker');
          ids.add(id);
        }
      }
      const r = await load.stop();
      assertClean(r, 'reload');
      assert.equal(r.failed_after_accept, 0, 'no accepted connection was lost: the old workers drained');
      t.diagnostic(`${reloads} reloads (${reloads * 2} workers replaced): ${r.ok} exchanges, 0 failed`);
      assert.ok(r.ok > 0);
      await g.shutdown({ timeout: 1 });
    },
  );
}

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}
