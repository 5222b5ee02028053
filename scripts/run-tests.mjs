#!/usr/bin/env node
// Runs the compiled test suite (dist/test) once per engine this build has.
// `npm test` calls it after compiling. Set DANGA_ENGINE to run one engine only.
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const testDir = join(root, 'dist', 'test');
const files = readdirSync(testDir).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(testDir, f));
const haveAddon = existsSync(join(root, 'build', 'Release', 'danga_native.node'));

const engines = process.env.DANGA_ENGINE ? [process.env.DANGA_ENGINE] : haveAddon ? ['epoll'] : [];
if (engines.length === 0) {
  console.error('run-tests: the native addon is not built and no other engine is available');
  process.exit(1);
}

let failed = false;
for (const engine of engines) {
  console.log(`\n# engine: ${engine}`);
  const r = spawnSync(process.execPath, ['--test', '--test-timeout=120000', ...files], {
    stdio: 'inherit',
    env: { ...process.env, DANGA_ENGINE: engine },
  });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
