/**
 * The object side: constructor, read, write and its queue, pushBackRead,
 * watchRead/watchWrite, close, stealSocket, tcpCork, setWriterFunc, the
 * default handlers, addresses, asString, dumpError, constants; then the
 * class under misuse and in the corners of its semantics: a plain
 * JavaScript subclass that reuses every former internal name, chained write
 * callbacks, a partial line kept with pushBackRead(), pushed-back data with
 * read interest off, a queued view whose ArrayBuffer is detached, and bad
 * arguments. On both engines.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { DangaSocket, socketPair, listenTcp, connectTcp, listenUnix, connectUnix, POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL, type Sock } from 'danga-socket';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { runUntil, Recorder, Collector, Echo, Listener, captureStderr, tcpPair, iterationsOver } from '../helpers.js';

afterEach(() => DangaSocket.reset());

test('POLL constants have the values of Danga::Socket', () => {
  assert.deepEqual([POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL], [1, 4, 8, 16, 32]);
});

test('closed and fd are read-only properties', () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  assert.equal(r.fd, a.fd);
  assert.equal(r.closed, false);
  assert.throws(() => {
    (r as unknown as { fd: number }).fd = 3;
  }, TypeError);
  assert.throws(() => {
    (r as unknown as { closed: boolean }).closed = true;
  }, TypeError);
  r.close();
  assert.equal(r.closed, true);
  assert.equal(r.fd, -1);
  b.close();
});

test('sock() returns the socket, null once closed', () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  assert.equal(r.sock(), a);
  r.close();
  assert.equal(r.sock(), null);
  b.close();
});

test('read(n): at most n bytes, an empty Buffer when nothing is there, null at end of stream', async () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  const w = new Recorder(b);
  const got: Array<Buffer | null> = [];
  r.onRead = (self) => {
    got.push(self.read(3));
    got.push(self.read(100));
    got.push(self.read(100));
    self.watchRead(false);
  };
  assert.deepEqual(r.read(10), Buffer.alloc(0), 'nothing yet: empty Buffer');
  w.write('abcdefg');
  r.watchRead(true);
  await runUntil(() => got.length === 3);
  assert.equal(got[0]?.toString(), 'abc');
  assert.equal(got[1]?.toString(), 'defg');
  assert.equal(got[2]?.length, 0);
  w.close();
  await runUntil(() => w.sock() === null && DangaSocket.toClose().length === 0);
  assert.equal(r.read(10), null, 'end of stream');
  r.close();
  assert.equal(r.read(10), null, 'closed');
});

test('level-triggered: unread data fires eventRead again on the next iteration', async () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  let text = '';
  r.onRead = (self) => {
    text += (self.read(2) as Buffer).toString();
  };
  r.watchRead(true);
  new Recorder(b).write('0123456789');
  await runUntil(() => text.length === 10);
  assert.equal(text, '0123456789');
  assert.equal(r.log.filter((e) => e === 'read').length, 5, 'one event per iteration, 2 bytes each');
});

test('watchRead(false) stops readable events', async () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  r.onRead = (self) => self.watchRead(false);
  r.watchRead(true);
  new Recorder(b).write('xyz');
  let iterations = 0;
  await runUntil(() => ++iterations > 5, 1);
  assert.equal(r.log.filter((e) => e === 'read').length, 1);
  assert.equal(r.read(10)?.toString(), 'xyz');
});

test('dispatch order: read, then write, then err/hup; skipped once the object closes', async () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  r.onRead = (self) => {
    self.read(10);
  };
  r.onWrite = (self) => {
    self.watchWrite(false);
    self.watchRead(false);
  };
  r.watchRead(true);
  r.watchWrite(true);
  new Recorder(b).write('x');
  await runUntil(() => r.log.length >= 2);
  assert.deepEqual(r.log.slice(0, 2), ['read', 'write']);

  const [c, d] = socketPair();
  const r2 = new Recorder(c);
  r2.onRead = (self) => self.close('in read');
  r2.watchRead(true);
  r2.watchWrite(true);
  new Recorder(d).write('y');
  await runUntil(() => r2.closed && DangaSocket.toClose().length === 0);
  assert.deepEqual(r2.log, ['read'], 'write not dispatched to a closed object');
});

test('eventHup: the peer closing both directions', async () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  b.close();
  await runUntil(() => r.closed);
  assert.ok(r.log.includes('hup'));
});

test('write(): true when all went out; strings, Buffers and Uint8Arrays', async () => {
  const [a, b] = socketPair();
  const w = new Recorder(a);
  const c = new Collector(b);
  assert.equal(w.write('héllo '), true);
  assert.equal(w.write(Buffer.from('buffer ')), true);
  assert.equal(w.write(new Uint8Array([0x75, 0x38])), true);
  assert.equal(w.write(new Uint8Array(new Uint8Array([0, 0x21, 0]).buffer, 1, 1)), true);
  assert.equal(w.write(undefined), true);
  await runUntil(() => c.bytes === 17);
  assert.equal(c.text(), 'héllo buffer u8!');
});

test('write() with a function runs it at once when nothing is queued', () => {
  const [a, b] = socketPair();
  const w = new Recorder(a);
  let ran = false;
  assert.equal(
    w.write(() => {
      ran = true;
    }),
    true,
  );
  assert.ok(ran);
  b.close();
});

test('write() queues when the socket is full, turns write interest on, and off once drained', async () => {
  const [a, b] = socketPair();
  const w = new Recorder(a);
  const c = new Collector(b);
  c.watchRead(false);
  const big = Buffer.alloc(4 * 1024 * 1024, 7);
  assert.equal(w.write(big), false, 'a socketpair cannot take 4 MiB at once');
  assert.ok(w.writeBufSize > 0);
  assert.match(w.asString(), /\(W\)/, 'write interest turned on by write()');
  const order: string[] = [];
  assert.equal(
    w.write(() => order.push('after big')),
    false,
  );
  assert.equal(w.write('tail'), false);
  assert.equal(
    w.write(() => order.push('after tail')),
    false,
  );
  c.watchRead(true);
  await runUntil(() => c.bytes === big.length + 4 && order.length === 2);
  assert.deepEqual(order, ['after big', 'after tail']);
  assert.equal(w.writeBufSize, 0);
  assert.match(w.asString(), /\(\)/, 'write interest off again');
});

test('watchWrite(true) by the subclass keeps write interest on after the queue drains', async () => {
  const [a, b] = socketPair();
  const w = new Recorder(a);
  const c = new Collector(b);
  c.watchRead(false);
  let writes = 0;
  w.onWrite = (self) => {
    writes++;
    self.write(undefined);
  };
  assert.equal(w.write(Buffer.alloc(2 * 1024 * 1024)), false);
  w.watchWrite(true);
  c.watchRead(true);
  await runUntil(() => c.bytes === 2 * 1024 * 1024 && writes > 0 && w.writeBufSize === 0);
  assert.match(w.asString(), /\(W\)/, 'still watching: the subclass asked for it');
  w.watchWrite(false);
});

test('onIncompleteWrite() is called on a partial write and can be overridden', async () => {
  const [a, b] = socketPair();
  let incomplete = 0;
  class Partial extends Recorder {
    override onIncompleteWrite(): void {
      incomplete++;
      super.onIncompleteWrite();
    }
  }
  const w = new Partial(a);
  w.setWriterFunc((data, length, offset) => {
    // A writer that takes at most 3 bytes a call.
    const n = Math.min(3, length);
    chunks.push(Buffer.from(data.subarray(offset, offset + n)));
    return n;
  });
  const chunks: Buffer[] = [];
  assert.equal(w.write('0123456789'), false);
  assert.equal(incomplete, 1);
  await runUntil(() => w.writeBufSize === 0);
  assert.equal(Buffer.concat(chunks).toString(), '0123456789');
  assert.equal(incomplete, 3, '3 + 3 + 3 bytes went out in part, the last 1 byte whole');
  b.close();
});

test('setWriterFunc(fn) replaces the syscall; EAGAIN from it queues; null restores it', async () => {
  const [a, b] = socketPair();
  const w = new Recorder(a);
  const c = new Collector(b);
  let blocked = true;
  const seen: string[] = [];
  w.setWriterFunc((data, length, offset) => {
    if (blocked) {
      const err = new Error('would block') as Error & { code: string };
      err.code = 'EAGAIN';
      throw err;
    }
    seen.push(data.toString('utf8', offset, offset + length));
    return length;
  });
  assert.equal(w.write('one'), false);
  assert.equal(w.writeBufSize, 3);
  blocked = false;
  await runUntil(() => w.writeBufSize === 0);
  assert.deepEqual(seen, ['one']);
  w.setWriterFunc(null);
  assert.equal(w.write('real'), true);
  await runUntil(() => c.bytes === 4);
  assert.equal(c.text(), 'real');
});

test('EPIPE from write() closes the object', () => {
  const [a, b] = socketPair();
  const w = new Recorder(a);
  b.close();
  assert.equal(w.write('into the void'), false);
  assert.ok(w.closed);
  assert.equal(w.write('more'), true, 'writes on a closed object report success, as the original does');
});

test('ECONNRESET or EPIPE from a TCP peer that reset closes the object', async () => {
  const accepted: Sock[] = [];
  const l = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => accepted.push(s));
  const addr = l.sock()!.localAddress() as { port: number };
  const client = new Recorder(connectTcp({ host: '127.0.0.1', port: addr.port }));
  await runUntil(() => accepted.length === 1);
  const server = new Recorder(accepted[0] as Sock);
  client.write('unread by the server');
  await runUntil(() => true);
  server.close(); // closing with unread data sends a RST
  await runUntil(() => DangaSocket.toClose().length === 0);
  for (let i = 0; i < 100 && !client.closed; i++) client.write(Buffer.alloc(65536));
  assert.ok(client.closed);
});

test('close() drops the queue: callbacks after it never run; write(() => close()) closes after the data', async () => {
  const [a, b] = socketPair();
  const w = new Recorder(a);
  const c = new Collector(b);
  c.watchRead(false);
  let ran = false;
  w.write(Buffer.alloc(4 * 1024 * 1024));
  w.write(() => {
    ran = true;
  });
  w.close();
  w.close(); // idempotent
  assert.equal(w.writeBufSize, 0);
  c.watchRead(true);
  await runUntil(() => c.eof);
  assert.equal(ran, false);
  assert.ok(c.bytes < 4 * 1024 * 1024, 'queued data was dropped');

  const [d, e] = socketPair();
  const w2 = new Recorder(d);
  const c2 = new Collector(e);
  c2.watchRead(false);
  w2.write(Buffer.alloc(3 * 1024 * 1024, 1));
  w2.write(() => w2.close('done'));
  c2.watchRead(true);
  await runUntil(() => c2.eof);
  assert.equal(c2.bytes, 3 * 1024 * 1024, 'everything arrived before the close');
});

test('pushBackRead(): pushed-back data comes first, split when larger than n, and re-fires eventRead', async () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  const got: string[] = [];
  let pushed = false;
  r.onRead = (self) => {
    const buf = self.read(4);
    if (buf === null) return;
    if (!pushed) {
      pushed = true;
      self.pushBackRead(Buffer.concat([Buffer.from('PB'), buf]));
      self.pushBackRead('xyz');
      return;
    }
    got.push(buf.toString());
  };
  r.watchRead(true);
  new Recorder(b).write('abcd');
  await runUntil(() => got.join('') === 'PBabcdxyz');
  assert.deepEqual(got, ['PBab', 'cd', 'xyz']);
});

test('pushBackRead() is not re-fired while read interest is off', async () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  r.pushBackRead('later');
  let iterations = 0;
  await runUntil(() => ++iterations > 3, 1);
  assert.equal(r.log.length, 0);
  assert.equal(r.read(100)?.toString(), 'later');
  b.close();
});

test('stealSocket() returns the open socket; the object is closed; the socket can be wrapped again', async () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  const stolen = r.stealSocket();
  assert.equal(stolen, a);
  assert.ok(r.closed);
  assert.equal(r.stealSocket(), null);
  assert.ok(!a.closed);
  const c = new Collector(stolen);
  new Recorder(b).write('still works');
  await runUntil(() => c.bytes === 11);
  assert.equal(c.text(), 'still works');
  assert.equal(DangaSocket.descriptorMap().get(a.fd), c);
});

test('registering an fd twice warns and the new object takes it', async () => {
  const [a, b] = socketPair();
  new Recorder(a);
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w.message);
  };
  process.on('warning', onWarning);
  const second = new Collector(a);
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.ok(
    warnings.some((m) => /already registered/.test(m)),
    warnings.join(),
  );
  assert.equal(DangaSocket.descriptorMap().get(a.fd), second);
  new Recorder(b).write('to the second');
  await runUntil(() => second.bytes === 13);
});

test('tcpCork() sets TCP_CORK; close() uncorks; Unix sockets ignore it', async () => {
  const accepted: Sock[] = [];
  const l = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => accepted.push(s));
  const port = (l.sock()!.localAddress() as { port: number }).port;
  const client = new Recorder(connectTcp({ host: '127.0.0.1', port }));
  await runUntil(() => accepted.length === 1);
  const server = new Collector(accepted[0] as Sock);
  client.tcpCork(true);
  client.write('corked bytes');
  client.tcpCork(false);
  await runUntil(() => server.bytes === 12);
  assert.equal(server.text(), 'corked bytes');
  client.tcpCork(true);
  client.close();
  const [a] = socketPair();
  const u = new Recorder(a);
  u.tcpCork(true); // EOPNOTSUPP on a Unix socket: ignored, as the original does
  assert.ok(!u.closed);
});

test('default eventRead/eventErr/eventHup throw naming the class; default eventWrite flushes the queue', () => {
  const [a, b] = socketPair();
  class Plain extends DangaSocket {}
  const p = new Plain(a);
  assert.throws(() => p.eventRead(), /Base class eventRead called for Plain/);
  assert.throws(() => p.eventErr(), /Base class eventErr called for Plain/);
  assert.throws(() => p.eventHup(), /Base class eventHup called for Plain/);
  p.eventWrite();
  b.close();
});

test('addresses: IPv4 and IPv6 peer and local strings; asString', async () => {
  for (const host of ['127.0.0.1', '::1']) {
    const accepted: Sock[] = [];
    const l = new Listener(listenTcp({ host, port: 0 }), (s) => accepted.push(s));
    const port = (l.sock()!.localAddress() as { port: number }).port;
    const client = new Recorder(connectTcp({ host, port }));
    await runUntil(() => accepted.length === 1);
    const server = new Recorder(accepted[0] as Sock);
    const wrap = host.includes(':') ? `[${host}]` : host;
    assert.equal(server.localIpString(), host);
    assert.equal(server.localAddrString(), `${wrap}:${port}`);
    assert.equal(client.peerIpString(), host);
    assert.equal(client.peerAddrString(), `${wrap}:${port}`);
    assert.equal(server.peerIpString(), host);
    assert.match(server.peerAddrString() as string, new RegExp(`^${wrap.replace(/[[\]]/g, '\\$&')}:\\d+$`));
    server.watchRead(true);
    assert.equal(server.asString(), `Recorder(R): open to ${server.peerAddrString()}`);
    server.close();
    assert.match(server.asString(), /^Recorder\(R\): closed/);
    DangaSocket.reset();
  }
});

test('Unix domain sockets: listen, connect, accept, echo', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'danga-'));
  const path = join(dir, 's.sock');
  try {
    new Listener(listenUnix(path), (s) => new Echo(s));
    const client = new Collector(connectUnix(path));
    assert.equal(client.peerIpString(), null, 'no IP on a Unix socket');
    client.write('over unix');
    await runUntil(() => client.bytes === 9);
    assert.equal(client.text(), 'over unix');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dumpError() prints the message, the object and a stack', () => {
  const [a, b] = socketPair();
  const r = new Recorder(a);
  const out = captureStderr(() => r.dumpError('something broke'));
  assert.match(out, /^ERROR: something broke\n\tRecorder\(\): open/);
  assert.match(out, /at /);
  const dbg = captureStderr(() => r.debugMsg('x=%s', 'y'));
  assert.equal(dbg, '>>> x=y\n');
  b.close();
});

test('connectTcp() to a closed port reaches eventErr or eventHup', async () => {
  const l = listenTcp({ host: '127.0.0.1', port: 0 });
  const port = (l.localAddress() as { port: number }).port;
  l.close();
  let c: Recorder;
  try {
    c = new Recorder(connectTcp({ host: '127.0.0.1', port }));
  } catch (err) {
    // Refused at once (allowed: loopback may answer before connect returns).
    assert.equal((err as { code?: string }).code, 'ECONNREFUSED');
    return;
  }
  c.watchWrite(true);
  c.onWrite = () => {
    /* connected? no: refused shows as err/hup */
  };
  await runUntil(() => c.log.includes('err') || c.log.includes('hup'));
});

