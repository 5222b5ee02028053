/**
 * Idle timeouts (setIdleTimeout, onIdle, the loop's idle sweep), on real
 * sockets in this process.
 *
 * No elapsed time is asserted. Each test has a control that goes silent
 * beside the connections under test; the tests wait for the control to be
 * closed for idleness and look at the others at that moment: whatever was
 * silent as long as the control has been closed by the same sweep, so a
 * connection still open then was kept open by its activity (or its
 * settings), not by luck.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Connection, DangaSocket, Listener, connectTcp, listenTcp, socketPair, type Sock } from 'danga-socket';
import { reactor } from '../../src/core/loop.js';
import { Discard, onSim, runUntil } from '../helpers.js';

afterEach(() => DangaSocket.reset());

/** Bounds, so that a hang fails instead of blocking the suite. */
const BOUND = { timeout: 60_000 };

/**
 * A line reader that never sees a whole line: it keeps the partial line
 * pushed back (parked until more arrives), as a protocol waiting for the
 * end of a request does. Its first byte says what the client is: 'T' a
 * trickler, 'S' silent.
 */
class LineReader extends Connection {
  static readonly all: LineReader[] = [];
  kind = '';

  constructor(sock: Sock) {
    super(sock);
    this.setIdleTimeout(1);
    LineReader.all.push(this);
  }

  override eventRead(): void {
    const buf = this.read(65536);
    if (buf === null) {
      this.close('eof');
      return;
    }
    if (buf.length === 0) return;
    if (this.kind === '') this.kind = String.fromCharCode(buf[0]!);
    if (!buf.includes(10)) this.pushBackRead(buf);
  }
}

function tcpPort(sock: Sock): number {
  const a = sock.localAddress();
  if (a === null || a.family === 'unix') throw new Error('no TCP address');
  return a.port;
}

test("slowloris: 200 connections trickling a byte per 100 ms are not idle; the silent ones are closed ('idle', counted in stats)", BOUND, async () => {
  const TRICKLERS = 200;
  const SILENT = 50;
  LineReader.all.length = 0;
  const idleBefore = DangaSocket.stats().closed.idle ?? 0;
  const sock = listenTcp({ host: '127.0.0.1', port: 0 });
  new Listener(sock, (s) => new LineReader(s));
  const port = tcpPort(sock);
  const clients: Client[] = [];
  const tricklers: Client[] = [];
  for (let i = 0; i < TRICKLERS + SILENT; i++) {
    const c = onSim() ? new SimClient(connectTcp({ host: '127.0.0.1', port })) : netClient(port);
    c.write(i < TRICKLERS ? 'T' : 'S'); // never a newline
    clients.push(c);
    if (i < TRICKLERS) tricklers.push(c);
  }
  const trickle = every(100, () => {
    for (const c of tricklers) c.write('x');
  });
  try {
    const silent = (): LineReader[] => LineReader.all.filter((r) => r.kind === 'S');
    const trickling = (): LineReader[] => LineReader.all.filter((r) => r.kind === 'T');
    await runUntil(() => silent().length === SILENT && silent().every((r) => r.closed));
    // The moment the last silent connection was closed:
    assert.equal(trickling().length, TRICKLERS);
    assert.deepEqual(
      trickling().filter((r) => r.closed),
      [],
      'no trickling connection closed',
    );
    for (const r of silent()) assert.equal(r.closeReason(), 'idle');
    assert.equal((DangaSocket.stats().closed.idle ?? 0) - idleBefore, SILENT);
  } finally {
    trickle.stop();
    for (const c of clients) c.destroy();
  }
});

/** A client of the slowloris test: Node's net on the real engines, a DangaSocket over connectTcp in the sim pass. */
interface Client {
  write(data: string): void;
  destroy(): void;
}

function netClient(port: number): Client {
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  return { write: (d) => void c.write(d), destroy: () => void c.destroy() };
}

class SimClient extends DangaSocket implements Client {
  destroy(): void {
    this.close('done');
  }
}

/** Runs `fn` every `ms`: setInterval on the real engines (real clients, real time), a repeating loop timer in the sim pass (virtual time). */
function every(ms: number, fn: () => void): { stop(): void } {
  if (!onSim()) {
    const t = setInterval(fn, ms);
    return { stop: () => clearInterval(t) };
  }
  let timer = DangaSocket.addTimer(ms / 1000, function tick() {
    fn();
    timer = DangaSocket.addTimer(ms / 1000, tick);
  });
  return { stop: () => timer.cancel() };
}

/** A silent object with an idle timeout, and an onIdle that can be told what to do. */
class Quiet extends Discard {
  idleCalls = 0;
  keepOpen = false;
  onIdleHook: (() => void) | null = null;

