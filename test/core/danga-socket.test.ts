/**
 * The base class under misuse and in the corners of its semantics: a plain
 * JavaScript subclass that reuses every former internal name, chained write
 * callbacks, a partial line kept with pushBackRead(), pushed-back data with
 * read interest off, a queued view whose ArrayBuffer is detached, and bad
 * arguments. On both engines.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { DangaSocket, socketPair, type Sock } from 'danga-socket';
import { runUntil, Collector, Echo, tcpPair } from '../helpers.js';

afterEach(() => DangaSocket.reset());

/** Every name the class or the loop used for its own state or hooks before they went #private or under Symbols. */
const FORMER_INTERNALS = [
  '_t', '_fd', '_key', '_closed', '_corked', '_watch', '_wq', '_wqHead', '_wqOffset', '_wqSize',
  '_writeSetWatch', '_pushBack', '_pushBackVersion', '_writer', '_peer', '_local',
  '_cleanup', '_flush', '_rawWrite', '_writeFailed', '_setWatch', '_peerAddress', '_localAddress',
  '_markReady', '_readiness', '_watchMask', '_pushBackState', '_otherFdEntries', '_watchOtherFd',
];

test('a plain JavaScript subclass may use every former internal name, as fields and as methods', async () => {
  // Plain JavaScript, evaluated at run time: no TypeScript checks stand
  // between the subclass and the base class.
  const makeClass = new Function(
    'DangaSocket',
    'names',
    `
    class Mine extends DangaSocket {
      constructor(sock) {
        super(sock);
        for (const n of names) this[n] = 'field ' + n;
        this.lines = [];
        this.watchRead(true);
      }
      eventRead() {
        const buf = this.read(4096);
        if (buf === null) return this.write(() => this.close('eof'));
        const s = buf.toString();
        const nl = s.indexOf('\\n');
        if (nl < 0) return this.pushBackRead(buf);
        this.lines.push(s.slice(0, nl));
        if (nl + 1 < s.length) this.pushBackRead(buf.subarray(nl + 1));
        this.write('got ' + s.slice(0, nl) + '\\n');
        this.write(() => this.watchRead(true));
      }
      eventHup() { this.close('hup'); }
      eventErr() { this.close('err'); }
    }
    for (const n of names) {
      Mine.prototype[n] = function () { throw new Error('the base class called the subclass method ' + n); };
    }
    return Mine;
    `,
  );
  const Mine = makeClass(DangaSocket, FORMER_INTERNALS) as new (s: Sock) => DangaSocket & { lines: string[] };
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

test('a callback queued from inside a write callback runs after it returns, in order', async () => {
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

/** Counts the loop's iterations while Node's loop turns `turns` times (setImmediate hops). */
async function iterationsOver(turns: number): Promise<number> {
  let iterations = 0;
  let hops = 0;
  DangaSocket.setPostLoopCallback(() => {
    iterations++;
    return hops < turns;
  });
  const hop = (): void => {
    hops++;
    if (hops < turns) setImmediate(hop);
    else DangaSocket.addTimer(0, () => {}); // wake the loop so its post-loop callback sees the end
  };
  setImmediate(hop);
  try {
    await DangaSocket.eventLoop();
  } finally {
    DangaSocket.setPostLoopCallback(null);
  }
  return iterations;
}

test('pushed-back data with read interest off does not spin the loop', { timeout: 30_000 }, async () => {
  const [a, b] = socketPair();
  let reads = 0;
  class Parker extends DangaSocket {
    override eventRead(): void {
      reads++;
    }
    override eventHup(): void {
      this.close('hup');
    }
    override eventErr(): void {
      this.close('err');
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
  class Ignorer extends DangaSocket {
    override eventRead(): void {
      reads++;
    }
    override eventHup(): void {
      this.close('hup');
    }
    override eventErr(): void {
      this.close('err');
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
  const write = process.stderr.write;
  let printed = '';
  process.stderr.write = ((chunk: string) => {
    printed += chunk;
    return true;
  }) as typeof process.stderr.write;
  try {
    o.dumpError(Symbol('oops') as unknown as string);
    o.dumpError(Object.create(null) as string);
  } finally {
    process.stderr.write = write;
  }
  assert.match(printed, /ERROR: Symbol\(oops\)/);
  b.close();
});