// ---------------------------------------------------------------- corners and misuse

/** Every name the class or the loop used for its own state or hooks before they went #private or under Symbols. */
const FORMER_INTERNALS = [
  '_t',
  '_fd',
  '_key',
  '_closed',
  '_corked',
  '_watch',
  '_wq',
  '_wqHead',
  '_wqOffset',
  '_wqSize',
  '_writeSetWatch',
  '_pushBack',
  '_pushBackVersion',
  '_writer',
  '_peer',
  '_local',
  '_cleanup',
  '_flush',
  '_rawWrite',
  '_writeFailed',
  '_setWatch',
  '_peerAddress',
  '_localAddress',
  '_markReady',
  '_readiness',
  '_watchMask',
  '_pushBackState',
  '_otherFdEntries',
  '_watchOtherFd',
];

test('a plain JavaScript subclass may use every former internal name, as fields and as methods', async () => {
  // Plain JavaScript (test/fixtures/plain-subclass.mjs, loaded from the
  // sources as it is): no TypeScript check stands between it and the base class.
  const fixture = new URL('../../../test/fixtures/plain-subclass.mjs', import.meta.url);
  const { makeClass } = (await import(fixture.href)) as {
    makeClass: (base: typeof DangaSocket, names: readonly string[]) => new (s: Sock) => DangaSocket & { lines: string[] };
  };
  const Mine = makeClass(DangaSocket, FORMER_INTERNALS);
  const [a, b] = socketPair();
  const mine = new Mine(a);
  for (const n of FORMER_INTERNALS) assert.equal((mine as unknown as Record<string, unknown>)[n], `field ${n}`);
  const peer = new Collector(b);
  const fd = a.fd;
  assert.equal(DangaSocket.descriptorMap().get(fd), mine);
  peer.write('one\ntwo\nthr');
  peer.write(() => peer.write('ee\n'));
  await runUntil(() => mine.lines.length === 3 && peer.text() === 'got one\ngot two\ngot three\n');
  assert.deepEqual(mine.lines, ['one', 'two', 'three']);
  assert.equal(mine.fd, fd);
  mine.close('done');
  assert.equal(mine.closed, true, 'close() marks the object closed');
  assert.equal(mine.fd, -1);
  await runUntil(() => peer.eof);
  assert.equal(a.closed, true, 'the socket was closed at the end of the iteration');
  assert.equal(DangaSocket.descriptorMap().has(fd), false);
});

