#!/usr/bin/env node
// Runs the compiled test suite (dist/test) once per engine: the native epoll
// engine when the addon is built, the portable stream engine always, and the
// simulation (danga-socket/sim): test/sim/ with DANGA_TEST_SIM=1, where the
// core conformance tests run inside simulate() and the seeded properties run.
// test/sim/conformance.test.ts runs in every pass; the rest of test/sim/
// (which needs no real engine) in the sim pass only. `npm test` calls it
// after compiling. Set DANGA_ENGINE (epoll, node or sim) to run one pass only.
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const testDir = join(root, 'dist', 'test');
// test/<module>.test.ts mirrors src/<module>.ts, so the tests live in folders.
const all = readdirSync(testDir, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.test.js'))
  .sort();
// test/package/ tests the packed package (which engine it picks is what it
// checks): run once, after the per-engine runs, and not with DANGA_ENGINE set.
const files = all.filter((f) => !f.startsWith('package/')).map((f) => join(testDir, f));
const packageFiles = all.filter((f) => f.startsWith('package/')).map((f) => join(testDir, f));
const haveAddon = existsSync(join(root, 'build', 'Release', 'danga_native.node'));
const simDir = join(testDir, 'sim');
const conformance = join(simDir, 'conformance.test.js');
const simFiles = files.filter((f) => f.startsWith(simDir + '/'));
const realFiles = files.filter((f) => !f.startsWith(simDir + '/') || f === conformance);

const wanted = process.env.DANGA_ENGINE;
const engines = wanted ? [wanted] : haveAddon ? ['epoll', 'node', 'sim'] : ['node', 'sim'];
if (!haveAddon && !wanted) {
  console.log('run-tests: the native addon is not built; running the stream engine and the simulation only');
}

const failed = [];
for (const engine of engines) {
  console.log(`\n# engine: ${engine}`);
  // The simulation swaps its engine in for each simulate(); the loop is loaded on a real one.
  const env = engine === 'sim' ? { ...process.env, DANGA_TEST_SIM: '1' } : { ...process.env, DANGA_ENGINE: engine };
  if (engine === 'sim') delete env.DANGA_ENGINE;
  const r = spawnSync(process.execPath, ['--test', '--test-timeout=120000', ...(engine === 'sim' ? simFiles : realFiles)], {
    stdio: 'inherit',
    env,
  });
  if (r.status !== 0) failed.push(engine);
}
if (packageFiles.length > 0 && !process.env.DANGA_ENGINE) {
  console.log('\n# package (once)');
  const r = spawnSync(process.execPath, ['--test', '--test-timeout=600000', ...packageFiles], { stdio: 'inherit' });
  if (r.status !== 0) failed.push('package');
} else if (packageFiles.length > 0) {
  console.log('run-tests: DANGA_ENGINE is set: skipping test/package (it checks which engine the installed package picks)');
}
if (failed.length > 0) console.error(`\nrun-tests: failures on engine(s): ${failed.join(', ')}`);
process.exit(failed.length > 0 ? 1 : 0);
