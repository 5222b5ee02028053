/**
 * A Buffer returned by read() and kept by the caller holds memory in
 * proportion to its own length, not to whatever it was read into.
 *
 * Line-protocol code keeps the partial line between reads (`this.pending =
 * buf`). With reads handed out as views of a shared slab, each kept 18-byte
 * view pinned a whole 128 KiB slab once bulk reads in between had moved on
 * to fresh slabs: 2,000 connections holding 18 bytes each held 250 MiB.
 *
 * The steps are driven by conditions (each waits for the bytes it sent to
 * be read); the measure is `process.memoryUsage().arrayBuffers` after full
 * garbage collections.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { DangaSocket, listenTcp, connectTcp, type Sock } from 'danga-socket';
import { runUntil, Listener } from '../helpers.js';

afterEach(() => DangaSocket.reset());

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** ArrayBuffer memory after full collections (a few: finalizers free backing stores late). */
function arrayBuffersAfterGc(): number {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().arrayBuffers;
}

/** Server side of the bulk stream: reads and drops, counting the bytes. */
class Drain extends DangaSocket {
  bytes = 0;

  override eventRead(): void {
    for (;;) {
      const buf = this.read(65536);
      if (buf === null) {
        this.close('eof');
        return;
      }
      if (buf.length === 0) return;
      this.bytes += buf.length;
      this.got(buf);
    }
  }

  /** What the reader does with each read: nothing here. */
  protected got(_buf: Buffer): void {}

  override eventHup(): void {
    this.close('hup');
  }

  override eventErr(): void {
    this.close('err');
  }
}

/** Server side: keeps every Buffer it reads (the natural `this.pending = buf`, without ever completing a line). */
class Keeper extends Drain {
  readonly kept: Buffer[] = [];

  protected override got(buf: Buffer): void {
    this.kept.push(buf);
  }
}

/** A client end: writes what it is told to, reads nothing. */
class Writer extends DangaSocket {
  override eventHup(): void {
    this.close('hup');
  }

  override eventErr(): void {
    this.close('err');
  }
}

/**
 * `count` connections each send one `small`-byte read that the server
 * keeps. After each, `fillers` reads of the same length pass through
 * another connection and are dropped (whatever holds a kept read is full
 * of dropped ones), then `bulk` bytes stream through a third and are read
 * and dropped. Returns the growth of ArrayBuffer memory and the bytes kept.
 */
async function keptReadsGrowth(count: number, small: number, fillers: number, bulk: number): Promise<{ growth: number; kept: number }> {
  const accepted: Sock[] = [];
  const listener = new Listener(listenTcp({ host: '127.0.0.1', port: 0, backlog: 4096 }), (s) => accepted.push(s));
  const address = listener.sock()!.localAddress();
  if (address === null || address.family === 'unix') throw new Error('no address');
  const port = address.port;

  const bulkClient = new Writer(connectTcp({ host: '127.0.0.1', port }));
  await runUntil(() => accepted.length === 1);
  const fillerClient = new Writer(connectTcp({ host: '127.0.0.1', port }));
  await runUntil(() => accepted.length === 2);
  const [drain, fillerDrain] = accepted.map((s) => new Drain(s)) as [Drain, Drain];
  drain.watchRead(true);
  fillerDrain.watchRead(true);

  const clients: Writer[] = [];
  for (let i = 0; i < count; i++) clients.push(new Writer(connectTcp({ host: '127.0.0.1', port })));
  await runUntil(() => accepted.length === count + 2);
  const keepers = accepted.slice(2).map((s) => new Keeper(s));
  for (const k of keepers) k.watchRead(true);

  const line = Buffer.alloc(small, 'x');
  const chunk = Buffer.alloc(bulk, 'y');
  const before = arrayBuffersAfterGc();

  let drained = 0;
  let filled = 0;
  for (let i = 0; i < count; i++) {
    const keeper = keepers[i]!;
    clients[i]!.write(line);
    await runUntil(() => keeper.bytes === small || keeper.closed);
    for (let f = 0; f < fillers; f++) {
      fillerClient.write(line);
      filled += small;
      await runUntil(() => fillerDrain.bytes === filled || fillerDrain.closed);
    }
    bulkClient.write(chunk);
    drained += bulk;
    await runUntil(() => drain.bytes === drained || drain.closed);
  }
  assert.ok(!drain.closed && !fillerDrain.closed, 'the streams stayed open');

  const growth = arrayBuffersAfterGc() - before;
  let kept = 0;
  for (const k of keepers) {
    assert.equal(k.bytes, small, 'every connection read its bytes');
    kept += k.kept.reduce((n, b) => n + b.length, 0);
  }
  return { growth, kept };
}

