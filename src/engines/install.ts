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
import type { Clock, Engine } from '../core/contract.js';
import { describe } from '../core/errors.js';
import { loadBinding, nativeLoadError } from './epoll/binding.js';
import { createEpollEngine } from './epoll/index.js';
import { hostLoopProblem } from './epoll/host.js';
import { createNodeEngine } from './node/index.js';
import { AMBIENT_SEED, ambientParts, seedFromEnv } from './sim/index.js';

/**
 * DANGA_ENGINE=sim: the ambient simulation's engine and virtual clock (see
 * sim/setup.ts, where it is put together as simulate()'s is). With
 * DANGA_SIM_TRACE set, the whole trace is written there at exit ('{file}'
 * in it: the main script's name, one trace per test file of a pass).
 */
function ambientSim(): { engine: Engine; clock: Clock } {
  const seed = seedFromEnv() ?? AMBIENT_SEED;
  const traceFile = (process.env.DANGA_SIM_TRACE ?? '').replaceAll('{file}', basename(process.argv[1] ?? 'main'));
  const { net, engine, clock } = ambientParts(seed, traceFile !== '', reactor);
  if (traceFile !== '') process.on('exit', () => writeFileSync(traceFile, (net.trace ?? []).join('\n') + '\n'));
  return { engine, clock };
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return err === null || err === undefined ? 'not built' : describe(err);
}

function choose(): { engine: Engine; clock: Clock | null } {
  const wanted = process.env.DANGA_ENGINE ?? '';
  if (wanted !== '' && wanted !== 'epoll' && wanted !== 'node' && wanted !== 'sim') {
    throw new Error(`DANGA_ENGINE must be "epoll" or "node" (or "sim", the ambient simulation), not ${JSON.stringify(wanted)}`);
  }
  if (wanted === 'sim') return ambientSim();
  return { engine: chooseReal(wanted), clock: null };
}

function chooseReal(wanted: string): Engine {
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

const chosen = choose();
/** The engine in use (installed in the loop). */
export const engine: Engine = chosen.engine;
reactor.install(engine, chosen.clock);