test('chained write callbacks do not grow the stack: 2 MiB in 16-byte chunks over TCP, as the 1.62 idiom writes it', async () => {
  const TOTAL = 2 * 1024 * 1024;
  const CHUNK = 16;
  // TCP: the kernel takes many small writes before it says EAGAIN (a Unix
  // socket would stop each chain after a few hundred), so the chain is long.
  const [a, b] = await tcpPair();
  const expected = createHash('sha256');
  let sent = 0;
  class Sender extends DangaSocket {
    constructor(sock: Sock) {
      super(sock);
    }
    sendNext(): void {
      if (sent >= TOTAL) {
        this.close('done');
        return;
      }
      const chunk = Buffer.alloc(CHUNK, sent / CHUNK);
      expected.update(chunk);
      sent += CHUNK;
      this.write(chunk);
      this.write(() => this.sendNext());
    }
    override eventErr(): void {
      this.close('err');
    }
    override eventHup(): void {
      this.close('hup');
    }
  }
  const sender = new Sender(a);
  const peer = new Collector(b);
  sender.sendNext();
  await runUntil(() => peer.eof);
  assert.equal(peer.bytes, TOTAL);
  assert.equal(createHash('sha256').update(Buffer.concat(peer.chunks)).digest('hex'), expected.digest('hex'));
});

