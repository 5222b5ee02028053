/**
 * writeFile(): file ranges in the write queue (src/core/file-range.ts and
 * its place in DangaSocket's queue). On the epoll engine the bytes go with
 * sendfile(2); on the node engine (and through a writer function) they are
 * read in pieces. Both must look the same from outside: byte-exact, in
 * order with the Buffers and callbacks around them, files closed when
 * handed over, errors coded. Real TCP sockets on loopback.
 */
import { test, afterEach, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs, { closeSync, fstatSync, ftruncateSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { open as openHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, DangaSocket, Listener, connectTls, listenTls, type Sock } from 'danga-socket';
import { haveOpenssl, onSim, runUntil, selfSignedCert, skipOnSim, tcpPair, testRandomBytes } from '../helpers.js';

afterEach(() => DangaSocket.reset());

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Inodes of this test's files (see fdOpen). */
const testInodes = new Set<number>();
let dir = '';
let path = '';
let content = Buffer.alloc(0);
const FILE_SIZE = 3 * 1024 * 1024 + 777;
/**
 * More than loopback TCP can hold in flight here (send buffer up to
 * tcp_wmem's 4 MiB, receive buffer up to tcp_rmem's 32 MiB, and the node
 * engine's stream buffers): a range of it stays queued while the peer does
 * not read.
 */
const BIG_SIZE = 48 * 1024 * 1024;
let bigPath = '';
let big = Buffer.alloc(0);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'danga-file-range-'));
  path = join(dir, 'data.bin');
  content = testRandomBytes(FILE_SIZE);
  writeFileSync(path, content);
  testInodes.add(statSync(path).ino);
  testInodes.add(statSync(dir).ino);
  bigPath = join(dir, 'big.bin');
  big = testRandomBytes(BIG_SIZE);
  writeFileSync(bigPath, big);
  testInodes.add(statSync(bigPath).ino);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Reads everything until end of stream, optionally only once told to start. */
class Sink extends Connection {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  eof = false;
  constructor(sock: Sock, reading = true) {
    super(sock);
    if (!reading) this.watchRead(false);
  }
  override eventRead(): void {
    for (;;) {
      const buf = this.read(256 * 1024);
      if (buf === null) {
        this.eof = true;
        this.close('eof');
        return;
      }
      if (buf.length === 0) return;
      this.chunks.push(Buffer.from(buf));
      this.bytes += buf.length;
    }
  }
  data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Sends what the test tells it to; records eventErr. */
class Sender extends Connection {
  readonly errors: Error[] = [];
  override eventRead(): void {
    const buf = this.read(4096);
    if (buf === null) this.close('eof');
  }
  override eventErr(err?: Error): void {
    if (err !== undefined) this.errors.push(err);
    this.close('error');
  }
}

/**
 * True while `fd` is still open on one of this test's files. (Listing
 * /proc/self/fd would open a directory fd, which takes the lowest free
 * number: the one just closed.) A number reused by something else since
 * shows another inode.
 */
function fdOpen(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return testInodes.has(st.ino);
  } catch (err) {
    if ((err as { code?: string }).code === 'EBADF') return false;
    throw err;
  }
}

test('header, a file range, a trailer and a callback go out in queue order, byte-exact', async () => {
  const [client, server] = await tcpPair();
  const sink = new Sink(client);
  const sender = new Sender(server);
  const fd = openSync(path, 'r');
  const order: string[] = [];
  sender.write('HEAD\n');
  const sentAtOnce = sender.writeFile(fd, 10, FILE_SIZE - 20);
  // Until the range is out, writeBufSize counts its pending bytes.
  if (!sentAtOnce) assert.ok(sender.writeBufSize > 0);
  sender.write('TAIL\n');
  sender.write(() => {
    order.push(`callback, writeBufSize ${sender.writeBufSize}`);
    sender.close('done');
  });
  await runUntil(() => sink.eof);
  closeSync(fd);
  const expected = Buffer.concat([Buffer.from('HEAD\n'), content.subarray(10, FILE_SIZE - 10), Buffer.from('TAIL\n')]);
  assert.equal(sink.bytes, expected.length);
  assert.equal(sha(sink.data()), sha(expected));
  assert.deepEqual(order, ['callback, writeBufSize 0']);
  assert.equal(sender.errors.length, 0);
});

