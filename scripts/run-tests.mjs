#!/usr/bin/env node
// Runs the compiled test suite (dist/test) in the passes that test/matrix.ts
// declares: which files each pass runs (its FILES rules, first match wins),
// with which engine and timeout (PASSES). `npm test` calls it after compiling.
// In order: epoll (when the addon is built), node, sim-ambient
// (DANGA_ENGINE=sim, the seed from DANGA_SIM_SEED, default 1, printed),
// sim-simulate (the loop on a real engine, the tests calling simulate()), and
// package (once, not with DANGA_ENGINE set). The tables in CONTRIBUTING.md and
// docs/simulation.md are generated from the same declaration
// (scripts/matrix-docs.mjs).
//
// Every test process gets DANGA_TEST_PASS=<pass> (test/helpers.ts's
// testPass() and skipOn() read it). Set DANGA_ENGINE (epoll, node or sim) to
// run that engine's passes only (sim: both sim passes), or DANGA_TEST_PASSES
// to a comma-separated list of passes (epoll, node, sim-ambient,
// sim-simulate, package; `sim` names both sim passes) to run those
// (.ci/run: "epoll,node,package" on the other Node releases).
// A test file that no rule of test/matrix.ts matches fails the run.
// `--list` prints the passes that would run and their files, and runs nothing.
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join, sep } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const testDir = join(root, 'dist', 'test');
const { PASSES, ruleFor } = await import(pathToFileURL(join(testDir, 'matrix.js')).href);
const passNames = Object.keys(PASSES);

// test/<module>.test.ts mirrors src/<module>.ts, so the tests live in folders.
const all = readdirSync(testDir, { recursive: true })
  .map((f) => String(f).split(sep).join('/'))
  .filter((f) => f.endsWith('.test.js'))
  .sort();
const unmatched = all.filter((f) => ruleFor(f) === undefined);
if (unmatched.length > 0) {
  console.error(
    `run-tests: no rule of test/matrix.ts (FILES) matches ${unmatched.map((f) => `test/${f.replace(/\.js$/, '.ts')}`).join(', ')}: add one, with the reason`,
  );
  process.exit(2);
}
const filesOf = (pass) => all.filter((f) => ruleFor(f).passes.includes(pass));

const expand = (p) => (p === 'sim' ? ['sim-ambient', 'sim-simulate'] : [p]);
const passList = (process.env.DANGA_TEST_PASSES ?? '')
  .split(',')
  .map((p) => p.trim())
  .filter((p) => p !== '');
const badPass = passList.find((p) => p !== 'sim' && !passNames.includes(p));
if (badPass !== undefined) {
  console.error(`run-tests: DANGA_TEST_PASSES: unknown pass ${JSON.stringify(badPass)} (known: ${passNames.join(', ')}, and sim for both sim passes)`);
  process.exit(2);
}
const listed = new Set(passList.flatMap(expand));
const wanted = process.env.DANGA_ENGINE;
if (wanted !== undefined && wanted !== '' && !['epoll', 'node', 'sim'].includes(wanted)) {
  console.error(`run-tests: DANGA_ENGINE must be epoll, node or sim, not ${JSON.stringify(wanted)}`);
  process.exit(2);
}
const haveAddon = existsSync(join(root, 'build', 'Release', 'danga_native.node'));

console.log(`# run-tests: node ${process.version} (${process.arch}), ${process.execPath}`);
if (!haveAddon && !wanted) {
  console.log('run-tests: the native addon is not built; running the node engine and the simulation only');
}

// TAP when the output is not a terminal, as Node 20 and 22 do by default
// (Node 26 prints its spec reporter everywhere): CI logs read the same on
// every release, each pass ending with its "# tests/# pass/# fail" lines.
const reporter = process.stdout.isTTY ? [] : ['--test-reporter=tap'];
// Each test process names the handles it left open, and fails, soon after its
// last test, instead of waiting out the timeout (test/open-handles.ts).
const openHandles = ['--import', join(testDir, 'open-handles.js')];
const seed = process.env.DANGA_SIM_SEED || '1';
const listOnly = process.argv.includes('--list');
const failed = [];
for (const pass of passNames) {
  if (listed.size > 0 && !listed.has(pass)) continue;
  const def = PASSES[pass];
  const files = filesOf(pass);
  if (files.length === 0) continue;
  if (wanted) {
    // DANGA_ENGINE picks the passes on that engine (sim: both sim passes).
    if (pass === 'package') {
      console.log('run-tests: DANGA_ENGINE is set: skipping the package pass (it checks which engine the installed package picks)');
      continue;
    }
    if (wanted === 'sim' ? def.engine !== 'sim' && pass !== 'sim-simulate' : def.engine !== wanted) continue;
  } else if (pass === 'epoll' && !haveAddon) continue;
  const env = { ...process.env, DANGA_TEST_PASS: pass };
  if (def.engine === null) delete env.DANGA_ENGINE;
  else env.DANGA_ENGINE = def.engine;
  let heading = pass;
  if (def.engine === 'sim') {
    env.DANGA_SIM_SEED = seed;
    heading += ` (DANGA_ENGINE=sim, DANGA_SIM_SEED=${seed})`;
  }
  console.log(`\n# pass: ${heading}, ${files.length} files`);
  if (listOnly) {
    for (const f of files) console.log(`#   ${f}${ruleFor(f).timeoutMs ? ` (timeout ${ruleFor(f).timeoutMs / 1000} s)` : ''}`);
    continue;
  }
  // One run of the test runner per timeout (a rule may give its files a longer one than the pass's).
  const byTimeout = new Map();
  for (const f of files) {
    const ms = Math.max(def.timeoutMs, ruleFor(f).timeoutMs ?? 0);
    byTimeout.set(ms, [...(byTimeout.get(ms) ?? []), join(testDir, f)]);
  }
  let ok = true;
  for (const [ms, group] of byTimeout) {
    if (byTimeout.size > 1) console.log(`# ${pass}: ${group.length} files with a ${ms / 1000} s timeout per file`);
    const r = spawnSync(process.execPath, [...(def.openHandles ? openHandles : []), '--test', ...reporter, `--test-timeout=${ms}`, ...group], {
      stdio: 'inherit',
      env,
    });
    if (r.status !== 0) ok = false;
  }
  if (!ok) failed.push(pass);
}
if (failed.length > 0) console.error(`\nrun-tests: failures in pass(es): ${failed.join(', ')}`);
process.exit(failed.length > 0 ? 1 : 0);