test('a callback queued from inside a write callback runs after it returns, in order', () => {
  const [a, b] = socketPair();
  const order: string[] = [];
  const w = new Echo(a);
  new Collector(b);
  w.write(() => {
    order.push('outer start');
    w.write(() => order.push('inner 1'));
    w.write(() => order.push('inner 2'));
    order.push('outer end');
  });
  order.push('after write()');
  assert.deepEqual(order, ['outer start', 'outer end', 'inner 1', 'inner 2', 'after write()']);
});

/** A line reader that keeps a partial line with pushBackRead() until the rest arrives. */
class LineReader extends DangaSocket {
  readonly lines: string[] = [];
  partials = 0;
  constructor(sock: Sock) {
    super(sock);
    this.watchRead(true);
  }
  override eventRead(): void {
    const buf = this.read(1024);
    if (buf === null) {
      this.close('eof');
      return;
    }
    if (buf.length === 0) return;
    const nl = buf.indexOf(10);
    if (nl < 0) {
      this.partials++;
      this.pushBackRead(buf);
      return;
    }
    this.lines.push(buf.subarray(0, nl).toString());
    if (nl + 1 < buf.length) this.pushBackRead(buf.subarray(nl + 1));
  }
  override eventHup(): void {
    this.close('hup');
  }
  override eventErr(): void {
    this.close('err');
  }
}

