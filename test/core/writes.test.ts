/**
 * The write side beyond 1.62: gather writes (`write([a, b])`), batch(),
 * write watermarks and the cap, and the proxy idiom built on them (a fast
 * sender through a proxy to a slow reader holds at most the high watermark
 * plus one read). On both engines, on real sockets.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Connection, DangaSocket, Listener, listenTcp, connectTcp, socketPair, type Sock } from 'danga-socket';
import fc from 'fast-check';
import { runUntil, onSim, simSeed, tcpPair } from '../helpers.js';

// The sim pass replays with its seed: fast-check's too.
if (onSim()) fc.configureGlobal({ seed: simSeed() });

afterEach(() => DangaSocket.reset());

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Collects what it reads, `readSize` bytes per event, until end of stream. */
class Sink extends Connection {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  eof = false;
  constructor(
    sock: Sock,
    private readonly readSize = 65536,
  ) {
    super(sock);
  }
  override eventRead(): void {
    const buf = this.read(this.readSize);
    if (buf === null) {
      this.eof = true;
      this.close('eof');
    } else if (buf.length > 0) {
      this.chunks.push(Buffer.from(buf));
      this.bytes += buf.length;
    }
  }
  data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Writes only what the test tells it to. */
class Writer extends Connection {
  readonly log: string[] = [];
  override eventRead(): void {}
  override onWriteHigh(): void {
    this.log.push(`high ${this.writeBufSize}`);
  }
  override onWriteLow(): void {
    this.log.push(`low ${this.writeBufSize}`);
  }
}

test('write([a, b, c]) sends the pieces in order, queued or not; bad pieces throw before anything is queued', async () => {
  const [a, b] = socketPair();
  const sink = new Sink(b);
  const w = new Writer(a);
  assert.equal(w.write(['head ', Buffer.from('body '), new Uint8Array([0x21, 0x0a]), '']), true);
  const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
  w.write(big); // the queue is not empty now
  assert.equal(w.write(['x', 'y']), false);
  assert.throws(() => w.write(['ok', 5] as unknown as string[]), { code: 'ERR_INVALID_ARG_TYPE', message: /"data\[1\]"/ });
  assert.equal(w.write([]), false, 'nothing added: still queued');
  w.end();
  await runUntil(() => sink.eof);
  assert.equal(sink.data().toString('latin1'), 'head body !\n' + big.toString('latin1') + 'xy');
});

test('batch(): writes inside are queued and leave together; write callbacks keep their place', async () => {
  const [a, b] = socketPair();
  const sink = new Sink(b);
  const w = new Writer(a);
  const order: string[] = [];
  const result = w.batch(() => {
    assert.equal(w.write('one '), false);
    w.write(() => order.push('callback after one'));
    w.batch(() => w.write('two '));
    assert.ok(w.writeBufSize > 0, 'nested batch: still held');
    w.write('three');
  });
  assert.equal(result, true, 'all out once the batch ended');
  assert.equal(w.writeBufSize, 0);
  assert.deepEqual(order, ['callback after one']);
  w.end();
  await runUntil(() => sink.eof);
  assert.equal(sink.data().toString(), 'one two three');
  assert.throws(() => w.batch(5 as never), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('batches of small and big pieces, behind a full socket or not, arrive whole and in order; callbacks run in order (any split)', async () => {
  // Small pieces gathered for one write are copied into one Buffer; big ones
  // go out with writev. A big write first (sometimes) fills the socket, and
  // a slow reader then makes the writes partial anywhere, also inside a
  // group of small pieces (TCP on loopback takes what room it has).
  const piece = fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 64 }), weight: 6 },
    { arbitrary: fc.integer({ min: 65, max: 3000 }), weight: 2 },
    { arbitrary: fc.integer({ min: 20_000, max: 100_000 }), weight: 1 },
    { arbitrary: fc.constant(0), weight: 1 }, // a write callback
  );
  let stamp = 0;
  /** `len` bytes no other piece has at the same place: a piece copied from the wrong offset shows. */
  const bytesOf = (len: number): Buffer => {
    const b = Buffer.allocUnsafe(len);
    for (let i = 0; i < len; i++) b[i] = (stamp + i * 7) & 0xff;
    stamp += 13;
    return b;
  };
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(piece, { minLength: 1, maxLength: 60 }), { minLength: 1, maxLength: 10 }),
      // (Reads of 4 KiB at least: the sim pass counts 20,000 reads without time advancing a livelock.)
      fc.integer({ min: 4096, max: 70_000 }),
      fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 << 20 })),
      async (batches, readSize, first) => {
        const [a, b] = await tcpPair();
        const sink = new Sink(b, readSize);
        const w = new Writer(a);
        const sent: Buffer[] = [];
        const calls: number[] = [];
        let seq = 0;
        if (first > 0) {
          const buf = bytesOf(first);
          sent.push(buf);
          w.write(buf);
        }
        for (const batch of batches) {
          const result = w.batch(() => {
            for (const len of batch) {
              if (len === 0) {
                const n = seq++;
                w.write(() => calls.push(n));
                continue;
              }
              const buf = bytesOf(len);
              sent.push(buf);
              assert.equal(w.write(buf), false, 'held inside a batch');
            }
          });
          assert.equal(result, w.writeBufSize === 0, 'batch() says whether everything went out');
        }
        w.end();
        await runUntil(() => sink.eof);
        const want = Buffer.concat(sent);
        assert.equal(sink.bytes, want.length);
        assert.ok(sink.data().equals(want), 'the bytes, whole and in order');
        assert.deepEqual(
          calls,
          Array.from({ length: seq }, (_, i) => i),
        );
      },
    ),
    { numRuns: 40 },
  );
});

