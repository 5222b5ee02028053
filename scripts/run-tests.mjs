#!/usr/bin/env node
// Runs the compiled test suite (dist/test) once per engine: the native epoll
// engine when the addon is built, and the portable stream engine always.
// `npm test` calls it after compiling. Set DANGA_ENGINE to run one engine only.
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

const engines = process.env.DANGA_ENGINE ? [process.env.DANGA_ENGINE] : haveAddon ? ['epoll', 'node'] : ['node'];
if (!haveAddon && !process.env.DANGA_ENGINE) {
  console.log('run-tests: the native addon is not built; running the stream engine only');
}

const failed = [];
for (const engine of engines) {
  console.log(`\n# engine: ${engine}`);
  const r = spawnSync(process.execPath, ['--test', '--test-timeout=120000', ...files], {
    stdio: 'inherit',
    env: { ...process.env, DANGA_ENGINE: engine },
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