test('a file range queued behind bytes waits its turn; several ranges and pieces interleave in order', async () => {
  const [client, server] = await tcpPair();
  const sink = new Sink(client);
  const sender = new Sender(server);
  const fd = openSync(path, 'r');
  const expected: Buffer[] = [];
  const head = testRandomBytes(2 * 1024 * 1024);
  sender.write(head);
  expected.push(head);
  for (let i = 0; i < 20; i++) {
    const off = i * 1000;
    const len = 100 + i * 5000;
    sender.writeFile(fd, off, len);
    expected.push(content.subarray(off, off + len));
    const piece = Buffer.from(`|${i}|`);
    sender.write(piece);
    expected.push(piece);
  }
  sender.write(() => sender.close('done'));
  await runUntil(() => sink.eof);
  closeSync(fd);
  const all = Buffer.concat(expected);
  assert.equal(sink.bytes, all.length);
  assert.equal(sha(sink.data()), sha(all));
});

test('a slow reader: write() is false, write interest turns on by itself, writeBufSize falls to 0 as the range goes', async () => {
  const [client, server] = await tcpPair();
  const sink = new Sink(client, false);
  const sender = new Sender(server);
  const fd = openSync(bigPath, 'r');
  assert.equal(sender.writeFile(fd), false, 'a 48 MiB file does not fit an unread socket');
  const pending = sender.writeBufSize;
  assert.ok(pending > 0 && pending <= BIG_SIZE, `pending ${pending}`);
  const sizes: number[] = [];
  let done = false;
  sender.write(() => {
    done = true;
  });
  // Start reading; each iteration the pending count may only fall.
  sink.watchRead(true);
  DangaSocket.addTimer(0, function tick() {
    sizes.push(sender.writeBufSize);
    if (!done) DangaSocket.addTimer(0.001, tick);
  });
  await runUntil(() => done && sink.bytes === BIG_SIZE);
  closeSync(fd);
  for (let i = 1; i < sizes.length; i++) assert.ok((sizes[i] as number) <= (sizes[i - 1] as number), `writeBufSize rose: ${sizes.join(',')}`);
  assert.equal(sender.writeBufSize, 0);
  assert.equal(sha(sink.data()), sha(big));
});

test('{ close: true } closes the fd once sent; without it the caller keeps the fd open', async () => {
  const [client, server] = await tcpPair();
  const sink = new Sink(client);
  const sender = new Sender(server);
  const owned = openSync(path, 'r');
  const kept = openSync(path, 'r');
  sender.writeFile(owned, 0, 1000, { close: true });
  sender.writeFile(kept, 1000, 1000);
  let closedWhenCallbackRan: boolean | null = null;
  sender.write(() => {
    closedWhenCallbackRan = !fdOpen(owned);
    sender.close('done');
  });
  await runUntil(() => sink.eof);
  assert.equal(closedWhenCallbackRan, true);
  assert.equal(fdOpen(kept), true);
  assert.equal(sha(sink.data()), sha(content.subarray(0, 2000)));
  closeSync(kept);
});

test('{ size } the caller measured already: writeFile makes no fstat(2) of its own, and the range runs to that size', async () => {
  const [client, server] = await tcpPair();
  const sink = new Sink(client);
  const sender = new Sender(server);
  const fd = openSync(path, 'r');
  let fstats = 0;
  const realFstat = fs.fstatSync;
  // (The core imports fstatSync by name: syncBuiltinESMExports carries the counting one over.)
  fs.fstatSync = ((...args: Parameters<typeof realFstat>) => {
    fstats++;
    return realFstat(...args);
  }) as typeof realFstat;
  syncBuiltinESMExports();
  try {
    sender.writeFile(fd, 0, undefined, { size: 5000 });
    sender.writeFile(fd, 6000, 1000, { size: FILE_SIZE, close: true });
  } finally {
    fs.fstatSync = realFstat;
    syncBuiltinESMExports();
  }
  assert.equal(fstats, 0, 'no fstat(2) with a size given');
  sender.write(() => sender.close('done'));
  await runUntil(() => sink.eof);
  assert.equal(sha(sink.data()), sha(Buffer.concat([content.subarray(0, 5000), content.subarray(6000, 7000)])));
  assert.equal(fdOpen(fd), false, 'closed once sent');
  // The size is checked as offset and length are: an integer >= 0, the range inside it.
  const kept = openSync(path, 'r');
  const cases: Array<[() => unknown, string, RegExp]> = [
    [() => sender.writeFile(kept, 0, 10, { size: -1 }), 'ERR_OUT_OF_RANGE', /"options.size"/],
    [() => sender.writeFile(kept, 0, 10, { size: 1.5 }), 'ERR_OUT_OF_RANGE', /"options.size"/],
    [() => sender.writeFile(kept, 0, 10, { size: '10' as unknown as number }), 'ERR_INVALID_ARG_TYPE', /"options.size"/],
    [() => sender.writeFile(kept, 11, undefined, { size: 10 }), 'ERR_OUT_OF_RANGE', /"offset"/],
    [() => sender.writeFile(kept, 5, 6, { size: 10 }), 'ERR_OUT_OF_RANGE', /"length"/],
  ];
  for (const [fn, code, message] of cases) {
    assert.throws(fn, (err: Error & { code?: string }) => err.code === code && message.test(err.message), fn.toString());
  }
  closeSync(kept);
});

