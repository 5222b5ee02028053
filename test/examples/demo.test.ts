/**
 * `npm start` as a user meets it: the demo process serves echo and chat to
 * real clients (nc, socat), the repository's docs/ to curl, and shuts down
 * cleanly on SIGINT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';

const demo = fileURLToPath(new URL('../../examples/demo.js', import.meta.url));
const docs = fileURLToPath(new URL('../../../docs/', import.meta.url));
const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Resolves once `proc`'s stdout has matched `pattern`; rejects if it exits first. */
function waitFor(proc: ChildProcessWithoutNullStreams, pattern: RegExp, out: { text: string }): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = out.text.match(pattern);
      if (m) {
        proc.stdout.off('data', onData);
        proc.off('exit', onExit);
        resolve(m);
        return true;
      }
      return false;
    };
    const onData = (): void => void check();
    const onExit = (code: number | null): void => {
      if (!check()) reject(new Error(`exited (${code}) before ${pattern}: ${out.text}`));
    };
    proc.stdout.on('data', onData);
    proc.on('exit', onExit);
    check();
  });
}

/** The exit code, whether the process has already exited or not. */
function exited(proc: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): [ChildProcessWithoutNullStreams, { text: string }] {
  const proc = spawn(cmd, args, { env, stdio: 'pipe' });
  const out = { text: '' };
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d: string) => {
    out.text += d;
  });
  proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  return [proc, out];
}

test('npm start: echo via nc, chat via two socat clients, docs/ via curl, clean exit on SIGINT', { timeout: 60_000 }, async (t) => {
  if (!have('nc') || !have('socat') || !have('curl')) {
    t.skip('nc, socat and curl are needed (.ci/run installs them)');
    return;
  }
  const [server, serverOut] = start(process.execPath, [demo], { ...process.env, ECHO_PORT: '0', CHAT_PORT: '0', STATIC_PORT: '0' });
  try {
    const echoPort = (await waitFor(server, /echo server listening on 127\.0\.0\.1:(\d+)/, serverOut))[1] as string;
    const chatPort = (await waitFor(server, /chat server listening on 127\.0\.0\.1:(\d+)/, serverOut))[1] as string;
    const docsUrl = (await waitFor(server, /static server on (http:\/\/127\.0\.0\.1:\d+\/) serving /, serverOut))[1] as string;

    // Static: curl downloads a file of docs/ byte-exact; the root is a listing that links to it.
    const file = spawnSync('curl', ['-sS', '--fail', `${docsUrl}engines-and-tls.md`], { encoding: 'buffer', timeout: 20_000 });
    assert.equal(file.status, 0, file.stderr.toString());
    assert.ok(file.stdout.equals(readFileSync(`${docs}engines-and-tls.md`)), 'docs/engines-and-tls.md byte-exact');
    const listing = spawnSync('curl', ['-sS', '--fail', docsUrl], { encoding: 'utf8', timeout: 20_000 });
    assert.match(listing.stdout, /<a href="engines-and-tls\.md">/);

    // Echo: nc sends two lines and half-closes; the server echoes and closes.
    const nc = spawnSync('nc', ['-N', '127.0.0.1', echoPort], { input: 'hello danga\nsecond line\n', encoding: 'utf8', timeout: 20_000 });
    assert.equal(nc.stdout, 'hello danga\nsecond line\n');

    // Chat: A joins, B joins, B speaks, A hears it; A speaks, B hears it.
    const [a, aOut] = start('socat', ['-', `TCP:127.0.0.1:${chatPort}`]);
    await waitFor(a, /welcome/, aOut);
    const [b, bOut] = start('socat', ['-', `TCP:127.0.0.1:${chatPort}`]);
    await waitFor(b, /welcome .*1 other/, bOut);
    await waitFor(a, /joined/, aOut);
    b.stdin.write('hello from b\n');
    await waitFor(a, /> hello from b\n/, aOut);
    a.stdin.write('hi b, this is a\r\n');
    await waitFor(b, /> hi b, this is a\n/, bOut);
    assert.ok(!bOut.text.includes('hello from b'), 'a sender does not get its own line back');
    a.stdin.end();
    await waitFor(b, /left/, bOut);
    b.stdin.end();
    await Promise.all([exited(a), exited(b)]);
  } finally {
    server.kill('SIGINT');
  }
  const code = await exited(server);
  assert.equal(code, 0);
  assert.match(serverOut.text, /SIGINT: shutting down/);
  assert.match(serverOut.text, /bye/);
});
