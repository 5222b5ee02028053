#!/usr/bin/env node
// Reads the logs of scripts/run-tests.mjs runs (TAP, one log per Node
// release) and prints what .ci/run reports at its end: per release, the
// pass/skip/fail counts of each pass (test/matrix.ts: epoll, node,
// sim-ambient, sim-simulate, package; in the order they ran), then the
// runtimes the package pass drove (CommonJS, arm64 under qemu, Deno, Bun),
// each ok, FAILED or skipped with its note.
//
//   node scripts/ci-summary.mjs <log>...
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The package pass's tests that stand for a runtime: their title's start, and the name in the table. */
const RUNTIME_TESTS = [
  ['(b) CommonJS', 'CommonJS'],
  ['arm64 under qemu-user', 'arm64 (qemu)'],
  ['Deno:', 'Deno'],
  ['Bun:', 'Bun'],
];

function parse(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const result = { release: '?', passes: new Map(), runtimes: new Map() };
  let pass = null;
  for (const line of lines) {
    let m;
    if ((m = /^# run-tests: node (v\S+) \((\w+)\)/.exec(line))) result.release = `node ${m[1]}`;
    else if ((m = /^# pass: ([\w-]+)/.exec(line))) pass = m[1];
    else if (pass !== null && (m = /^# (tests|pass|fail|skipped|cancelled|todo) (\d+)$/.exec(line))) {
      const counts = result.passes.get(pass) ?? {};
      // A pass may run the test runner more than once (files with a longer timeout): the sums.
      counts[m[1]] = (counts[m[1]] ?? 0) + Number(m[2]);
      result.passes.set(pass, counts);
    } else if (pass === 'package' && (m = /^\s*(not ok|ok) \d+ - (.*?)(?: # SKIP ?(.*))?$/.exec(line))) {
      const found = RUNTIME_TESTS.find(([start]) => m[2].startsWith(start));
      if (found !== undefined) result.runtimes.set(found[1], m[1] === 'not ok' ? 'FAILED' : m[3] !== undefined ? `skipped (${m[3]})` : 'ok');
    } else if (pass === 'package' && (m = /^\s*# ((?:arm64 \(qemu-aarch64, )?(?:node|deno|bun) [^:]+?\)?): engine (\w+), echo round trip ok/.exec(line))) {
      const name = m[1].startsWith('arm64') ? 'arm64 (qemu)' : m[1].startsWith('deno') ? 'Deno' : 'Bun';
      result.runtimes.set(`${name} detail`, `${m[1].replace(/^arm64 \(qemu-aarch64, (.*)\)$/, '$1')}, ${m[2]} engine`);
    }
  }
  return result;
}

const fmt = (c) => (c === undefined ? 'not run' : `${c.pass ?? 0} pass, ${c.skipped ?? 0} skip, ${(c.fail ?? 0) + (c.cancelled ?? 0)} fail`);

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node scripts/ci-summary.mjs <log>...');
  process.exit(2);
}
console.log('ci: results per Node release (pass / skip / fail per pass)');
for (const file of files) {
  const r = parse(file);
  const cells = [...r.passes].map(([p, c]) => `${p}: ${fmt(c)}`);
  const label = `${path.basename(file, '.log')}: ${r.release}`;
  console.log(`ci:   ${label.padEnd(24)} ${cells.length > 0 ? cells.join(' | ') : 'no results (did the run start?)'}`);
  const rts = RUNTIME_TESTS.map(([, name]) => name).filter((name) => r.runtimes.has(name));
  if (rts.length > 0) {
    const parts = rts.map((name) => {
      const detail = r.runtimes.get(`${name} detail`);
      return `${name}: ${r.runtimes.get(name)}${detail !== undefined && r.runtimes.get(name) === 'ok' ? ` (${detail})` : ''}`;
    });
    console.log(`ci:   ${''.padEnd(24)} ${parts.join(' | ')}`);
  }
}
