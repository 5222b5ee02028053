/**
 * The sim engine: the loop over a simulated network and a virtual clock
 * (see docs/simulation.md). `danga-socket/sim`'s `simulate()` creates one
 * per simulation and puts it in the loop for the simulation's duration.
 */
import { outOfRange, stateError } from '../../core/errors.js';
import type { Engine, LoopDriver, Transport } from '../../core/contract.js';
import type { SimNetwork } from './network.js';
import { SimSock } from './sim-sock.js';

export { SimNetwork, TRACE_TAIL, type NetworkOptions } from './network.js';
export { SimSock } from './sim-sock.js';
export { SimDriver } from './driver.js';
export { SimRunner, type RunEnd, type RunnerHooks, type RunnerOptions } from './runner.js';
export { resolveFaults, type SimFaults, type SimRange, type ResolvedFaults } from './faults.js';
export { Prng } from './prng.js';

/** DANGA_SIM_SEED as a seed; null when unset (or empty). */
export function seedFromEnv(): number | null {
  const raw = process.env.DANGA_SIM_SEED;
  if (raw === undefined || raw === '') return null;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw outOfRange('DANGA_SIM_SEED', 'an integer >= 0', raw);
  return n;
}

function unsupported(what: string): Error {
  return stateError(
    'ERR_DANGA_SIM_UNSUPPORTED',
    `${what} is not simulated: in a simulation (simulate(), DANGA_ENGINE=sim) only sockets of the simulated network run`,
  );
}

/** The engine over `net`, with `driver` as its loop driver. */
export function createSimEngine(net: SimNetwork, driver: LoopDriver): Engine {
  return {
    name: 'sim',
    createDriver: () => driver,
    adopt: (sock: unknown): Transport | null => {
      if (sock instanceof SimSock) return sock;
      if (typeof sock === 'number') throw unsupported(`a real fd (${sock})`);
      if (sock !== null && typeof sock === 'object' && typeof (sock as { pipe?: unknown }).pipe === 'function') throw unsupported('a Node stream');
      return null;
    },
    startTls: () => {
      throw unsupported('TLS (startTls)');
    },
    listenTls: () => {
      throw unsupported('TLS (listenTls)');
    },
    connectTls: () => {
      throw unsupported('TLS (connectTls)');
    },
    listenTcp: (host, port, backlog) => net.listenTcp(host, port, backlog),
    listenFd: (fd) => {
      throw unsupported(`a real fd (${fd})`);
    },
    connectTcp: (host, port) => net.connectTcp(host, port),
    listenUnix: (path, backlog) => net.listenUnix(path, backlog),
    connectUnix: (path) => net.connectUnix(path),
    socketPair: () => net.socketPair(),
  };
}
