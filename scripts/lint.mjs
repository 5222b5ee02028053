#!/usr/bin/env node
// `npm run lint`: ESLint (eslint.config.js), Prettier (.prettierrc.json),
// clang-format (.clang-format, through scripts/lint-c.mjs), TypeDoc's checks
// of the API reference's doc comments (typedoc.json; nothing written) and the
// test matrix tables in the docs (scripts/matrix-docs.mjs: stale is a
// finding), all of them even when one finds something, then one summary line.
// A step whose tool is not installed (clang-format) reads "skipped (...)"
// there and does not fail the lint; .ci/run installs it.
// Exit code: 0 all clean, 1 findings, 2 a tool could not run (bad config, crash).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
/** The exit status of a step that could not check because its tool is missing (the automake convention). */
const SKIPPED = 77;

const steps = [
  ['eslint', bin('eslint'), ['.']],
  ['prettier', bin('prettier'), ['--check', '.']],
  ['clang-format', process.execPath, [path.join(root, 'scripts', 'lint-c.mjs'), `--skip-status=${SKIPPED}`], 'clang-format not found'],
  // Warnings are errors there (an export without a doc comment, a broken link): exit 1+.
  ['typedoc', bin('typedoc'), ['--emit', 'none']],
  ['matrix-docs', process.execPath, [path.join(root, 'scripts', 'matrix-docs.mjs'), '--check']],
];

let worst = 0;
const summary = [];
for (const [name, cmd, args, missing] of steps) {
  console.log(`\n# lint: ${name}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  // ESLint and Prettier exit 1 for findings and 2 when they cannot run;
  // lint-c.mjs exits 1 for findings (clang-format's own code); TypeDoc exits
  // 3 for warnings-as-errors and 5 for other errors: findings, here.
  const status = r.error ? 2 : (r.status ?? 2);
  if (missing !== undefined && status === SKIPPED) {
    summary.push(`${name} skipped (${missing})`);
    continue;
  }
  const code = name === 'typedoc' && status > 2 ? 1 : status;
  if (r.error) console.error(`lint: ${name}: ${r.error.message}`);
  summary.push(`${name} ${code === 0 ? 'ok' : code === 1 ? 'found issues' : 'FAILED TO RUN'}`);
  worst = Math.max(worst, Math.min(code, 2));
}
console.log(`\nlint: ${summary.join(', ')}`);
process.exit(worst);