  override onIdle(): void {
    this.idleCalls++;
    this.onIdleHook?.();
    if (!this.keepOpen) super.onIdle();
  }
}

function quietPair(): [Quiet, Quiet] {
  const [a, b] = socketPair();
  return [new Quiet(a), new Quiet(b)];
}

test('onIdle overridden to keep the connection: called again after each further timeout, and the object stays open', BOUND, async () => {
  const [kept] = quietPair();
  kept.keepOpen = true;
  kept.setIdleTimeout(1);
  await runUntil(() => kept.idleCalls === 3);
  assert.equal(kept.closed, false);
  assert.equal(kept.closeReason(), null);
});

test('an onIdle that re-arms its timeout (setIdleTimeout inside onIdle) does not start another sweep', BOUND, async () => {
  const [pinger, control] = quietPair();
  pinger.keepOpen = true;
  pinger.onIdleHook = () => pinger.setIdleTimeout(1);
  pinger.setIdleTimeout(1);
  control.keepOpen = true;
  control.setIdleTimeout(1);
  await runUntil(() => pinger.idleCalls === 3);
  // One timer for the whole loop: the sweep (no other timer is set here).
  assert.equal(reactor.timers.size, 1);
});

test('setIdleTimeout(0) turns the timeout off', BOUND, async () => {
  const [off, control] = quietPair();
  off.setIdleTimeout(1);
  off.setIdleTimeout(0);
  control.setIdleTimeout(1);
  await runUntil(() => control.closed);
  assert.equal(control.closeReason(), 'idle');
  assert.equal(off.closed, false);
  assert.equal(off.idleCalls, 0);
  // The last timeout gone, the sweep stops: no timer left.
  control.close('done');
  assert.equal(reactor.timers.size, 0);
});

test('bytes going out are activity; bytes queued for a peer that stopped reading are not', BOUND, async () => {
  const [writer, reader] = quietPair();
  const [stalled, stalledPeer] = quietPair();
  const [control] = quietPair();
  reader.watchRead(true);
  writer.setIdleTimeout(1);
  control.setIdleTimeout(1);
  // A byte every 100 ms to a peer that reads it.
  const tick = (): void => {
    if (writer.closed) return;
    writer.write('x');
    DangaSocket.addTimer(0.1, tick);
  };
  tick();
  // 8 MiB to a peer that never reads: the queue stays full, nothing goes out.
  stalled.write(Buffer.alloc(8 * 1024 * 1024));
  stalled.setIdleTimeout(1);
  await runUntil(() => control.closed);
  assert.equal(writer.closed, false, 'the writer was active');
  await runUntil(() => stalled.closed);
  assert.equal(stalled.closeReason(), 'idle');
  // Its peer has no timeout of its own (it closes at the hangup, not for idleness).
  assert.equal(stalledPeer.idleCalls, 0);
  assert.notEqual(stalledPeer.closeReason(), 'idle');
});

test(
  'with an error handler set, an onIdle that throws costs only its object: the handler gets the error, the object is closed, the others are swept on',
  BOUND,
  async () => {
    const seen: unknown[] = [];
    DangaSocket.setErrorHandler((err, obj) => seen.push([(err as Error).message, obj]));
    const [thrower, kept] = quietPair();
    const [control] = quietPair();
    thrower.onIdleHook = (): void => {
      throw new Error('onIdle failed');
    };
    thrower.keepOpen = true;
    thrower.setIdleTimeout(1);
    kept.keepOpen = true;
    kept.setIdleTimeout(1);
    control.setIdleTimeout(1);
    await runUntil(() => control.closed && kept.idleCalls >= 1);
    assert.deepEqual(seen, [['onIdle failed', thrower]]);
    assert.equal(thrower.closeReason(), 'exception');
    assert.equal(kept.closed, false);
    assert.equal(control.closeReason(), 'idle');
  },
);

test('setIdleTimeout bad arguments: coded TypeError/RangeError; on a closed object it does nothing', BOUND, () => {
  const [q] = quietPair();
  const cases: Array<[unknown, ErrorConstructor, string]> = [
    ['1', TypeError, 'ERR_INVALID_ARG_TYPE'],
    [undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [-1, RangeError, 'ERR_OUT_OF_RANGE'],
    [Number.NaN, RangeError, 'ERR_OUT_OF_RANGE'],
    [Infinity, RangeError, 'ERR_OUT_OF_RANGE'],
    [2 ** 31, RangeError, 'ERR_OUT_OF_RANGE'],
  ];
  for (const [seconds, type, code] of cases) {
    assert.throws(
      () => q.setIdleTimeout(seconds as number),
      (err: Error & { code?: string }) => err instanceof type && err.code === code,
      String(seconds),
    );
  }
  q.close('done');
  q.setIdleTimeout(1);
  assert.equal(reactor.idle.size, 0);
});