test('watermarks: onWriteHigh once above high, onWriteLow once at low, in the order of the queue', async () => {
  const [a, b] = socketPair();
  const w = new Writer(a);
  w.setWriteWatermarks(1 << 20, 64 * 1024);
  // Fill the socket's buffer first, so what follows stays queued.
  const filler = Buffer.alloc(8 << 20, 1);
  w.write(filler);
  const queued = w.writeBufSize;
  assert.ok(queued > 1 << 20, `queued ${queued}`);
  assert.deepEqual(w.log, [`high ${queued}`], 'told once, after write() did its bookkeeping');
  w.write(Buffer.alloc(10));
  assert.equal(w.log.length, 1, 'not told again while above');
  w.write(() => w.log.push('callback'));
  const sink = new Sink(b);
  await runUntil(() => sink.bytes === filler.length + 10);
  assert.equal(w.log.length, 3);
  assert.match(w.log[1] as string, /^low \d+$/);
  assert.ok(Number((w.log[1] as string).split(' ')[1]) <= 64 * 1024);
  assert.equal(w.log[2], 'callback', 'low was told before the callback queued behind the bytes');
  // Rising again is a new crossing.
  w.write(Buffer.alloc(8 << 20, 2));
  assert.equal(w.log.filter((l) => l.startsWith('high')).length, 2);
  w.setWriteWatermarks(0, 0);
  assert.throws(() => w.setWriteWatermarks(10, 20), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => w.setWriteWatermarks(-1, 0), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => w.setWriteWatermarks('1' as never, 0), { code: 'ERR_INVALID_ARG_TYPE' });
});

/** A writer function that takes at most `budget` bytes in all (then nothing: the socket is "full"); `taken` collects them. */
function budgeted(): { fn: (buf: Buffer, len: number, offset: number) => number; budget: number; taken: Buffer[] } {
  const w = {
    budget: 0,
    taken: [] as Buffer[],
    fn: (buf: Buffer, len: number, offset: number): number => {
      const n = Math.min(len, w.budget);
      w.budget -= n;
      if (n > 0) w.taken.push(Buffer.from(buf.subarray(offset, offset + n)));
      return n;
    },
  };
  return w;
}

