/**
 * The ambient simulation (DANGA_ENGINE=sim, src/engines/install.ts): the
 * whole process on the sim engine, eventLoop() on virtual time, simulate()
 * inside it, and the same seed giving the same trace in another process.
 * Each case runs the fixture in a child process with DANGA_ENGINE=sim.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/ambient.js', import.meta.url));

function run(seed: string, trace: string): Record<string, unknown> {
  const env: NodeJS.ProcessEnv = { ...process.env, DANGA_ENGINE: 'sim', DANGA_SIM_SEED: seed, DANGA_SIM_TRACE: trace };
  delete env.DANGA_TEST_PASS;
  return JSON.parse(execFileSync(process.execPath, [fixture], { encoding: 'utf8', env })) as Record<string, unknown>;
}

test('DANGA_ENGINE=sim: eventLoop() on virtual time, simulate() inside it gives the ambient engine back, the same seed replays the trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'danga-ambient-'));
  try {
    const a = run('3', join(dir, 'a'));
    assert.deepEqual(a, {
      order: ['nextTick', 'promise job', 'eventLoop resolved'],
      engine: 'sim',
      echoed: 'hello',
      // The virtual wall clock: epoch 1,700,000,000 s; the hour-long timer fires at 3600.001 s (the end of its millisecond).
      firedAt: 1_700_003_600.001,
      fastEnough: true,
      innerEnd: 'idle',
      engineAfter: 'sim',
      again: 1_700_003_601.002,
    });
    run('3', join(dir, 'b'));
    const traceA = readFileSync(join(dir, 'a'), 'utf8');
    assert.match(traceA, /^0 seed 3 \(ambient\)\n/);
    assert.equal(readFileSync(join(dir, 'b'), 'utf8'), traceA, 'the same seed gives the same trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('DANGA_ENGINE=sim with a bad DANGA_SIM_SEED fails at load, naming it', () => {
  assert.throws(
    () => execFileSync(process.execPath, [fixture], { encoding: 'utf8', stdio: 'pipe', env: { ...process.env, DANGA_ENGINE: 'sim', DANGA_SIM_SEED: '-1' } }),
    (err: Error & { stderr?: string }) => /DANGA_SIM_SEED/.test(err.stderr ?? ''),
  );
});
