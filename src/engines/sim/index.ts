/**
 * The sim engine: the loop over a simulated network and a virtual clock
 * (see docs/simulation.md). setup.ts puts a simulation together, for
 * `danga-socket/sim`'s `simulate()` (lent to the loop for one simulation)
 * and for the ambient simulation (DANGA_ENGINE=sim, installed for the
 * process).
 */
import { outOfRange } from '../../core/errors.js';

export { SimNetwork, type NetworkOptions } from './network.js';
export { TRACE_TAIL } from './trace.js';
export { SimSock } from './sim-sock.js';
export { SimDriver } from './driver.js';
export { SimRunner, type RunEnd, type RunnerHooks, type RunnerOptions } from './runner.js';
export { resolveFaults, type SimFaults, type SimRange, type ResolvedFaults } from './faults.js';
export { createSimEngine } from './engine.js';
export { AMBIENT_SEED, ambientParts, simulationParts, type SimHost, type SimParts, type SimulationParams } from './setup.js';
export { Prng } from './prng.js';

/** DANGA_SIM_SEED as a seed; null when unset (or empty). */
export function seedFromEnv(): number | null {
  const raw = process.env.DANGA_SIM_SEED;
  if (raw === undefined || raw === '') return null;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw outOfRange('DANGA_SIM_SEED', 'an integer >= 0', raw);
  return n;
}
