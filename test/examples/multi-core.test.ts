/**
 * The README's multi-core example, examples/multi-core.ts, run as a user
 * runs it: a child process on every core, real clients, SIGHUP (reload),
 * SIGUSR2 (a new process takes over), SIGTERM. And the README shows exactly
 * the code of the file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadBinding } from '../../src/engines/epoll/binding.js';
import { alive, gone } from '../helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const script = fileURLToPath(new URL('../../examples/multi-core.js', import.meta.url));

test('the README shows examples/multi-core.ts as it is', () => {
  const source = readFileSync(`${root}examples/multi-core.ts`, 'utf8');
  const region = source.slice(source.indexOf('// README:BEGIN\n') + '// README:BEGIN\n'.length, source.indexOf('// README:END'));
  assert.ok(region.length > 500);
  assert.ok(readFileSync(`${root}README.md`, 'utf8').includes(region), 'README example differs from examples/multi-core.ts');
});

function shout(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port }, () => c.end(text));
    let reply = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (reply += d));
    c.on('close', () => resolve(reply));
    c.on('error', reject);
  });
}

test(
  'multi-core example: 2 workers serve; SIGHUP reloads, SIGUSR2 hands the port to a new process, SIGTERM drains and exits',
  { skip: loadBinding() === null ? 'a WorkerGroup needs the native addon' : false, timeout: 120_000 },
  async () => {
    const child = spawn(process.execPath, [script], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    const waiters: (() => void)[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(l);
      for (const w of waiters.splice(0)) w();
    });
    const line = async (n: number): Promise<string> => {
      while (lines.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
      return lines[n - 1]!;
    };
    const pids: number[] = [];
    try {
      const first = await line(1);
      const m = /^(\d+) workers on 127\.0\.0\.1:(\d+) \(pid (\d+)\)$/.exec(first);
      assert.ok(m, first);
      const port = Number(m[2]);
      pids.push(Number(m[3]));
      assert.equal(await shout(port, 'hello\nworld\n'), 'HELLO\nWORLD\n');
      process.kill(pids[0]!, 'SIGHUP'); // reload: serving goes on throughout
      assert.equal(await shout(port, 'after reload\n'), 'AFTER RELOAD\n');
      process.kill(pids[0]!, 'SIGUSR2');
      const second = await line(2);
      const m2 = /\(pid (\d+)\)$/.exec(second);
      assert.ok(m2 && second.includes(`:${port} `), second);
      pids.push(Number(m2[1]));
      assert.notEqual(pids[1], pids[0]);
      assert.equal(await shout(port, 'new process\n'), 'NEW PROCESS\n');
      await gone(pids[0]!);
      process.kill(pids[1]!, 'SIGTERM');
      await gone(pids[1]!);
    } finally {
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
      child.kill('SIGKILL');
    }
  },
);
