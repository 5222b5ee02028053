#!/usr/bin/env node
// Checks the C code (native/, bench/) with clang-format against .clang-format
// (and bench/.clang-format): `npm run lint` runs it. With --fix it rewrites
// the files in place instead: `npm run format` runs that.
//
// clang-format is Debian's `clang-format` package (.ci/run installs it). When
// it is not installed, this prints a note and exits 0, so that the rest of
// `npm run lint` still counts; with --skip-status=N it exits N instead, which
// is how scripts/lint.mjs tells "skipped" from "ok". CLANG_FORMAT=/path/to/clang-format
// picks another binary.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fix = process.argv.includes('--fix');
const skipStatus = Number(process.argv.find((a) => a.startsWith('--skip-status='))?.slice('--skip-status='.length) ?? 0);
const bin = process.env.CLANG_FORMAT || 'clang-format';

// The C sources: native/*.{c,h} and bench/**/*.{c,h}, not build output.
const skip = new Set(['build', 'node_modules', 'results']);
function cFiles(dir) {
  const out = [];
  for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!skip.has(e.name)) out.push(...cFiles(rel));
    } else if (/\.[ch]$/.test(e.name)) {
      out.push(rel);
    }
  }
  return out;
}
const files = [...cFiles('native'), ...cFiles('bench')].sort();

const version = spawnSync(bin, ['--version'], { encoding: 'utf8' });
if (version.error || version.status !== 0) {
  const rest = fix ? 'the rest is formatted' : 'the rest of the lint still counts';
  console.log(`lint-c: note: ${bin} is not installed, so the C files were not ${fix ? 'formatted' : 'checked'} (apt-get install clang-format); ${rest}.`);
  process.exit(skipStatus);
}

const args = fix ? ['-i', ...files] : ['--dry-run', '-Werror', ...files];
const r = spawnSync(bin, args, { cwd: root, stdio: 'inherit' });
if (r.error) {
  console.error(`lint-c: ${bin}: ${r.error.message}`);
  process.exit(2);
}
const what = version.stdout.trim();
if (r.status !== 0) {
  if (!fix) console.error(`lint-c: ${what}: C files not formatted as .clang-format says; \`npm run format\` fixes them`);
  process.exit(r.status ?? 1);
}
console.log(`lint-c: ${what}: ${files.length} C files ${fix ? 'formatted' : 'ok'}`);