test('a FileHandle works; with { close: true } the handle is closed once sent', async () => {
  const [client, server] = await tcpPair();
  const sink = new Sink(client);
  const sender = new Sender(server);
  const handle = await openHandle(path, 'r');
  const fd = handle.fd;
  sender.writeFile(handle, 5, 50_000, { close: true });
  sender.write(() => sender.close('done'));
  await runUntil(() => sink.eof);
  // FileHandle.close() runs on Node's thread pool, outside the simulation: in the sim pass wait for it
  // outside the loop, so that the trace does not depend on how long it takes.
  if (onSim()) while (fdOpen(fd)) await new Promise<void>((resolve) => setImmediate(resolve));
  else await runUntil(() => !fdOpen(fd));
  assert.equal(handle.fd, -1);
  assert.equal(sha(sink.data()), sha(content.subarray(5, 50_005)));
});

test("closing the object with ranges still queued closes the files handed over (no fd leak), and leaves the caller's", async () => {
  const [client, server] = await tcpPair();
  const sink = new Sink(client, false); // never reads: the ranges stay queued
  const sender = new Sender(server);
  const fds = [openSync(bigPath, 'r'), openSync(path, 'r'), openSync(path, 'r')];
  const kept = openSync(path, 'r');
  for (const fd of fds) sender.writeFile(fd, 0, undefined, { close: true });
  sender.writeFile(kept);
  assert.ok(sender.writeBufSize > 2 * FILE_SIZE);
  for (const fd of fds) assert.equal(fdOpen(fd), true);
  sender.close('gone');
  for (const fd of fds) assert.equal(fdOpen(fd), false, `fd ${fd} leaked`);
  assert.equal(fdOpen(kept), true);
  assert.equal(sender.writeBufSize, 0);
  closeSync(kept);
  sink.close('done');
});

test('writeFile on a closed object, or of an empty range, queues nothing and still closes a handed-over fd', async () => {
  const [client, server] = await tcpPair();
  const sender = new Sender(server);
  const a = openSync(path, 'r');
  assert.equal(sender.writeFile(a, FILE_SIZE, undefined, { close: true }), true);
  assert.equal(fdOpen(a), false);
  const b = openSync(path, 'r');
  assert.equal(sender.writeFile(b, 0, 0), true);
  assert.equal(fdOpen(b), true);
  closeSync(b);
  sender.close('done');
  const c = openSync(path, 'r');
  assert.equal(sender.writeFile(c, 0, 10, { close: true }), true);
  assert.equal(fdOpen(c), false);
  client.close();
});