test('a partial line kept with pushBackRead() is completed by the data that arrives later', { timeout: 30_000 }, async () => {
  const [a, b] = socketPair();
  const reader = new LineReader(a);
  const writer = new Collector(b);
  writer.write('GET /fo');
  let sentRest = false;
  await runUntil(() => {
    if (reader.partials > 0 && !sentRest) {
      sentRest = true;
      writer.write('o\r\nHEAD /bar\r\n');
    }
    return reader.lines.length === 2;
  });
  assert.deepEqual(reader.lines, ['GET /foo\r', 'HEAD /bar\r']);
});

/** Closes on hangup and error; its eventRead is the test's. */
class Counting extends DangaSocket {
  override eventHup(): void {
    this.close('hup');
  }
  override eventErr(): void {
    this.close('err');
  }
}

test('pushed-back data with read interest off does not spin the loop', { timeout: 30_000 }, async () => {
  const [a, b] = socketPair();
  let reads = 0;
  class Parker extends Counting {
    override eventRead(): void {
      reads++;
    }
  }
  const p = new Parker(a);
  p.pushBackRead('held');
  const peer = new Collector(b);
  // Read interest is off: the data is kept, not delivered, and the loop
  // sleeps. 40 turns of Node's loop would see 40 iterations if it spun.
  const n = await iterationsOver(40);
  assert.ok(n <= 3, `the loop ran ${n} iterations over 40 turns of Node's loop while it had nothing to do`);
  assert.equal(reads, 0);
  // Turning read interest on delivers it.
  p.watchRead(true);
  await runUntil(() => reads > 0);
  assert.equal(p.read(100)?.toString(), 'held');
  peer.close('done');
});

