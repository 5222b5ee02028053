/**
 * The seeded properties: each scenario of scenarios.ts over 500 seeds (or
 * DANGA_SIM_RUNS; DANGA_SIM_SEED=n replays one), on the simulated network
 * with short reads and writes down to 1 byte, spurious EAGAIN, readiness
 * late and shuffled, delay, bandwidth and small buffers. A failure is a
 * SimulationError naming the seed and the last 50 trace events.
 */
import { test } from 'node:test';
import { seeds, type SimulationResult } from 'danga-socket/sim';
import {
  callbackScenario,
  capScenario,
  chatScenario,
  closeScenario,
  echoScenario,
  framingScenario,
  idleScenario,
  resetScenario,
  watermarkScenario,
} from './scenarios.js';

const SEEDS = seeds(500);

async function overSeeds(run: (seed: number) => Promise<SimulationResult>): Promise<void> {
  for (const seed of SEEDS) await run(seed);
}

test('echo of random data through short reads/writes and EAGAIN loses and reorders nothing', () => overSeeds(echoScenario));

test('write callbacks run exactly once, in order, only after the bytes before them were taken', () => overSeeds((seed) => callbackScenario(seed)));

test('close() during any event drops nothing already written and no event comes after it', () => overSeeds(closeScenario));

test('a reset in the middle of a queued write closes each object exactly once', () => overSeeds(resetScenario));

test('the chat example delivers every line to every client connected the whole time', () => overSeeds(chatScenario));

test('frames sent in random splits come out whole and in order, one per event or all at once', () => overSeeds((seed) => framingScenario(seed)));

test('watermarks through a slow reader alternate on the right side of their marks, and the source never stalls', () =>
  overSeeds((seed) => watermarkScenario(seed)));

test('an idle timeout never fires while a client trickles within it, and fires within a sweep once it goes silent', () => overSeeds(idleScenario));

test('a listener at its cap never passes it, counts exactly its open connections, and serves every client', () => overSeeds(capScenario));
