/**
 * The composition root (src/engines/install.ts): the engine is chosen once,
 * when the library loads — the addon, else the node engine with one
 * warning; DANGA_ENGINE=node|epoll forces one. Each case loads the library
 * in a fresh process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { skipOn } from '../helpers.js';

const indexUrl = new URL('../../src/index.js', import.meta.url).href;

/** Loads the library in a fresh process, the addon made unloadable when `breakAddon`. */
function loadWith(
  engine: string | undefined,
  breakAddon: boolean,
): { engine?: string; haveEpoll?: boolean; warnings?: string[]; code?: string; message?: string } {
  const script = `
    ${breakAddon ? "process.dlopen = () => { throw new Error('simulated: no addon'); };" : ''}
    const warnings = [];
    process.on('warning', (w) => warnings.push(w.code ?? w.name));
    let out;
    try {
      const { DangaSocket } = await import(${JSON.stringify(indexUrl)});
      await new Promise((r) => setImmediate(r));
      out = { engine: DangaSocket.engine(), haveEpoll: DangaSocket.haveEpoll(), warnings };
    } catch (err) {
      out = { code: err.code, message: err.message };
    }
    console.log(JSON.stringify(out));
  `;
  const env = { ...process.env };
  if (engine === undefined) delete env.DANGA_ENGINE;
  else env.DANGA_ENGINE = engine;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as ReturnType<typeof loadWith>;
}

test('engine choice: no addon falls back to the node engine with one warning; DANGA_ENGINE=node forces it; =epoll demands the addon', () => {
  const fallback = loadWith(undefined, true);
  assert.equal(fallback.engine, 'node');
  assert.equal(fallback.haveEpoll, false);
  assert.deepEqual(fallback.warnings, ['DANGA_NO_EPOLL'], 'exactly one warning');

  const forced = loadWith('node', false);
  assert.equal(forced.engine, 'node');
  assert.equal(forced.haveEpoll, false);
  assert.deepEqual(forced.warnings, [], 'no warning when asked for');

  const demanded = loadWith('epoll', true);
  assert.equal(demanded.code, 'ERR_DANGA_NO_EPOLL');
  assert.match(demanded.message as string, /DANGA_ENGINE=epoll.*simulated: no addon/);

  const bogus = loadWith('kqueue', false);
  assert.match(bogus.message as string, /DANGA_ENGINE must be "epoll" or "node"/);
});

test('engine choice: the addon is used when it loads', { skip: skipOn('addonLoaded') }, () => {
  const native = loadWith(undefined, false);
  assert.equal(native.engine, 'epoll');
  assert.equal(native.haveEpoll, true);
  assert.deepEqual(native.warnings, []);
});
