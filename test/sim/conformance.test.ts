/**
 * Core conformance: the semantics of the loop and the base class, written
 * over the engine-neutral API only (socketPair, listenTcp/connectTcp,
 * DangaSocket), so that one file runs on every engine: on the epoll and
 * node engines over real sockets, and, when scripts/run-tests.mjs runs its
 * sim-simulate pass (test/matrix.ts), inside simulate() on the simulated network.
 *
 * The rest of the suite talks to real Node clients, child processes and
 * the kernel, and runs on the real engines only; see docs/simulation.md,
 * "What runs where".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DangaSocket, Listener, POLLIN, connectTcp, listenTcp, socketPair, type Sock } from 'danga-socket';
import { simulate } from 'danga-socket/sim';
import { runUntil as realRunUntil, testPass } from '../helpers.js';

const SIM = testPass() === 'sim-simulate';

/** What a conformance test needs of its engine. */
interface Env {
  /** Runs the loop until `done()` holds. */
  runUntil(done: () => boolean): Promise<void>;
}

/** A test that runs on the engine of this pass: real sockets, or inside a simulation. */
function conform(name: string, body: (env: Env) => Promise<void>): void {
  test(`${name} [${SIM ? 'sim' : DangaSocket.engine()}]`, async () => {
    if (SIM) {
      await simulate({ seed: 1 }, async (sim) => {
        assert.equal(DangaSocket.engine(), 'sim');
        await body({ runUntil: (done) => sim.runUntil(done) });
        DangaSocket.reset();
      });
      return;
    }
    try {
      await body({ runUntil: (done) => realRunUntil(done) });
    } finally {
      DangaSocket.reset();
    }
  });
}

/** Reads what the test asks, records every event. */
class Probe extends DangaSocket {
  readonly events: string[] = [];
  readonly got: Buffer[] = [];
  eof = false;
  readSize = 65536;
  onRead: (() => void) | null = null;
  override eventRead(): void {
    this.events.push('read');
    if (this.onRead !== null) return this.onRead();
    const buf = this.read(this.readSize);
    if (buf === null) {
      this.eof = true;
      this.watchRead(false);
    } else if (buf.length > 0) {
      this.got.push(Buffer.from(buf));
    }
  }
  override eventWrite(): void {
    this.events.push('write');
    super.eventWrite();
  }
  override eventErr(): void {
    this.events.push('err');
    this.close('err');
  }
  /** Hangup: closes once what came before it was read (read interest goes off at end of stream). */
  override eventHup(): void {
    this.events.push('hup');
    if (this.watchMask() & POLLIN && !this.eof) return;
    this.close('hup');
  }
  text(): string {
    return Buffer.concat(this.got).toString();
  }
}

/** A connected TCP pair [client, accepted], the listener closed again. */
async function tcpPair(env: Env): Promise<[Sock, Sock]> {
  let accepted: Sock | null = null;
  const listener = new (class extends DangaSocket {
    override eventRead(): void {
      accepted ??= this.requireSock().accept();
    }
  })(listenTcp({ host: '127.0.0.1', port: 0 }));
  listener.watchRead(true);
  const addr = listener.requireSock().localAddress();
  assert.ok(addr !== null && addr.family !== 'unix');
  const client = connectTcp({ host: '127.0.0.1', port: addr.port });
  await env.runUntil(() => accepted !== null);
  listener.close('done');
  return [client, accepted as unknown as Sock];
}

conform('read(n): at most n bytes, an empty Buffer when nothing is there, null at end of stream', async (env) => {
  const [a, b] = socketPair();
  const reader = new Probe(a);
  const writer = new Probe(b);
  reader.onRead = () => {};
  assert.equal(reader.read(10)?.length, 0);
  writer.write('hello world');
  let first: Buffer | null = null;
  reader.onRead = () => {
    first ??= reader.read(5);
  };
  reader.watchRead(true);
  await env.runUntil(() => first !== null);
  assert.equal(String(first), 'hello');
  reader.onRead = null;
  writer.close('done');
  await env.runUntil(() => reader.eof);
  assert.equal(reader.text(), ' world');
});