test('bad arguments throw coded errors at the call and take nothing over', async () => {
  const [client, server] = await tcpPair();
  const sender = new Sender(server);
  const fd = openSync(path, 'r');
  const dirFd = openSync(dir, 'r');
  const cases: Array<[() => unknown, string, string, RegExp]> = [
    [() => sender.writeFile('data.bin' as unknown as number), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"file"/],
    [() => sender.writeFile(-1), 'RangeError', 'ERR_OUT_OF_RANGE', /"file"/],
    [() => sender.writeFile(fd, -1), 'RangeError', 'ERR_OUT_OF_RANGE', /"offset"/],
    [() => sender.writeFile(fd, 1.5), 'RangeError', 'ERR_OUT_OF_RANGE', /"offset"/],
    [() => sender.writeFile(fd, FILE_SIZE + 1), 'RangeError', 'ERR_OUT_OF_RANGE', /"offset"/],
    [() => sender.writeFile(fd, 0, FILE_SIZE + 1), 'RangeError', 'ERR_OUT_OF_RANGE', /"length"/],
    [() => sender.writeFile(fd, 10, FILE_SIZE - 9), 'RangeError', 'ERR_OUT_OF_RANGE', /"length"/],
    [() => sender.writeFile(fd, 0, '10' as unknown as number), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"length"/],
    [() => sender.writeFile(fd, 0, 10, 'close' as unknown as { close: boolean }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options"/],
    [() => sender.writeFile(fd, 0, 10, { close: 1 as unknown as boolean }), 'TypeError', 'ERR_INVALID_ARG_TYPE', /"options.close"/],
    [() => sender.writeFile(dirFd, 0, undefined, { close: true }), 'TypeError', 'ERR_INVALID_ARG_VALUE', /regular file/],
  ];
  for (const [fn, name, code, message] of cases) {
    assert.throws(fn, (err: Error & { code?: string }) => err.name === name && err.code === code && message.test(err.message), fn.toString());
  }
  // An fd that is not open: the OS error of fstat(2).
  const closedFd = openSync(path, 'r');
  closeSync(closedFd);
  assert.throws(
    () => sender.writeFile(closedFd),
    (err: Error & { code?: string; syscall?: string; errno?: number }) => err.code === 'EBADF' && err.syscall === 'fstat' && typeof err.errno === 'number',
  );
  // Nothing was taken over or queued.
  assert.equal(fdOpen(dirFd), true);
  assert.equal(sender.writeBufSize, 0);
  closeSync(fd);
  closeSync(dirFd);
  sender.close('done');
  client.close();
});

/**
 * Queues (with `{ close: true }`) a 64 MiB file, far more than the socket
 * buffers hold while the peer does not read, then truncates it to
 * `shrinkTo` bytes: the rest of its range can never be sent. Returns its fd.
 */
function queueShrinkingFile(sender: DangaSocket, name: string, shrinkTo: number): number {
  const file = join(dir, name);
  writeFileSync(file, Buffer.alloc(0));
  testInodes.add(statSync(file).ino);
  const fd = openSync(file, 'r+');
  ftruncateSync(fd, 64 * 1024 * 1024);
  assert.equal(sender.writeFile(fd, 0, undefined, { close: true }), false);
  ftruncateSync(fd, shrinkTo);
  return fd;
}

test('a file truncated after writeFile(): eventErr(err) with ERR_DANGA_FILE_SHORT, the object closes, nothing hangs', async () => {
  const [client, server] = await tcpPair();
  const sink = new Sink(client, false);
  const sender = new Sender(server);
  const fd = queueShrinkingFile(sender, 'shrinks.bin', 1024 * 1024);
  sink.watchRead(true);
  await runUntil(() => sender.closed && sink.eof);
  assert.equal(sender.errors.length, 1);
  const err = sender.errors[0] as Error & { code?: string };
  assert.equal(err.code, 'ERR_DANGA_FILE_SHORT');
  assert.match(err.message, /truncated/);
  assert.equal(sender.closeReason(), 'error'); // Connection's eventErr closes with 'error'
  assert.equal(fdOpen(fd), false, 'the handed-over fd is closed');
  // What was in the socket buffers before the truncation still arrives; the rest never does.
  assert.ok(sink.bytes < 64 * 1024 * 1024, `got ${sink.bytes}`);
});

test('without an eventErr override, the base class throw goes to the error handler and only that object closes (reason exception)', async () => {
  class Plain extends DangaSocket {
    constructor(sock: Sock) {
      super(sock);
    }
  }
  const failures: unknown[] = [];
  DangaSocket.setErrorHandler((err) => failures.push(err));
  const [client, server] = await tcpPair();
  const sink = new Sink(client, false);
  const sender = new Plain(server);
  const fd = queueShrinkingFile(sender, 'shrinks2.bin', 0);
  sink.watchRead(true);
  await runUntil(() => sender.closed && sink.eof);
  assert.equal(failures.length, 1);
  assert.match(String(failures[0]), /Base class eventErr/);
  assert.equal(sender.closeReason(), 'exception');
  assert.equal(fdOpen(fd), false);
});

test('through a writer function (the fallback path on every engine) the bytes are the same', async () => {
  const [client, server] = await tcpPair();
  const sink = new Sink(client);
  const sender = new Sender(server);
  let calls = 0;
  // The writer keeps what it is given instead of sending it.
  const pieces: Buffer[] = [];
  sender.setWriterFunc((buf, len, offset) => {
    calls++;
    pieces.push(Buffer.from(buf.subarray(offset, offset + len)));
    return len;
  });
  const fd = openSync(path, 'r');
  assert.equal(sender.writeFile(fd, 100, 300_000), true, 'the writer takes everything');
  closeSync(fd);
  assert.ok(calls >= 2, `read in pieces (${calls} writes)`);
  assert.equal(sha(Buffer.concat(pieces)), sha(content.subarray(100, 300_100)));
  assert.equal(sink.bytes, 0, 'nothing went to the socket');
  sender.close('done');
  client.close();
});

test('through a writer function that takes a little at a time (and sometimes nothing), the loop resumes the range byte-exact, in order', async () => {
  const [client, server] = await tcpPair();
  const sink = new Sink(client);
  const sender = new Sender(server);
  let calls = 0;
  let taken = 0;
  const pieces: Buffer[] = [];
  // Takes at most 5,000 bytes a call and nothing every third call: the range
  // is left half-sent inside a read chunk, and eventWrite resumes it.
  sender.setWriterFunc((buf, len, offset) => {
    if (++calls % 3 === 0) return 0;
    const n = Math.min(len, 5000);
    pieces.push(Buffer.from(buf.subarray(offset, offset + n)));
    taken += n;
    return n;
  });
  const fd = openSync(path, 'r');
  sender.write('HEAD');
  assert.equal(sender.writeFile(fd, 7, 200_000, { close: true }), false, 'queued: the writer takes only part');
  sender.write('TAIL');
  const expected = Buffer.concat([Buffer.from('HEAD'), content.subarray(7, 200_007), Buffer.from('TAIL')]);
  assert.equal(sender.writeBufSize, expected.length - Buffer.concat(pieces).length);
  let done = false;
  sender.write(() => (done = true));
  // Bounded: a range that never advances would otherwise hand the writer the same bytes for ever.
  await runUntil(() => done || sender.closed || taken > expected.length);
  assert.ok(taken <= expected.length, `the writer was given ${taken} bytes of ${expected.length}`);
  assert.equal(sender.closed, false, `closed: ${sender.closeReason()}`);
  assert.equal(sender.writeBufSize, 0);
  assert.equal(sha(Buffer.concat(pieces)), sha(expected));
  assert.equal(sink.bytes, 0, 'nothing went to the socket');
  assert.equal(fdOpen(fd), false, 'the file handed over was closed once sent');
  assert.deepEqual(sender.errors, []);
  sender.close('done');
  client.close();
});

test('inside batch() a file range is queued in order and goes out when the batch ends', async () => {
  const [client, server] = await tcpPair();
  const sink = new Sink(client);
  const sender = new Sender(server);
  const fd = openSync(path, 'r');
  sender.batch(() => {
    assert.equal(sender.write('a'), false);
    assert.equal(sender.writeFile(fd, 0, 4096), false);
    assert.equal(sender.write('b'), false);
  });
  sender.write(() => sender.close('done'));
  await runUntil(() => sink.eof);
  closeSync(fd);
  assert.equal(sha(sink.data()), sha(Buffer.concat([Buffer.from('a'), content.subarray(0, 4096), Buffer.from('b')])));
});

test('tcpCork around header and file: the idiom works and ends uncorked', async () => {
  const [client, server] = await tcpPair();
  const sink = new Sink(client);
  const sender = new Sender(server);
  const fd = openSync(path, 'r');
  sender.tcpCork(true);
  sender.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
  sender.writeFile(fd, 0, 1000, { close: true });
  sender.write(() => sender.tcpCork(false));
  sender.write(() => sender.close('done'));
  await runUntil(() => sink.eof);
  assert.equal(sha(sink.data()), sha(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'), content.subarray(0, 1000)])));
  assert.equal(fdOpen(fd), false);
});

test(
  'over TLS (the kernel cannot encrypt: no sendfile) a range is read in pieces, encrypted and arrives byte-exact, in order',
  { skip: skipOnSim('tls') || (haveOpenssl ? false : 'openssl is needed to make the test certificate (.ci/run installs it)') },
  async () => {
    const { key, cert } = selfSignedCert();
    let sender: Sender | null = null;
    const listener = new Listener(listenTls({ host: '127.0.0.1', port: 0, key, cert }), (s) => (sender = new Sender(s)));
    const address = listener.requireSock().localAddress();
    if (address === null || !('port' in address)) throw new Error('no port');
    const sink = new Sink(connectTls({ host: '127.0.0.1', port: address.port, ca: cert }));
    await runUntil(() => sender !== null);
    const s = sender as unknown as Sender;
    const fd = openSync(bigPath, 'r');
    s.write('HEAD');
    assert.equal(s.writeFile(fd, 1, 20 * 1024 * 1024, { close: true }), false, '20 MiB over TLS is queued');
    s.write('TAIL');
    s.write(() => s.close('done'));
    await runUntil(() => sink.eof);
    listener.close('done');
    const expected = Buffer.concat([Buffer.from('HEAD'), big.subarray(1, 1 + 20 * 1024 * 1024), Buffer.from('TAIL')]);
    assert.equal(sink.bytes, expected.length);
    assert.equal(sha(sink.data()), sha(expected));
    assert.equal(fdOpen(fd), false);
    assert.deepEqual(s.errors, []);
  },
);