test('pushed-back data its handler leaves untouched is parked, not re-fired on every iteration', { timeout: 30_000 }, async () => {
  const [a, b] = socketPair();
  let reads = 0;
  class Ignorer extends Counting {
    override eventRead(): void {
      reads++;
    }
  }
  const o = new Ignorer(a);
  o.watchRead(true);
  o.pushBackRead('held');
  const peer = new Collector(b);
  const n = await iterationsOver(40);
  assert.ok(n <= 3, `the loop ran ${n} iterations over 40 turns of Node's loop`);
  assert.equal(reads, 1, 'delivered once, then parked until the socket has more');
  peer.write('more');
  await runUntil(() => reads > 1);
  assert.equal(o.read(100)?.toString(), 'heldmore', 'parked data comes back joined with what arrived');
});

test('a queued view whose ArrayBuffer is detached closes only its own connection', { timeout: 30_000 }, async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w);
  };
  process.on('warning', onWarning);
  try {
    const [a, b] = socketPair();
    const [c, d] = socketPair();
    class Quiet extends DangaSocket {
      override eventHup(): void {
        this.close('hup');
      }
      override eventErr(): void {
        this.close('err');
      }
    }
    const victim = new Quiet(a);
    // Fill the socket so that what follows is queued, not written.
    while (victim.write(Buffer.alloc(256 * 1024))) {
      /* the peer does not read yet */
    }
    const ab = new ArrayBuffer(1024);
    victim.write(new Uint8Array(ab, 16, 512));
    structuredClone(ab, { transfer: [ab] }); // detaches it
    const sink = new Collector(b);
    // A healthy connection in the same loop.
    const echo = new Echo(c);
    const client = new Collector(d);
    client.write('ping');
    await runUntil(() => victim.closed && client.text() === 'ping');
    assert.equal(echo.closed, false);
    assert.ok(warnings.some((w) => (w as Error & { code?: string }).code === 'DANGA_DETACHED_BUFFER'));
    // The loop goes on serving the other connection.
    client.write('pong');
    await runUntil(() => client.text() === 'pingpong');
    sink.close('done');
  } finally {
    process.off('warning', onWarning);
  }
});

test('bad arguments of read(), write(), dumpError() and Sock.shutdown() give coded errors or are printed, never engine TypeErrors', () => {
  const [a, b] = socketPair();
  const o = new Echo(a);
  for (const bad of [Symbol('x'), Object.create(null) as object, {}, '4', 1n]) {
    assert.throws(
      () => o.read(bad as unknown as number),
      (err: Error & { code?: string }) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE' && /"maxBytes"/.test(err.message),
    );
  }
  const ab = new ArrayBuffer(8);
  const view = new Uint8Array(ab);
  structuredClone(ab, { transfer: [ab] });
  assert.throws(
    () => o.write(view),
    (err: Error & { code?: string }) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_VALUE' && /"data"/.test(err.message),
  );
  for (const bad of [Object.create(null) as object, Symbol('how'), 'sideways']) {
    assert.throws(
      () => b.shutdown(bad as unknown as 'write'),
      (err: Error & { code?: string }) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_VALUE' && /"how"/.test(err.message),
    );
  }
  const printed = captureStderr(() => {
    o.dumpError(Symbol('oops') as unknown as string);
    o.dumpError(Object.create(null) as string);
  });
  assert.match(printed, /ERROR: Symbol\(oops\)/);
  b.close();
});
