#!/usr/bin/env node
// Runs the compiled test suite (dist/test) once per engine: the native epoll
// engine when the addon is built, the portable stream engine always, and the
// simulation, in two runs:
// - sim (ambient): test/core/, test/integration/ and test/sim/conformance.test.ts
//   with DANGA_ENGINE=sim: the whole process on the sim engine, one seeded
//   simulated network per test file, the virtual clock, the loop driven by
//   the runner of simulate() (docs/simulation.md, "The ambient simulation").
//   Tests that need a real kernel or real clients skip there with a reason
//   (NEEDS_KERNEL in test/helpers.ts). DANGA_SIM_SEED picks the seed (default
//   1, printed); the same seed gives the same results.
// - sim (simulate): test/sim/ with DANGA_TEST_SIM=1, where the conformance
//   tests run inside simulate() and the seeded properties run.
// test/sim/conformance.test.ts runs in every pass; the rest of test/sim/
// (which needs no real engine) in the simulate() run only; test/examples/ on
// the real engines only. `npm test` calls it after compiling. Set
// DANGA_ENGINE (epoll, node or sim) to run one pass only, or
// DANGA_TEST_PASSES to a comma-separated list of passes (epoll, node, sim,
// package) to run those (.ci/run: "epoll,node,package" on the other Node
// releases).
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
// The ambient simulation runs the core suite: test/core/, test/integration/, and the conformance tests.
const ambientFiles = files.filter((f) => /\/(core|integration)\//.test(f.slice(testDir.length)) || f === conformance);

const PASSES = ['epoll', 'node', 'sim', 'package'];
const passList = (process.env.DANGA_TEST_PASSES ?? '')
  .split(',')
  .map((p) => p.trim())
  .filter((p) => p !== '');
const badPass = passList.find((p) => !PASSES.includes(p));
if (badPass !== undefined) {
  console.error(`run-tests: DANGA_TEST_PASSES: unknown pass ${JSON.stringify(badPass)} (known: ${PASSES.join(', ')})`);
  process.exit(2);
}
const want = (pass) => passList.length === 0 || passList.includes(pass);

console.log(`# run-tests: node ${process.version} (${process.arch}), ${process.execPath}`);
const wanted = process.env.DANGA_ENGINE;
const engines = (wanted ? [wanted] : haveAddon ? ['epoll', 'node', 'sim'] : ['node', 'sim']).filter(want);
if (!haveAddon && !wanted) {
  console.log('run-tests: the native addon is not built; running the stream engine and the simulation only');
}

// TAP when the output is not a terminal, as Node 20 and 22 do by default
// (Node 26 prints its spec reporter everywhere): CI logs read the same on
// every release, each pass ending with its "# tests/# pass/# fail" lines.
const reporter = process.stdout.isTTY ? [] : ['--test-reporter=tap'];
const failed = [];
// Each test process names the handles it left open, and fails, soon after its
// last test, instead of waiting out the timeout (test/open-handles.ts).
const openHandles = ['--import', join(testDir, 'open-handles.js')];
const run = (name, files, env, timeoutMs = 120000) => {
  const r = spawnSync(process.execPath, [...openHandles, '--test', ...reporter, `--test-timeout=${timeoutMs}`, ...files], { stdio: 'inherit', env });
  if (r.status !== 0) failed.push(name);
};
for (const engine of engines) {
  if (engine !== 'sim') {
    console.log(`\n# engine: ${engine}`);
    run(engine, realFiles, { ...process.env, DANGA_ENGINE: engine });
    continue;
  }
  const seed = process.env.DANGA_SIM_SEED || '1';
  console.log(`\n# engine: sim (ambient: DANGA_ENGINE=sim, DANGA_SIM_SEED=${seed})`);
  // A hang fails within a minute: nothing in the simulation waits for real time.
  run('sim (ambient)', ambientFiles, { ...process.env, DANGA_ENGINE: 'sim', DANGA_SIM_SEED: seed }, 60000);
  console.log('\n# engine: sim (simulate)');
  // simulate() swaps its engine in for each simulation; the loop is loaded on a real one.
  const env = { ...process.env, DANGA_TEST_SIM: '1' };
  delete env.DANGA_ENGINE;
  run('sim (simulate)', simFiles, env);
}
const packagePass = packageFiles.length > 0 && want('package');
if (packagePass && !process.env.DANGA_ENGINE) {
  console.log('\n# package (once)');
  const r = spawnSync(process.execPath, ['--test', ...reporter, '--test-timeout=600000', ...packageFiles], { stdio: 'inherit' });
  if (r.status !== 0) failed.push('package');
} else if (packagePass) {
  console.log('run-tests: DANGA_ENGINE is set: skipping test/package (it checks which engine the installed package picks)');
}
if (failed.length > 0) console.error(`\nrun-tests: failures on engine(s): ${failed.join(', ')}`);
process.exit(failed.length > 0 ? 1 : 0);