test('watermarks at the boundary: a queue that stops exactly at low tells onWriteLow; one byte above does not', () => {
  const [a, b] = socketPair();
  const w = new Writer(a);
  const writer = budgeted();
  w.setWriterFunc(writer.fn);
  w.setWriteWatermarks(50, 30);
  assert.equal(w.write(Buffer.alloc(100, 1)), false);
  assert.deepEqual(w.log, ['high 100']);
  writer.budget = 69; // leaves 31: above low
  w.write();
  assert.equal(w.writeBufSize, 31);
  assert.deepEqual(w.log, ['high 100'], 'not told at low + 1');
  writer.budget = 1; // leaves exactly 30
  w.write();
  assert.equal(w.writeBufSize, 30);
  assert.deepEqual(w.log, ['high 100', 'low 30'], 'told at exactly low');
  // A queue that rises to exactly high is not above it.
  w.write(Buffer.alloc(20, 2));
  assert.equal(w.writeBufSize, 50);
  assert.deepEqual(w.log, ['high 100', 'low 30'], 'not told at exactly high');
  w.write(Buffer.alloc(1, 3));
  assert.deepEqual(w.log, ['high 100', 'low 30', 'high 51']);
  w.close('done');
  b.close();
});

test('watermarks with low = 0: onWriteLow is told once the queue is empty (a proxy waiting for it resumes)', () => {
  const [a, b] = socketPair();
  const w = new Writer(a);
  const writer = budgeted();
  w.setWriterFunc(writer.fn);
  w.setWriteWatermarks(10, 0);
  w.write(Buffer.alloc(25, 1));
  assert.deepEqual(w.log, ['high 25']);
  writer.budget = 24;
  w.write();
  assert.equal(w.writeBufSize, 1);
  assert.deepEqual(w.log, ['high 25'], 'not told at 1 byte');
  writer.budget = 1;
  assert.equal(w.write(), true);
  assert.equal(w.writeBufSize, 0);
  assert.deepEqual(w.log, ['high 25', 'low 0']);
  // And again: a second crossing is told too.
  w.write(Buffer.alloc(11, 2));
  writer.budget = 11;
  w.write();
  assert.deepEqual(w.log, ['high 25', 'low 0', 'high 11', 'low 0']);
  assert.equal(Buffer.concat(writer.taken).length, 36);
  w.close('done');
  b.close();
});

test('watermarks with low = 0 and a write callback last in the queue: onWriteLow is told when the callback leaves it (a proxy resumes)', async () => {
  const [a, b] = socketPair();
  const w = new Writer(a);
  w.setWriteWatermarks(1, 0);
  // Fill the socket's buffer, so the callback queues behind the rest.
  const filler = Buffer.alloc(8 << 20, 1);
  w.write(filler);
  assert.ok(w.writeBufSize > 1, `queued ${w.writeBufSize}`);
  w.write(() => w.log.push(`callback ${w.writeBufSize}`));
  assert.equal(w.log.length, 1);
  assert.match(w.log[0] as string, /^high \d+$/);
  const sink = new Sink(b);
  await runUntil(() => sink.bytes === filler.length && w.writeBufSize === 0);
  // The bytes are out with the callback still queued (1 byte, above low = 0);
  // taking the callback off empties the queue: that is the crossing, told
  // before the callback runs (as a crossing is told before the callbacks queued behind).
  assert.deepEqual(w.log.slice(1), ['low 0', 'callback 0']);
  // At the boundary: a queue of three callbacks behind the bytes, low = 3,
  // is at low once the bytes are out, before any callback ran.
  w.setWriteWatermarks(4, 3);
  w.log.length = 0;
  w.write(filler);
  for (let i = 0; i < 3; i++) w.write(() => w.log.push(`callback ${i} ${w.writeBufSize}`));
  await runUntil(() => sink.bytes === 2 * filler.length && w.writeBufSize === 0);
  assert.match(w.log[0] as string, /^high \d+$/);
  assert.deepEqual(w.log.slice(1), ['low 3', 'callback 0 2', 'callback 1 1', 'callback 2 0']);
  w.close('done');
  sink.close('done');
});