conform('level-triggered: unread data fires eventRead again; watchRead(false) stops it, true resumes', async (env) => {
  const [a, b] = socketPair();
  const reader = new Probe(a);
  const writer = new Probe(b);
  let calls = 0;
  reader.onRead = () => {
    calls++;
    if (calls === 3) reader.watchRead(false);
  };
  reader.watchRead(true);
  writer.write('x');
  await env.runUntil(() => calls === 3);
  let passes = 0;
  DangaSocket.setLoopTimeout(0);
  await env.runUntil(() => ++passes > 5);
  assert.equal(calls, 3, 'no read events with read interest off');
  reader.onRead = null;
  reader.watchRead(true);
  await env.runUntil(() => reader.got.length > 0);
  assert.equal(reader.text(), 'x');
});

conform('dispatch order: read before hangup; nothing after close', async (env) => {
  const [a, b] = socketPair();
  const p = new Probe(a);
  p.watchRead(true);
  const w = new Probe(b);
  w.write('bye');
  w.close('done');
  await env.runUntil(() => p.closed);
  assert.equal(p.text(), 'bye');
  assert.equal(p.events.at(-1), 'hup');
  assert.ok(p.events.indexOf('read') < p.events.indexOf('hup'));
});

conform('write() queues what the socket does not take, turns write interest on, and off once drained', async (env) => {
  const [a, b] = socketPair();
  const w = new Probe(a);
  const r = new Probe(b);
  const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
  assert.equal(w.write(big), false);
  assert.ok(w.writeBufSize > 0);
  assert.ok(w.watchMask() & 4, 'write interest on');
  r.watchRead(true);
  await env.runUntil(() => w.writeBufSize === 0);
  assert.equal(w.watchMask() & 4, 0, 'write interest off once drained');
  await env.runUntil(() => Buffer.concat(r.got).length === big.length);
  assert.ok(Buffer.concat(r.got).equals(big));
});

conform('write callbacks run in order, after the data before them; at once when nothing is queued', async (env) => {
  const [a, b] = socketPair();
  const w = new Probe(a);
  const r = new Probe(b);
  const order: string[] = [];
  w.write(() => order.push('now'));
  assert.deepEqual(order, ['now']);
  w.write(Buffer.alloc(1024 * 1024, 1));
  w.write(() => order.push(`one ${w.writeBufSize}`));
  w.write('tail');
  w.write(() => order.push('two'));
  r.watchRead(true);
  await env.runUntil(() => order.length === 3);
  assert.deepEqual(
    order,
    ['now', 'one 0', 'two'].map((s, i) => (i === 1 ? order[1] : s)),
  );
  assert.match(order[1] as string, /^one \d+$/);
  await env.runUntil(() => Buffer.concat(r.got).length === 1024 * 1024 + 4);
});

conform('watchWrite(true) by the subclass keeps write interest on after the queue drains', async (env) => {
  const [a, b] = socketPair();
  const w = new Probe(a);
  new Probe(b).watchRead(true);
  w.watchWrite(true);
  w.write('x');
  await env.runUntil(() => w.events.filter((e) => e === 'write').length >= 3);
  assert.ok(w.watchMask() & 4);
  w.watchWrite(false);
});

conform('close() is deferred: the fd stays filed until the end of the iteration; toClose() lists the socket', async (env) => {
  const [a, b] = socketPair();
  const p = new Probe(a);
  const w = new Probe(b);
  const fd = p.fd;
  let during: { filed: boolean; listed: boolean } | null = null;
  p.onRead = () => {
    const sock = p.requireSock();
    p.close('test');
    during = { filed: DangaSocket.descriptorMap().get(fd) === p, listed: DangaSocket.toClose().includes(sock) };
  };
  p.watchRead(true);
  w.write('x');
  await env.runUntil(() => during !== null);
  assert.deepEqual(during, { filed: true, listed: true });
  assert.equal(DangaSocket.descriptorMap().has(fd), false);
  assert.equal(p.closeReason(), 'test');
});

