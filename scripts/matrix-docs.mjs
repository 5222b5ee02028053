#!/usr/bin/env node
// Writes the tables of the test matrix into the docs, from test/matrix.ts (the
// one place that declares which test files run in which pass of `npm test`,
// and why a test skips): the blocks between `<!-- matrix:NAME -->` and
// `<!-- /matrix:NAME -->` in CONTRIBUTING.md and docs/simulation.md.
//
//   node scripts/matrix-docs.mjs --check   # `npm run lint`: exit 1 when a block is stale
//   node scripts/matrix-docs.mjs --write   # `npm run format`: rewrite the blocks
//
// The tests per skip reason are counted in the test sources: each
// `skipOn('key')` / `skipOnSim('key')` (and `NEEDS_EPOLL`, which is
// SKIPS.foreignFds) in a file whose passes include the pass it skips in; a
// test declared in a loop counts once. It also checks that a rule of FILES
// matches every test file, as the runner does.
// test/matrix.ts has no imports, so it is transpiled here on its own (no
// build needed; TypeScript is a devDependency).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv.includes('--write') ? 'write' : process.argv.includes('--check') ? 'check' : null;
if (mode === null) {
  console.error('usage: node scripts/matrix-docs.mjs --check | --write');
  process.exit(2);
}

const source = readFileSync(path.join(root, 'test', 'matrix.ts'), 'utf8');
const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
const { PASSES, FILES, SKIPS, ruleFor } = await import(`data:text/javascript,${encodeURIComponent(js)}`);
const passNames = Object.keys(PASSES);

const testDir = path.join(root, 'test');
const testFiles = readdirSync(testDir, { recursive: true })
  .map((f) => String(f).split(path.sep).join('/'))
  .filter((f) => f.endsWith('.test.ts'))
  .sort();
let problems = 0;
for (const f of testFiles) {
  if (ruleFor(f) === undefined) {
    console.error(`matrix-docs: no rule of test/matrix.ts (FILES) matches test/${f}: add one, with the reason`);
    problems++;
  }
}

/** Counts per skip key: { key: { pass: [[file, n], ...] } }. */
const stripImports = (text) => text.replace(/^import\b[\s\S]*?\bfrom\s*['"][^'"]+['"];?/gm, '');
const sites = new Map(Object.keys(SKIPS).map((k) => [k, new Map()]));
for (const f of testFiles) {
  const rule = ruleFor(f);
  if (rule === undefined) continue;
  const text = stripImports(readFileSync(path.join(testDir, f), 'utf8'));
  const found = new Map();
  for (const m of text.matchAll(/\bskipOn(?:Sim)?\(\s*['"](\w+)['"]\s*\)/g)) found.set(m[1], (found.get(m[1]) ?? 0) + 1);
  const epoll = text.match(/\bNEEDS_EPOLL\b/g)?.length ?? 0;
  if (epoll > 0) found.set('foreignFds', (found.get('foreignFds') ?? 0) + epoll);
  for (const [key, n] of found) {
    if (!sites.has(key)) {
      console.error(`matrix-docs: test/${f} uses skip reason ${JSON.stringify(key)}, which SKIPS of test/matrix.ts does not declare`);
      problems++;
      continue;
    }
    for (const pass of Object.keys(SKIPS[key].on)) {
      if (!rule.passes.includes(pass)) continue;
      const byPass = sites.get(key);
      byPass.set(pass, [...(byPass.get(pass) ?? []), [f, n]]);
    }
  }
}

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const testsCell = (list) => (list === undefined || list.length === 0 ? 'none' : list.map(([f, n]) => `${f} (${n})`).join(', '));
const short = { epoll: 'epoll', node: 'node', 'sim-ambient': 'sim ambient', 'sim-simulate': 'sim simulate', package: 'package' };
const passLabel = (p) => short[p] ?? p;

const blocks = {
  passes: () => {
    const head = `| test files (under test/) | ${passNames.map(passLabel).join(' | ')} | why |`;
    const rule = `| --- | ${passNames.map(() => ':-:').join(' | ')} | --- |`;
    const timeout = (r) => (r.timeoutMs ? ` (timeout ${r.timeoutMs / 1000} s per file)` : '');
    const rows = FILES.map((r) => `| \`${r.files}\` | ${passNames.map((p) => (r.passes.includes(p) ? '✓' : '')).join(' | ')} | ${cell(r.why + timeout(r))} |`);
    const passRows = passNames.map((p) => `| ${passLabel(p)} | ${cell(PASSES[p].what)} | ${PASSES[p].timeoutMs / 1000} s |`);
    return [head, rule, ...rows, '', '| pass | what | timeout per file |', '| --- | --- | --- |', ...passRows].join('\n');
  },
  skips: () => {
    const rows = [];
    for (const [key, def] of Object.entries(SKIPS)) {
      for (const [pass, why] of Object.entries(def.on))
        rows.push(`| \`${key}\` | ${passLabel(pass)} | ${cell(why)} | ${testsCell(sites.get(key).get(pass))} |`);
    }
    return ['| key | skips in | reason | tests (call sites per file) |', '| --- | --- | --- | --- |', ...rows].join('\n');
  },
  'sim-skips': () => {
    const rows = [];
    for (const [key, def] of Object.entries(SKIPS)) {
      const why = def.on['sim-ambient'];
      if (why !== undefined) rows.push(`| ${cell(why)} | ${testsCell(sites.get(key).get('sim-ambient'))} |`);
    }
    return ['| reason | tests (call sites per file) |', '| --- | --- |', ...rows].join('\n');
  },
};

const DOCS = ['CONTRIBUTING.md', 'docs/simulation.md'];
let stale = 0;
for (const doc of DOCS) {
  const file = path.join(root, doc);
  const before = readFileSync(file, 'utf8');
  const after = before.replace(/(<!-- matrix:([\w-]+)[^>]*-->\n)[\s\S]*?(<!-- \/matrix:\2 -->)/g, (all, open, name, close) => {
    const make = blocks[name];
    if (make === undefined) {
      console.error(`matrix-docs: ${doc}: unknown block matrix:${name} (known: ${Object.keys(blocks).join(', ')})`);
      problems++;
      return all;
    }
    return `${open}${make()}\n${close}`;
  });
  if (after === before) continue;
  if (mode === 'write') {
    writeFileSync(file, after);
    console.log(`matrix-docs: ${doc} rewritten from test/matrix.ts`);
  } else {
    console.error(`matrix-docs: ${doc}: the test matrix tables are stale (test/matrix.ts or the tests' skips changed); \`npm run format\` rewrites them`);
    stale++;
  }
}
if (problems === 0 && stale === 0 && mode === 'check')
  console.log(`matrix-docs: ${DOCS.join(', ')} match test/matrix.ts (${testFiles.length} test files, ${FILES.length} rules)`);
process.exit(problems + stale > 0 ? 1 : 0);