test('the write cap: a write that would queue past it closes the object (reason write_cap) and queues nothing', () => {
  const capClosesBefore = DangaSocket.stats().closed.write_cap ?? 0;
  const [a, b] = socketPair();
  const w = new Writer(a);
  w.setWriteCap(2 << 20);
  w.write(Buffer.alloc(8 << 20)); // fills the socket buffer and passes the cap with what is left
  assert.equal(w.closed, true);
  assert.equal(w.closeReason(), 'write_cap');
  assert.equal(w.writeBufSize, 0);
  assert.equal(DangaSocket.stats().closed.write_cap, capClosesBefore + 1);

  const [c, d] = socketPair();
  const v = new Writer(c);
  v.setWriteCap(1 << 20);
  let i = 0;
  while (!v.closed && i < 10_000) {
    v.write(Buffer.alloc(64 * 1024));
    assert.ok(v.writeBufSize <= 1 << 20, 'never more than the cap queued');
    i++;
  }
  assert.equal(v.closeReason(), 'write_cap');
  assert.throws(() => v.setWriteCap(-1), { code: 'ERR_OUT_OF_RANGE' });
  b.close();
  d.close();
});

/**
 * The proxy idiom: one side reads a source and writes to a destination;
 * while the destination's queue is above its high watermark the source is
 * not read.
 */
class ProxySide extends Connection {
  peer: ProxySide | null = null;
  maxQueued = 0;
  override eventRead(): void {
    const buf = this.read(READ_SIZE);
    const peer = this.peer;
    if (peer === null) return;
    if (buf === null) {
      peer.end();
      return;
    }
    if (buf.length === 0) return;
    peer.write(buf);
    if (peer.writeBufSize > peer.maxQueued) peer.maxQueued = peer.writeBufSize;
  }
  override onWriteHigh(): void {
    this.peer?.watchRead(false); // stop reading the source while this destination is full
  }
  override onWriteLow(): void {
    this.peer?.watchRead(true);
  }
}
const READ_SIZE = 65536;

test('proxy: a fast sender through a proxy to a slow reader holds at most high + one read, byte-exact', async () => {
  const high = 256 * 1024;
  const payload = Buffer.alloc(24 << 20);
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);

  // The backend (slow reader) listens; the proxy accepts the client and connects to the backend.
  let backend: Sink | null = null;
  const backendListener = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => (backend = new Sink(s, 4096)));
  const backendPort = (backendListener.requireSock().localAddress() as { port: number }).port;
  let toBackend: ProxySide | null = null;
  const proxy = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => {
    const front = new ProxySide(s);
    const back = new ProxySide(connectTcp({ host: '127.0.0.1', port: backendPort }));
    back.setWriteWatermarks(high, high / 4);
    front.setWriteWatermarks(high, high / 4);
    front.peer = back;
    back.peer = front;
    toBackend = back;
    return front;
  });
  const proxyPort = (proxy.requireSock().localAddress() as { port: number }).port;

  // The fast sender writes everything at once and half-closes when its queue is out.
  class Sender extends Connection {
    override eventRead(): void {
      if (this.read(65536) === null) this.close('eof');
    }
  }
  const sender = new Sender(connectTcp({ host: '127.0.0.1', port: proxyPort }));
  sender.write(payload);
  sender.end({ halfClose: true });

  await runUntil(() => backend?.eof === true);
  const got = (backend as unknown as Sink).data();
  assert.equal(got.length, payload.length);
  assert.equal(sha(got), sha(payload));
  const back = toBackend as ProxySide | null;
  assert.ok(back !== null);
  assert.ok(back.maxQueued <= high + READ_SIZE, `the proxy queued at most high + one read: ${back.maxQueued}`);
  assert.ok(back.maxQueued > high / 2, `the test did make the proxy queue (${back.maxQueued})`);
});
