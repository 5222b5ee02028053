/**
 * test/matrix.ts, the declared test matrix: its patterns, that a rule
 * matches every test file (the runner and the lint refuse a file none
 * matches), and that the skip helpers give its reasons in the passes it
 * names and nowhere else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FILES, PASSES, SKIPS, patternRegExp, ruleFor, type Pass, type SkipKey } from './matrix.js';
import { skipOn, testPass } from './helpers.js';

test('patterns: * stays in its folder, ** crosses folders, an exact name matches itself only', () => {
  const core = patternRegExp('core/**');
  assert.ok(core.test('core/loop.test.ts'));
  assert.ok(core.test('core/deep/er.test.ts'));
  assert.ok(!core.test('score/loop.test.ts'));
  assert.ok(!core.test('core.test.ts'));
  const top = patternRegExp('*.test.ts');
  assert.ok(top.test('tls.test.ts'));
  assert.ok(!top.test('core/tls.test.ts'));
  const exact = patternRegExp('sim/conformance.test.ts');
  assert.ok(exact.test('sim/conformance.test.ts'));
  assert.ok(!exact.test('sim/conformanceXtest.ts'), 'a dot is a dot');
});

test('the first matching rule wins: conformance runs in four passes, the rest of test/sim in sim-simulate only', () => {
  assert.deepEqual(ruleFor('sim/conformance.test.js')?.passes, ['epoll', 'node', 'sim-ambient', 'sim-simulate']);
  assert.deepEqual(ruleFor('sim/properties.test.js')?.passes, ['sim-simulate']);
  assert.deepEqual(ruleFor('core/a-new-file.test.js')?.passes, ['epoll', 'node', 'sim-ambient'], 'a new file needs no entry');
  assert.equal(ruleFor('a-new-folder/x.test.js'), undefined, 'a new folder needs a rule');
});

test('every compiled test file has a rule, every rule matches a file, every pass named exists', () => {
  const testDir = fileURLToPath(new URL('.', import.meta.url));
  const files = readdirSync(testDir, { recursive: true })
    .map((f) => String(f).split('\\').join('/'))
    .filter((f) => f.endsWith('.test.js'));
  assert.deepEqual(
    files.filter((f) => ruleFor(f) === undefined),
    [],
  );
  for (const rule of FILES) {
    assert.ok(
      files.some((f) => ruleFor(f) === rule),
      `rule ${rule.files} decides no file`,
    );
    for (const p of rule.passes) assert.ok(p in PASSES, `${rule.files}: unknown pass ${p}`);
    assert.notEqual(rule.why.trim(), '', `${rule.files}: a reason`);
  }
  for (const [key, def] of Object.entries(SKIPS)) {
    for (const p of Object.keys(def.on)) assert.ok(p in PASSES, `SKIPS.${key}: unknown pass ${p}`);
  }
});

test('skipOn(): the reason in the passes SKIPS names for it, false in the others', () => {
  const pass = testPass();
  for (const key of Object.keys(SKIPS) as SkipKey[]) {
    const why = (SKIPS[key].on as Partial<Record<Pass, string>>)[pass];
    const got = skipOn(key);
    if (why === undefined) assert.equal(got, false, key);
    else assert.ok(typeof got === 'string' && got.endsWith(why), `${key}: ${String(got)}`);
  }
});
