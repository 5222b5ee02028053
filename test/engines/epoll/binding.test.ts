/**
 * The native binding's contract (native/API.md), called directly: every
 * function returns a number (>= 0, or -errno) or its data, never throws for
 * an OS error; listen/connect failures name the failing step; arguments
 * that would make C touch memory it must not throw the one internal error
 * (ERR_DANGA_NATIVE), never crash; every fd it makes is close-on-exec; no
 * error path leaks an fd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import dgram from 'node:dgram';
import { constants as os, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DangaSocket } from 'danga-socket';
import { settleRuntimeFds } from '../../helpers.js';
import { initIo, ioSlots, loadBinding, type NativeBinding, type SetupFailure } from '../../../src/engines/epoll/binding.js';

const skip = DangaSocket.engine() !== 'epoll' ? 'the native binding is the epoll engine' : false;
const E = os.errno;
const O_CLOEXEC = 0o2000000;

// (Counted after Node's own fd use at startup is over: see settleRuntimeFds.)
settleRuntimeFds();
const openFds = (): number => readdirSync('/proc/self/fd').length;

function binding(): NativeBinding {
  const b = loadBinding();
  assert.ok(b !== null, 'the addon loads');
  return b;
}

function fd(r: number | SetupFailure): number {
  assert.equal(typeof r, 'number', `a fd, not ${JSON.stringify(r)}`);
  assert.ok((r as number) >= 0);
  return r as number;
}

function cloexec(n: number): boolean {
  const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${n}`, 'utf8'));
  assert.ok(flags !== null);
  return (parseInt(flags[1] as string, 8) & O_CLOEXEC) !== 0;
}

const internal = { code: 'ERR_DANGA_NATIVE' };

test('fd ops return byte counts, 0 or -errno', { skip }, () => {
  const b = binding();
  const before = openFds();
  const pair = b.socketpair();
  assert.ok(Array.isArray(pair));
  const [x, y] = pair;
  const buf = Buffer.alloc(64);
  assert.equal(b.read(x, buf, 0, 64), -E.EAGAIN);
  assert.equal(b.write(x, Buffer.from('hello'), 1, 3), 3);
  assert.equal(b.read(y, buf, 10, 54), 3);
  assert.equal(buf.toString('latin1', 10, 13), 'ell');
  const list = [Buffer.from('ab'), Buffer.from('cd'), new Uint8Array([101, 102])];
  assert.equal(b.writev(x, list, 0, 3, 1), 5);
  assert.equal(b.read(y, buf, 0, 64), 5);
  assert.equal(buf.toString('latin1', 0, 5), 'bcdef');
  assert.equal(b.writev(x, list, 1, 0, 0), 0, 'nothing to write');
  assert.equal(b.fdType(x), 1, 'a stream socket');
  assert.equal(b.adopt(x), 0);
  assert.equal(b.shutdown(x, 1), 0);
  assert.equal(b.read(y, buf, 0, 64), 0, 'end of stream after shutdown(SHUT_WR)');
  assert.equal(b.write(x, buf, 0, 1), -E.EPIPE);
  assert.equal(b.close(x), 0);
  assert.equal(b.close(y), 0);
  assert.equal(b.close(x), -E.EBADF);
  assert.equal(b.read(x, buf, 0, 1), -E.EBADF);
  assert.equal(b.fdType(x), -E.EBADF);
  assert.equal(b.adopt(x), -E.EBADF);
  assert.equal(b.shutdown(x, 2), -E.EBADF);
  assert.equal(openFds(), before);
});

test('dup() gives a close-on-exec fd for the same socket; -errno for a closed one', { skip }, () => {
  const b = binding();
  const before = openFds();
  const [x, y] = b.socketpair() as [number, number];
  const d = b.dup(x);
  assert.ok(d >= 0 && d !== x);
  assert.ok(cloexec(d));
  assert.equal(b.write(d, Buffer.from('via dup'), 0, 7), 7);
  const buf = Buffer.alloc(16);
  assert.equal(b.read(y, buf, 0, 16), 7);
  assert.equal(b.close(x), 0, 'closing the original…');
  assert.equal(b.write(d, Buffer.from('!'), 0, 1), 1, '…leaves the dup working');
  assert.equal(b.close(d), 0);
  assert.equal(b.read(y, buf, 0, 16), 1);
  assert.equal(b.read(y, buf, 0, 16), 0, 'the connection ends with its last fd');
  assert.equal(b.dup(d), -E.EBADF);
  b.close(y);
  assert.equal(openFds(), before);
});

test('socket ops: accept, options, socketError, addresses; failures as numbers or { errno, syscall }', { skip }, () => {
  const b = binding();
  const before = openFds();
  const l = fd(b.listenTcp('127.0.0.1', 0, 8, false));
  assert.ok(cloexec(l));
  const addr = b.getsockname(l);
  assert.equal(typeof addr, 'object');
  const port = (addr as { port: number }).port;
  assert.deepEqual(addr, { address: '127.0.0.1', port, family: 'IPv4' });
  assert.equal(b.getpeername(l), -E.ENOTCONN);
  assert.equal(b.accept(l), -E.EAGAIN);

  const c = fd(b.connectTcp('127.0.0.1', port));
  assert.ok(cloexec(c));
  let s: number;
  while ((s = b.accept(l)) === -E.EAGAIN); // the connection is queued on loopback at once
  assert.ok(s >= 0 && cloexec(s));
  assert.equal(b.socketError(c), 0);
  assert.equal(b.setNoDelay(s, true), 0);
  assert.equal(b.setCork(s, true), 0);
  assert.equal(b.setCork(s, false), 0);
  assert.deepEqual(b.getpeername(s), b.getsockname(c));

  const inUse = b.listenTcp('127.0.0.1', port, 8, false);
  assert.deepEqual(inUse, { errno: -E.EADDRINUSE, syscall: 'bind' });
  assert.deepEqual(b.listenTcp('not-an-ip', 0, 8, false), { errno: -E.EINVAL, syscall: 'bind' });
  assert.deepEqual(b.connectTcp('not-an-ip', 1), { errno: -E.EINVAL, syscall: 'connect' });
  assert.deepEqual(b.listenTcp('::1%no-such-interface', 0, 8, true), { errno: -E.EINVAL, syscall: 'bind' });

  const [u, v] = b.socketpair() as [number, number];
  assert.equal(b.setNoDelay(u, true), -E.EOPNOTSUPP);
  assert.equal(b.setCork(u, true), -E.EOPNOTSUPP);
  assert.deepEqual(b.getsockname(u), { path: '', family: 'unix' });
  for (const n of [u, v, s, c, l]) b.close(n);
  assert.equal(b.socketError(l), -E.EBADF);
  assert.equal(b.getsockname(l), -E.EBADF);
  assert.equal(b.accept(l), -E.EBADF);
  assert.equal(openFds(), before, 'no fd leaked, failures included');
});

test('Unix sockets: filesystem and abstract names; failures name the step', { skip }, () => {
  const b = binding();
  const before = openFds();
  const dir = mkdtempSync(join(tmpdir(), 'danga-binding-'));
  try {
    const path = join(dir, 's.sock');
    const l = fd(b.listenUnix(path, 8));
    assert.ok(cloexec(l));
    assert.deepEqual(b.getsockname(l), { path, family: 'unix' });
    assert.deepEqual(b.listenUnix(path, 8), { errno: -E.EADDRINUSE, syscall: 'bind' });
    const c = fd(b.connectUnix(path));
    assert.ok(cloexec(c));
    const s = b.accept(l);
    assert.ok(s >= 0 && cloexec(s));
    assert.deepEqual(b.getpeername(c), { path, family: 'unix' });

    const abstract = `\0danga-binding-${process.pid}`;
    const a = fd(b.listenUnix(abstract, 8));
    assert.deepEqual(b.getsockname(a), { path: abstract, family: 'unix' });
    const ac = fd(b.connectUnix(abstract));

    assert.deepEqual(b.connectUnix(join(dir, 'missing')), { errno: -E.ENOENT, syscall: 'connect' });
    assert.deepEqual(b.listenUnix(join(dir, 'no', 'such', 'dir'), 8), { errno: -E.ENOENT, syscall: 'bind' });
    assert.deepEqual(b.listenUnix('', 8), { errno: -E.ENOENT, syscall: 'bind' });
    assert.deepEqual(b.connectUnix('/' + 'x'.repeat(107)), { errno: -E.ENAMETOOLONG, syscall: 'connect' });
    assert.deepEqual(b.connectUnix('\0' + 'x'.repeat(108)), { errno: -E.ENAMETOOLONG, syscall: 'connect' });
    assert.deepEqual(b.connectUnix('/tmp/a\0b'), { errno: -E.EINVAL, syscall: 'connect' });
    for (const n of [ac, a, s, c, l]) b.close(n);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(openFds(), before);
});

test('arguments that would make C touch memory it must not: ERR_DANGA_NATIVE, no crash', { skip }, () => {
  const b = binding();
  const [x, y] = b.socketpair() as [number, number];
  const buf = Buffer.alloc(8);
  assert.throws(() => b.read(x, buf, 4, 5), internal);
  assert.throws(() => b.read(x, buf, 9, 0), internal);
  assert.throws(() => b.read(x, buf, -1, 2), internal);
  assert.throws(() => b.read(x, buf, 0, -1), internal);
  assert.throws(() => b.write(x, buf.subarray(2), 0, 7), internal, 'the view’s own bounds, not its ArrayBuffer’s');
  assert.throws(() => b.write(x, 'text' as unknown as Uint8Array, 0, 4), internal);
  assert.throws(() => b.read('3' as unknown as number, buf, 0, 1), internal);
  assert.throws(() => b.writev(x, [buf], 0, 2, 0), internal);
  assert.throws(() => b.writev(x, [buf], 2, 0, 0), internal);
  assert.throws(() => b.writev(x, [buf], 0, 1, 9), internal);
  assert.throws(() => b.writev(x, [buf, 'no'], 0, 2, 0), internal);
  assert.throws(() => b.writev(x, 'no' as unknown as unknown[], 0, 1, 0), internal);
  assert.throws(() => b.setNoDelay(x, 1 as unknown as boolean), internal);
  assert.throws(() => b.listenTcp(5 as unknown as string, 0, 1, false), internal);
  // A wider element type counts in bytes: 2 Uint32 elements are 8 bytes.
  assert.equal(b.read(x, new Uint32Array(2) as unknown as Uint8Array, 0, 8), -E.EAGAIN);
  assert.throws(() => b.read(x, new Uint32Array(2) as unknown as Uint8Array, 0, 9), internal);
  b.close(x);
  b.close(y);
});

test('readIo()/writeIo(): fd, offset and length in the shared slots, the result in slot 3; the same memory checks', { skip }, () => {
  const b = binding();
  const io = ioSlots;
  const [x, y] = b.socketpair() as [number, number];
  const ab = new ArrayBuffer(64);
  const buf = Buffer.from(ab);
  const rd = (on: ArrayBufferLike): void => b.readIo(on);
  const wr = (on: Uint8Array): void => b.writeIo(on);
  const call = <B>(f: (buf: B) => void, fd: number, on: B, offset: number, length: number): number => {
    io[0] = fd;
    io[1] = offset;
    io[2] = length;
    io[3] = 12345;
    f(on);
    return io[3];
  };
  assert.equal(call(rd, x, ab, 0, 64), -E.EAGAIN);
  assert.equal(call(wr, x, Buffer.from('hello'), 1, 3), 3);
  assert.equal(call(rd, y, ab, 10, 54), 3);
  assert.equal(buf.toString('latin1', 10, 13), 'ell');
  // The memory checks of read()/write(): the buffer's own bounds, whatever is in the slots.
  assert.throws(() => call(rd, x, ab, 60, 5), internal);
  assert.throws(() => call(rd, x, ab, 65, 0), internal);
  assert.throws(() => call(rd, x, ab, -1, 2), internal);
  assert.throws(() => call(rd, x, ab, 0, -1), internal);
  assert.throws(() => call(rd, x, ab, Number.NaN, 1), internal);
  assert.throws(() => call(rd, x, ab, 0, Number.NaN), internal);
  assert.throws(() => call(rd, Number.NaN, ab, 0, 1), internal);
  assert.throws(() => call(rd, 2 ** 40, ab, 0, 1), internal);
  assert.throws(() => call(rd, x, buf as unknown as ArrayBuffer, 0, 1), internal, 'readIo takes the ArrayBuffer, not a view');
  assert.throws(() => call(wr, x, buf.subarray(2), 0, 63), internal, 'the view’s own bounds, not its ArrayBuffer’s');
  assert.throws(() => call(wr, x, 'text' as unknown as Uint8Array, 0, 4), internal);
  // A detached ArrayBuffer has length 0: nothing to read into.
  const gone = new ArrayBuffer(16);
  structuredClone(gone, { transfer: [gone] });
  assert.throws(() => call(rd, x, gone, 0, 1), internal);
  assert.equal(call(rd, x, gone, 0, 0), 0, 'an empty range of it is no memory touched');
  const goneView = new Uint8Array(new ArrayBuffer(16));
  structuredClone(goneView.buffer, { transfer: [goneView.buffer] });
  assert.throws(() => call(wr, x, goneView, 0, 1), internal);
  assert.throws(() => b.ioInit(new Float64Array(3)), internal);
  assert.throws(() => b.ioInit(new Int32Array(4) as unknown as Float64Array), internal);
  b.close(x);
  b.close(y);
  assert.equal(call(rd, x, ab, 0, 1), -E.EBADF);
});

test('an addon without readIo/writeIo (a stale prebuild) gets both in JavaScript over read()/write()', { skip }, () => {
  const b = binding();
  const fresh = new Set(['ioInit', 'readIo', 'writeIo']);
  const stale = Object.fromEntries(Object.entries(b as unknown as Record<string, unknown>).filter(([k]) => !fresh.has(k)));
  const old = stale as unknown as NativeBinding;
  assert.equal(typeof old.readIo, 'undefined');
  initIo(old);
  const io = ioSlots;
  const [x, y] = old.socketpair() as [number, number];
  const ab = new ArrayBuffer(16);
  io[0] = x;
  io[1] = 0;
  io[2] = 3;
  old.writeIo(Buffer.from('abc'));
  assert.equal(io[3], 3);
  io[0] = y;
  io[1] = 4;
  io[2] = 12;
  old.readIo(ab);
  assert.equal(io[3], 3);
  assert.equal(Buffer.from(ab, 4, 3).toString(), 'abc');
  old.readIo(ab);
  assert.equal(io[3], -E.EAGAIN);
  old.close(x);
  old.close(y);
});

test('fdType(): 1 for a stream socket, 3 for a datagram socket (a short read of it is no sign of drained), 2 for a file', { skip }, async () => {
  const b = binding();
  // The UDP socket's fd is the socket that appears in /proc/self/fd when it binds (Node 26's UDP
  // handle no longer shows its fd).
  const sockets = (): Set<string> =>
    new Set(
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
        } catch {
          return false;
        }
      }),
    );
  const before = sockets();
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  try {
    const added = [...sockets()].filter((fd) => !before.has(fd)).map(Number);
    assert.equal(added.length, 1, `one new socket fd: ${added.join(', ')}`);
    assert.equal(b.fdType(added[0] as number), 3);
  } finally {
    udp.close();
  }
  const file = openSync('/proc/self/stat', 'r');
  try {
    assert.equal(b.fdType(file), 2);
  } finally {
    closeSync(file);
  }
});
