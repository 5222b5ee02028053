/**
 * The composition root: chooses the engine once, when the library loads, and
 * installs it in the loop.
 *
 * - `DANGA_ENGINE=epoll`: the native addon, or a clear error without it;
 * - `DANGA_ENGINE=node`: the node engine, over Node streams;
 * - `DANGA_ENGINE=sim`: the ambient simulation: the sim engine on one
 *   simulated network for the whole process (seed `DANGA_SIM_SEED`, default
 *   1; no faults), the virtual clock installed, and the runner of
 *   `simulate()` driving the loop whenever `DangaSocket.eventLoop()` runs
 *   (see docs/simulation.md, "The ambient simulation");
 * - unset: the addon when it loads and can drive this runtime's event loop
 *   (epoll/host.ts: Node can, Deno and Bun cannot), else the node engine
 *   with one warning (code DANGA_NO_EPOLL) saying why.
 *
 * Whichever engine runs the loop, Node streams given to the constructor (and
 * TLS, which is Node's) are driven by the node engine, so both kinds of
 * socket share one loop: the installed engine is the epoll engine with the
 * node engine's adoption of streams and its STARTTLS behind it.
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { reactor } from '../core/loop.js';
import type { Engine } from '../core/contract.js';
import { describe } from '../core/errors.js';
import { setClock, type Clock } from '../core/timers.js';
import { loadBinding, nativeLoadError } from './epoll/binding.js';
import { createEpollEngine } from './epoll/index.js';
import { hostLoopProblem } from './epoll/host.js';
import { createNodeEngine } from './node/index.js';
import { createSimEngine, resolveFaults, seedFromEnv, SimDriver, SimNetwork, SimRunner } from './sim/index.js';

/** The ambient simulation's seed when DANGA_SIM_SEED is not set. */
export const AMBIENT_SEED = 1;
/** The ambient simulation's virtual wall clock at virtual time 0 (seconds since the epoch), as simulate()'s default. */
const AMBIENT_EPOCH = 1_700_000_000;

/** The ambient simulation's clock; null on a real engine. */
let ambient: Clock | null = null;

/** The clock the library reads outside simulate(): the ambient simulation's (DANGA_ENGINE=sim), else null for the real one. */
export function ambientClock(): Clock | null {
  return ambient;
}

/**
 * DANGA_ENGINE=sim: one simulated network for the process, no faults, the
 * virtual clock, and the runner started by the driver whenever the loop
 * starts. A loop with nothing to wait for in the simulation sleeps until
 * code outside it (a promise job, a Node callback) wakes it, as a real loop
 * would; one that nothing wakes in 10 s of real time fails with
 * ERR_DANGA_SIM_IDLE rather than hanging. The watchdog counts moves of
 * virtual time rather than its amount (10,000 moves in a row without a byte
 * moved, a connection made or closed, or a timer fired: a loop polling for
 * a condition that never comes), so that a long timer may fire; the
 * livelock check is simulate()'s.
 */
function ambientSim(): Engine {
  const seed = seedFromEnv() ?? AMBIENT_SEED;
  // '{file}' in DANGA_SIM_TRACE: the main script's name (one trace per test file of a pass).
  const traceFile = (process.env.DANGA_SIM_TRACE ?? '').replaceAll('{file}', basename(process.argv[1] ?? 'main'));
  const net = new SimNetwork({ seed, faults: resolveFaults({}), epoch: AMBIENT_EPOCH, maxFds: 65536, keepTrace: traceFile !== '' });
  net.describeClose = (fd) => {
    const obj = reactor.descriptorMap.get(fd) as { closeReason?: () => string | null; constructor: { name: string } } | undefined;
    if (obj === undefined || typeof obj.closeReason !== 'function') return '';
    return `${obj.constructor.name} ${obj.closeReason() || '-'}`;
  };
  net.log(`seed ${seed} (ambient)`);
  if (traceFile !== '') process.on('exit', () => writeFileSync(traceFile, (net.trace ?? []).join('\n') + '\n'));
  const driver = new SimDriver(() => net.now);
  const runner = new SimRunner(
    net,
    driver,
    {
      durationMs: Infinity,
      watchdogMs: 0,
      maxIdleMoves: 10_000,
      maxPerInstant: 20_000,
      onIdle: 'park',
      parkGuardMs: 10_000,
      timersAreProgress: true,
      describe: () => ` (ambient simulation, DANGA_ENGINE=sim; replay: DANGA_SIM_SEED=${seed}; trace digest ${net.digest().slice(0, 16)})`,
    },
    {
      stop: () => reactor.stop(),
      // eventLoop() rejects with the failure: the loop's next post-loop phase throws it.
      fail: (err) => {
        const own = reactor.postLoopCallback;
        reactor.postLoopCallback = () => {
          reactor.postLoopCallback = own;
          throw err;
        };
      },
      timersFired: () => reactor.timers.fired,
    },
  );
  let pumping = false;
  const pump = (): void => {
    pumping = true;
    void runner
      .run(() => !driver.running)
      .then(() => {
        pumping = false;
        // A loop started again while the run was returning.
        if (driver.running) pump();
      });
  };
  driver.onStart = () => {
    net.progress(); // the watchdog counts from the loop's start
    runner.newRun();
    if (!pumping) pump();
  };
  ambient = { monotonicMs: () => net.now, epochSeconds: (ms) => AMBIENT_EPOCH + ms / 1000 };
  setClock(ambient);
  return createSimEngine(net, driver);
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return err === null || err === undefined ? 'not built' : describe(err);
}

function choose(): Engine {
  const wanted = process.env.DANGA_ENGINE ?? '';
  if (wanted !== '' && wanted !== 'epoll' && wanted !== 'node' && wanted !== 'sim') {
    throw new Error(`DANGA_ENGINE must be "epoll" or "node" (or "sim", the ambient simulation), not ${JSON.stringify(wanted)}`);
  }
  if (wanted === 'sim') return ambientSim();
  const streams = createNodeEngine();
  if (wanted !== 'node') {
    // Checked before the addon is loaded: on a runtime whose loop it cannot
    // drive, loading it would already be a risk (see epoll/host.ts).
    const hostProblem = hostLoopProblem();
    const binding = hostProblem === null ? loadBinding() : null;
    if (binding !== null) {
      const native = createEpollEngine(binding);
      return {
        ...native,
        adopt: (sock) => native.adopt(sock) ?? streams.adopt(sock),
        startTls: (old, options, unread) => streams.startTls(old, options, unread),
        listenTls: (host, port, backlog, options) => streams.listenTls(host, port, backlog, options),
        connectTls: (host, port, options) => streams.connectTls(host, port, options),
      };
    }
    if (wanted === 'epoll') {
      const err =
        hostProblem !== null
          ? new Error(`DANGA_ENGINE=epoll, but the epoll engine cannot drive this runtime's event loop: ${hostProblem}`)
          : new Error(`DANGA_ENGINE=epoll, but the native addon could not be loaded: ${reasonOf(nativeLoadError())}`, {
              cause: nativeLoadError(),
            });
      (err as Error & { code: string }).code = 'ERR_DANGA_NO_EPOLL';
      throw err;
    }
    process.emitWarning(
      hostProblem !== null
        ? `danga-socket: the epoll engine cannot drive this runtime's event loop (${hostProblem}); using the node engine`
        : `danga-socket: native epoll addon not available (${reasonOf(nativeLoadError())}); using the node engine`,
      { code: 'DANGA_NO_EPOLL' },
    );
  }
  return streams;
}

/** The engine in use (installed in the loop). */
export const engine: Engine = choose();
reactor.install(engine);
