#!/usr/bin/env node
// `npm run lint:package [-- path/to/danga-socket-x.y.z.tgz]`: checks the
// package as users get it, the packed tarball, with publint (package.json
// fields, exports, files; warnings count as errors) and Are the Types Wrong
// (attw: the types resolve under every TypeScript module setting; profile
// esm-only, since the package is ESM-only by design).
//
// Without an argument it packs the project first (`npm pack`, which runs
// "prepack": fresh prebuilds) into a scratch folder, removed afterwards. The
// consumer test (test/package/consumer.test.ts) passes the tarball it packed.
// Nothing is fetched: attw runs with --no-definitely-typed.
// Exit code: 0 clean, 1 findings, 2 a tool could not run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

let tarball = process.argv[2];
let scratch = null;
if (tarball === undefined) {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'danga-lint-package-'));
  const npm = process.env.npm_execpath?.endsWith('.js') ? [process.execPath, process.env.npm_execpath] : ['npm'];
  const r = spawnSync(npm[0], [...npm.slice(1), 'pack', '--json', '--pack-destination', scratch], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) {
    console.error(`lint:package: npm pack failed (${r.error?.message ?? `exit ${r.status}`})`);
    process.exit(2);
  }
  // The JSON follows whatever the lifecycle scripts print.
  const json = r.stdout.slice(r.stdout.indexOf('\n[') + 1 || r.stdout.indexOf('['));
  tarball = path.join(scratch, JSON.parse(json)[0].filename);
}

const steps = [
  ['publint', bin('publint'), ['run', '--strict', '--pack', 'false', tarball]],
  ['attw', bin('attw'), ['--profile', 'esm-only', '--no-definitely-typed', '--no-emoji', '--no-color', tarball]],
];
let worst = 0;
const summary = [];
for (const [name, cmd, args] of steps) {
  console.log(`\n# lint:package: ${name}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  const code = r.error ? 2 : r.status === 0 ? 0 : r.status === 1 ? 1 : 2;
  if (r.error) console.error(`lint:package: ${name}: ${r.error.message}`);
  summary.push(`${name} ${code === 0 ? 'ok' : code === 1 ? 'found issues' : 'FAILED TO RUN'}`);
  worst = Math.max(worst, code);
}
if (scratch !== null) rmSync(scratch, { recursive: true, force: true });
console.log(`\nlint:package: ${path.basename(tarball)}: ${summary.join(', ')}`);
process.exit(worst);
