/**
 * Bad input gets a clear error naming the argument (TypeError or
 * RangeError, or a Node-style system error with `code` for the OS), never a
 * crash, a hang or a leaked fd.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, closeSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DangaSocket, socketPair, listenTcp, connectTcp, listenUnix, connectUnix, type Sock } from 'danga-socket';
import { Recorder, onEpoll, onSim, settleRuntimeFds, skipOnSim } from '../helpers.js';

afterEach(() => DangaSocket.reset());

// (Counted after Node's own fd use at startup is over: see settleRuntimeFds.)
settleRuntimeFds();
const openFds = (): number => readdirSync('/proc/self/fd').length;

/** Registers and drops one socket, so the loop's own fds (epoll) exist before counting. */
function warmUp(): void {
  const [x, y] = socketPair();
  new Recorder(x);
  DangaSocket.reset();
  y.close();
}

function expectError(fn: () => unknown, type: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof type, `${String(err)} is a ${type.name}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('constructor: missing, null, a plain object, a string, a closed Sock, a non-socket fd, an fd that is not open', { skip: skipOnSim('fd') }, () => {
  warmUp();
  const before = openFds();
  expectError(() => new Recorder(undefined as unknown as Sock), TypeError, /"sock"/);
  expectError(() => new Recorder(null as unknown as Sock), TypeError, /"sock"/);
  expectError(() => new Recorder({} as unknown as Sock), TypeError, /"sock"/);
  expectError(() => new Recorder('3' as unknown as Sock), TypeError, /"sock"/);
  const [a, b] = socketPair();
  a.close();
  expectError(() => new Recorder(a), TypeError, /"sock" is closed/);
  b.close();
  const file = openSync('/proc/self/status', 'r');
  try {
    expectError(() => new Recorder(file), TypeError, /not a socket/);
  } finally {
    closeSync(file);
  }
  expectError(() => new Recorder(99999), TypeError, /not open/);
  expectError(() => new Recorder(-1), TypeError, /"sock"/);
  assert.equal(DangaSocket.watchedSockets(), 0);
  assert.equal(openFds(), before, 'no fd leaked');
});

test('read(): 0, -1, 1.5, NaN, a string', () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  expectError(() => r.read(0), RangeError, /"maxBytes"/);
  expectError(() => r.read(-1), RangeError, /"maxBytes"/);
  expectError(() => r.read(1.5), RangeError, /"maxBytes"/);
  expectError(() => r.read(Number.NaN), RangeError, /"maxBytes"/);
  expectError(() => r.read('10' as unknown as number), TypeError, /"maxBytes"/);
  b.close();
});

test('write(): an object, a number, a boolean', () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  expectError(() => r.write({} as unknown as string), TypeError, /"data"/);
  expectError(() => r.write(42 as unknown as string), TypeError, /"data"/);
  expectError(() => r.write(true as unknown as string), TypeError, /"data"/);
  assert.equal(r.writeBufSize, 0, 'nothing was queued');
  expectError(() => r.pushBackRead(7 as unknown as string), TypeError, /"buf"/);
  b.close();
});

test('addTimer(): NaN, Infinity, a string delay, a non-function callback', () => {
  expectError(() => DangaSocket.addTimer(Number.NaN, () => {}), RangeError, /"seconds"/);
  expectError(() => DangaSocket.addTimer(Number.POSITIVE_INFINITY, () => {}), RangeError, /"seconds"/);
  expectError(() => DangaSocket.addTimer('1' as unknown as number, () => {}), TypeError, /"seconds"/);
  expectError(() => DangaSocket.addTimer(1, 'x' as unknown as () => void), TypeError, /"fn"/);
});

test('setLoopTimeout(): a string, NaN, below -1', () => {
  expectError(() => DangaSocket.setLoopTimeout('abc' as unknown as number), TypeError, /"ms"/);
  expectError(() => DangaSocket.setLoopTimeout(Number.NaN), RangeError, /"ms"/);
  expectError(() => DangaSocket.setLoopTimeout(-5), RangeError, /"ms"/);
});

test('setPostLoopCallback() and setWriterFunc() with a non-function', () => {
  expectError(() => DangaSocket.setPostLoopCallback(5 as unknown as () => boolean), TypeError, /"fn"/);
  const [a, b] = socketPair();
  const r = new Recorder(a);
  expectError(() => r.setWriterFunc('x' as unknown as () => number), TypeError, /"fn"/);
  expectError(() => r.setPostLoopCallback({} as unknown as () => boolean), TypeError, /"fn"/);
  b.close();
});

test('addOtherFds(): an fd that is not open, a key that is not an fd, a callback that is not a function', () => {
  if (onEpoll()) expectError(() => DangaSocket.addOtherFds({ 99999: () => {} }), TypeError, /fd 99999/);
  else if (onSim()) assert.throws(() => DangaSocket.addOtherFds({ 99999: () => {} }), { code: 'ERR_DANGA_SIM_UNSUPPORTED' });
  else assert.throws(() => DangaSocket.addOtherFds({ 99999: () => {} }), { code: 'ERR_DANGA_NO_EPOLL' });
  expectError(() => DangaSocket.addOtherFds({ abc: () => {} } as unknown as Record<number, () => void>), TypeError, /not a file descriptor/);
  const [a, b] = socketPair();
  expectError(() => DangaSocket.addOtherFds({ [onEpoll() ? a.fd : 0]: 'no' } as unknown as Record<number, () => void>), TypeError, /map\[/);
  expectError(() => DangaSocket.addOtherFds(null as unknown as Record<number, () => void>), TypeError, /"map"/);
  assert.equal(DangaSocket.otherFds().size, 0, 'nothing was added');
  a.close();
  b.close();
});

test('socket helpers: bad options, ports, hosts and paths; OS errors carry code and syscall; no fd leaks', () => {
  warmUp();
  const before = openFds();
  expectError(() => listenTcp(undefined as unknown as { port: number }), TypeError, /"options"/);
  expectError(() => listenTcp({ port: 70000 }), RangeError, /"options.port"/);
  expectError(() => listenTcp({ port: -1 }), RangeError, /"options.port"/);
  expectError(() => listenTcp({ port: '80' as unknown as number }), TypeError, /"options.port"/);
  expectError(() => listenTcp({ host: 'example.invalid', port: 0 }), TypeError, /"options.host"/);
  expectError(() => listenTcp({ port: 0, backlog: -3 }), RangeError, /"options.backlog"/);
  expectError(() => listenTcp({ port: 0, reusePort: 'yes' as unknown as boolean }), TypeError, /"options.reusePort"/);
  expectError(() => connectTcp({ host: '127.0.0.1', port: 0 }), RangeError, /"options.port"/);
  expectError(() => connectTcp({ port: 80 } as unknown as { host: string; port: number }), TypeError, /"options.host"/);
  expectError(() => listenUnix(5 as unknown as string), TypeError, /"path"/);
  expectError(() => connectUnix(''), TypeError, /"path"/);

  const l = listenTcp({ host: '127.0.0.1', port: 0 });
  const port = (l.localAddress() as { port: number }).port;
  assert.throws(
    () => listenTcp({ host: '127.0.0.1', port }),
    (err: Error & { code?: string; syscall?: string }) => {
      assert.equal(err.code, 'EADDRINUSE');
      assert.equal(err.syscall, 'bind');
      assert.match(err.message, /EADDRINUSE/);
      return true;
    },
  );
  l.close();
  const dir = mkdtempSync(join(tmpdir(), 'danga-bad-'));
  try {
    assert.throws(
      () => connectUnix(join(dir, 'missing.sock')),
      (err: Error & { code?: string }) => err.code === 'ENOENT',
    );
    assert.throws(
      () => listenUnix(join(dir, 'x'.repeat(200))),
      (err: Error & { code?: string }) => err.code === 'ENAMETOOLONG',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(openFds(), before, 'no fd leaked on any error path');
});

test('accept() on a closed listening socket throws instead of crashing', () => {
  const l = listenTcp({ host: '127.0.0.1', port: 0 });
  l.close();
  assert.throws(() => l.accept(), TypeError);
});
