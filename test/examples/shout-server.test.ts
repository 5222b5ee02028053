/**
 * The README's first example, examples/shout-server.ts, run as a user runs
 * it: a child process, real clients (nc, Node's net), SIGTERM. And the
 * README shows exactly the code of the file (and of examples/proxy.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const script = fileURLToPath(new URL('../../examples/shout-server.js', import.meta.url));
const haveNc = spawnSync('sh', ['-c', 'command -v nc']).status === 0;

for (const example of ['shout-server', 'proxy']) {
  test(`the README shows examples/${example}.ts as it is`, () => {
    const source = readFileSync(`${root}examples/${example}.ts`, 'utf8');
    const region = source.slice(source.indexOf('// README:BEGIN\n') + '// README:BEGIN\n'.length, source.indexOf('// README:END'));
    assert.ok(region.length > 500);
    assert.ok(readFileSync(`${root}README.md`, 'utf8').includes(region), `README example differs from examples/${example}.ts`);
  });
}

/** A client on Node's net: sends `text` (then half-closes when asked), collects until the server closes. */
function client(port: number, text: string | Buffer, halfClose: boolean): Promise<{ reply: string; error: string | null }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const c = net.connect({ host: '127.0.0.1', port }, () => {
      c.write(text);
      if (halfClose) c.end();
    });
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('close', () => resolve({ reply: Buffer.concat(chunks).toString(), error: null }));
    c.on('error', (err: NodeJS.ErrnoException) => resolve({ reply: Buffer.concat(chunks).toString(), error: err.code ?? 'error' }));
  });
}

test('shout server: lines, quit, a half-closing nc, an over-long line closing one connection, SIGTERM draining', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, [script], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const check = (): void => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout.on('data', check);
    void exited.then(() => reject(new Error(`exited early: ${out} ${err}`)));
  });

  // A connection kept open across the others: it still works after one of them failed.
  const kept = net.connect({ host: '127.0.0.1', port });
  let keptReply = '';
  kept.on('data', (d: Buffer) => (keptReply += d.toString()));

  assert.deepEqual(await client(port, 'hello\nsecond line\r\nquit\nnot answered\n', false), { reply: 'HELLO\nSECOND LINE\n', error: null });
  assert.deepEqual(await client(port, 'half\nclosed', true), { reply: 'HALF\n', error: null }, 'a half-closed partial line is dropped, the rest answered');
  if (haveNc) {
    const nc = spawnSync('nc', ['-N', '127.0.0.1', String(port)], { input: 'via nc\n', encoding: 'utf8', timeout: 20_000 });
    assert.equal(nc.stdout, 'VIA NC\n');
  }
  const long = await client(port, Buffer.alloc(100 * 1024, 0x61), false);
  assert.equal(long.reply, '');
  assert.match(err, /Shout.*maxBytes \(65536 bytes\)/);

  kept.write('still here\n');
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (keptReply === 'STILL HERE\n') resolve();
    };
    kept.on('data', check);
    check();
  });

  // SIGTERM: the kept connection is ended (it gets end of stream), and the process exits on its own.
  const keptClosed = new Promise<void>((resolve) => kept.once('close', () => resolve()));
  child.kill('SIGTERM');
  await keptClosed;
  assert.equal(await exited, 0);
});
