/**
 * The properties catch a real bug: a writer that runs a write callback one
 * entry early (test/sim/injected-bug.ts, a test-only subclass) is caught by
 * the write-callback property within the default 500 seeds, the failure
 * names its seed, and that seed replays to the same trace digest, in this
 * process and in another one started with DANGA_SIM_SEED.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SimulationError, seeds } from 'danga-socket/sim';
import { callbackScenario } from './scenarios.js';
import { EarlyCallbackWriter } from './injected-bug.js';

const fixture = fileURLToPath(new URL('./fixtures/digest.js', import.meta.url));

async function failureOf(run: () => Promise<unknown>): Promise<SimulationError | null> {
  try {
    await run();
    return null;
  } catch (err) {
    assert.ok(err instanceof SimulationError, `not a SimulationError: ${String(err)}`);
    return err;
  }
}

test('a write callback run one entry early is caught within the default seed count and replays from its seed', async () => {
  let failure: SimulationError | null = null;
  for (const seed of seeds(500)) {
    failure = await failureOf(() => callbackScenario(seed, EarlyCallbackWriter));
    if (failure !== null) break;
  }
  assert.ok(failure !== null, 'the injected bug went unnoticed over 500 seeds');
  assert.match(failure.message, new RegExp(`seed ${failure.seed}\\b`));
  assert.match(failure.message, new RegExp(`DANGA_SIM_SEED=${failure.seed}\\n`));
  assert.match(String((failure.cause as Error).message), /callback \d+ ran when the socket had taken \d+ bytes/);
  assert.ok(failure.tail.length > 0 && failure.tail.length <= 50);

  // The same seed: the same failure, the same trace.
  const again = await failureOf(() => callbackScenario(failure.seed, EarlyCallbackWriter));
  assert.ok(again !== null);
  assert.equal(again.digest, failure.digest);
  assert.deepEqual(again.tail, failure.tail);

  // Without the bug, that seed passes.
  await callbackScenario(failure.seed);

  // Another process, told the seed by DANGA_SIM_SEED, runs only that seed and fails the same way.
  const out = execFileSync(process.execPath, [fixture, '0', 'buggy'], { env: { ...process.env, DANGA_SIM_SEED: String(failure.seed) }, encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { seed: failure.seed, digest: failure.digest });
});