test('2,000 kept 18-byte reads between bulk reads hold under 1 MiB', { timeout: 120_000 }, async () => {
  const { growth, kept } = await keptReadsGrowth(2000, 18, 0, 128 * 1024);
  assert.equal(kept, 2000 * 18);
  assert.ok(growth < 1024 * 1024, `2,000 kept reads of 18 bytes grew ArrayBuffer memory by ${(growth / 1048576).toFixed(1)} MiB`);
});

test('a kept read holds at most 16 times its length, between dropped reads of the same length', { timeout: 120_000 }, async () => {
  // The epoll engine copies reads under 16 KiB into pooled chunks of at most
  // 16 times their length and hands out longer ones as views of a 128 KiB
  // slab (at most 8 times their length); Node's streams give every read a
  // buffer of its own length.
  for (const size of [1, 18, 100, 1000, 8000, 16 * 1024, 40_000]) {
    const { growth, kept } = await keptReadsGrowth(64, size, 16, 128 * 1024);
    assert.equal(kept, 64 * size);
    const limit = 16 * kept + 256 * 1024;
    assert.ok(growth <= limit, `64 kept reads of ${size} bytes grew ArrayBuffer memory by ${growth} bytes (limit ${limit})`);
    DangaSocket.reset();
  }
});

/** Server side of a memcached-style store: each value (`size` bytes and CRLF, readExact) kept when `keep(i)` says so, the others dropped. */
class ValueStore extends DangaSocket {
  readonly kept: Buffer[] = [];
  values = 0;

  constructor(
    sock: Sock,
    private readonly size: number,
    private readonly keep: (i: number) => boolean,
  ) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    for (;;) {
      const v = this.readExact(this.size + 2);
      if (v === undefined) return;
      if (v === null) {
        this.close('eof');
        return;
      }
      // As a store keeps a value: the bytes before the CRLF, as read.
      if (this.keep(this.values++)) this.kept.push(v.subarray(0, this.size));
    }
  }

  override eventHup(): void {
    this.close('hup');
  }

  override eventErr(): void {
    this.close('err');
  }
}

/**
 * A client writes `writes` times `perWrite` values of 1 KiB (each with its
 * CRLF) in one write, the next write once the server has taken them; the
 * server keeps one value of each write. Returns the server and the growth
 * of ArrayBuffer memory.
 */
async function keptValues(writes: number, perWrite: number, split: boolean): Promise<{ store: ValueStore; growth: number }> {
  const size = 1024;
  let store: ValueStore | null = null;
  const listener = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => {
    store = new ValueStore(s, size, (i) => i % perWrite === perWrite - 1);
  });
  const address = listener.sock()!.localAddress();
  if (address === null || address.family === 'unix') throw new Error('no address');
  const client = new Writer(connectTcp({ host: '127.0.0.1', port: address.port }));
  await runUntil(() => store !== null);
  listener.close('done');
  const server = store as unknown as ValueStore;
  const value = Buffer.alloc(size + 2, 'v');
  value.write('\r\n', size);
  const batch = Buffer.concat(Array.from({ length: perWrite }, () => value));
  const before = arrayBuffersAfterGc();
  for (let w = 0; w < writes; w++) {
    if (split) {
      // The last value arrives in two reads: it spans Buffers.
      const cut = batch.length - size / 2;
      client.write(batch.subarray(0, cut));
      await runUntil(() => server.values === (w + 1) * perWrite - 1 || server.closed);
      client.write(batch.subarray(cut));
    } else client.write(batch);
    await runUntil(() => server.values === (w + 1) * perWrite || server.closed);
  }
  assert.ok(!server.closed, 'the connection stayed open');
  const growth = arrayBuffersAfterGc() - before;
  client.close('done');
  return { store: server, growth };
}

test('a kept 1 KiB value read with readExact holds about its length, whatever it arrived with', { timeout: 120_000 }, async () => {
  // Eight values arrive in one 8 KiB read; the store keeps the last of them.
  // The epoll engine copies such a read into a pool chunk of 128 KiB, and a
  // view of it pinned the chunk: 8 KiB per kept value, 128 KiB for the last.
  for (const split of [false, true]) {
    const { store, growth } = await keptValues(512, 8, split);
    assert.equal(store.kept.length, 512);
    for (const v of store.kept) {
      assert.equal(v.length, 1024);
      assert.ok(
        v.buffer.byteLength <= 2 * 1024,
        `a kept 1 KiB value${split ? ' (spanning two reads)' : ''} pins an ArrayBuffer of ${v.buffer.byteLength} bytes`,
      );
    }
    const kept = 512 * 1024;
    const limit = 2 * kept + 256 * 1024;
    assert.ok(growth <= limit, `512 kept values of 1 KiB grew ArrayBuffer memory by ${growth} bytes (limit ${limit})`);
    DangaSocket.reset();
  }
});