conform('close() drops the queue; write(() => close()) closes after the data', async (env) => {
  const [a, b] = socketPair();
  const w = new Probe(a);
  const r = new Probe(b);
  const big = Buffer.alloc(1024 * 1024, 2);
  let ran = false;
  w.write(big);
  w.write(() => w.close('after data'));
  r.watchRead(true);
  await env.runUntil(() => r.closed);
  assert.equal(Buffer.concat(r.got).length, big.length);
  assert.equal(w.closeReason(), 'after data');

  const [c, d] = socketPair();
  const w2 = new Probe(c);
  new Probe(d);
  w2.write(big);
  w2.write(() => (ran = true));
  w2.close('now');
  await env.runUntil(() => DangaSocket.watchedSockets() === 1);
  assert.equal(ran, false, 'a callback queued before close() never runs');
});

conform('pushBackRead(): pushed-back data comes first and re-fires eventRead', async (env) => {
  const [a, b] = socketPair();
  const p = new Probe(a);
  const w = new Probe(b);
  const seen: string[] = [];
  p.onRead = () => {
    const buf = p.read(3);
    if (buf === null || buf.length === 0) return;
    seen.push(buf.toString());
    if (seen.length === 1) p.pushBackRead('AB');
  };
  p.watchRead(true);
  w.write('xyz');
  await env.runUntil(() => seen.length >= 2);
  assert.deepEqual(seen.slice(0, 2), ['xyz', 'AB']);
});

conform('timers fire in time order, equal times in the order added; cancel() stops one', async (env) => {
  const fired: string[] = [];
  // 'a' is added after 'b' but due 190 ms sooner: only a stall of the test itself longer than that
  // between two statements (on a real engine, real time) could change the order (it did, at 10 ms
  // apart, with both CPUs busy).
  DangaSocket.addTimer(0.2, () => fired.push('b'));
  DangaSocket.addTimer(0.01, () => fired.push('a'));
  DangaSocket.addTimer(0.2, () => fired.push('c'));
  DangaSocket.addTimer(0.1, () => fired.push('x')).cancel();
  let seconds = 0;
  DangaSocket.addTimer(0.3, (now) => {
    seconds = now;
    fired.push('d');
  });
  await env.runUntil(() => fired.length === 4);
  assert.deepEqual(fired, ['a', 'b', 'c', 'd']);
  assert.ok(seconds > 1e9, 'timer callbacks get epoch seconds');
});

conform('end() closes once the queue is out (reason end); end({ halfClose }) lets the peer answer', async (env) => {
  const [a, b] = socketPair();
  const w = new Probe(a);
  const r = new Probe(b);
  w.write(Buffer.alloc(300_000, 3));
  w.end();
  r.watchRead(true);
  await env.runUntil(() => w.closed && Buffer.concat(r.got).length === 300_000);
  assert.equal(w.closeReason(), 'end');

  const [client, server] = await tcpPair(env);
  const c = new Probe(client);
  const s = new Probe(server);
  s.onRead = () => {
    const buf = s.read(100);
    if (buf === null) {
      s.write('reply');
      s.end();
    }
  };
  s.watchRead(true);
  c.watchRead(true);
  c.write('question');
  c.end({ halfClose: true });
  await env.runUntil(() => c.eof);
  assert.equal(c.text(), 'reply');
});

conform('a write after the peer closed (EPIPE) closes the object', async (env) => {
  const [a, b] = socketPair();
  const w = new Probe(a);
  new Probe(b).close('gone');
  await env.runUntil(() => DangaSocket.watchedSockets() === 1);
  w.write('x');
  await env.runUntil(() => w.closed);
  assert.ok(['EPIPE', 'hup', 'err'].includes(w.closeReason() ?? ''), String(w.closeReason()));
});

conform('TCP: accept, addresses on both ends, end of stream on the peer closing', async (env) => {
  let served: Probe | null = null;
  const l = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => (served = new Probe(s)));
  const port = (l.requireSock().localAddress() as { port: number }).port;
  const c = new Probe(connectTcp({ host: '127.0.0.1', port }));
  c.watchWrite(true);
  await env.runUntil(() => served !== null && c.events.includes('write'));
  c.watchWrite(false);
  const s = served as unknown as Probe;
  assert.equal(s.peerAddrString(), c.localAddrString());
  assert.equal(c.peerAddrString(), `127.0.0.1:${port}`);
  s.watchRead(true);
  c.write('ping');
  c.close('done');
  await env.runUntil(() => s.eof);
  assert.equal(s.text(), 'ping');
});
