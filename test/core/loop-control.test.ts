/**
 * Controlling the loop and watching it: DangaSocket.stop(), error isolation
 * (setErrorHandler, async handlers included), the logger hook, the counters
 * (stats), closeReason(), requireSock() and descriptorMap(cls). On both
 * engines, on real sockets.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, DangaSocket, socketPair, type Sock } from 'danga-socket';
import { runUntil } from '../helpers.js';

afterEach(() => {
  DangaSocket.setErrorHandler(null);
  DangaSocket.setLogger(null);
  DangaSocket.reset();
});

class Quiet extends Connection {
  override eventRead(): void {
    this.read(65536);
  }
}

test('stop() ends the loop from a timer, from a handler and from plain Node code; not running, it does nothing', async () => {
  DangaSocket.stop(); // nothing runs: no effect on the next eventLoop()
  let fired = false;
  DangaSocket.addTimer(0, () => {
    fired = true;
    DangaSocket.stop();
  });
  await DangaSocket.eventLoop();
  assert.ok(fired);

  const [a, b] = socketPair();
  let reads = 0;
  class Stopper extends Connection {
    override eventRead(): void {
      reads++;
      this.read(100);
      DangaSocket.stop();
    }
  }
  new Stopper(a);
  new Quiet(b).write('x');
  await DangaSocket.eventLoop();
  assert.equal(reads, 1);

  // From outside the loop (a signal handler is such code): the loop waits, and stop() wakes it.
  setImmediate(() => DangaSocket.stop());
  await DangaSocket.eventLoop();
});

test('without an error handler, a throwing handler rejects eventLoop() (1.62)', async () => {
  const [a, b] = socketPair();
  class Thrower extends Connection {
    override eventRead(): void {
      throw new Error('boom');
    }
  }
  new Thrower(a);
  new Quiet(b).write('x');
  await assert.rejects(DangaSocket.eventLoop(), /boom/);
});

test('setErrorHandler: a throwing or rejecting handler closes only its object; the others go on', async () => {
  const seen: Array<[string, string]> = [];
  DangaSocket.setErrorHandler((err, obj) => seen.push([(err as Error).message, obj.constructor.name]));
  const [a, b] = socketPair();
  const [c, d] = socketPair();
  const [e, f] = socketPair();
  class Thrower extends Connection {
    override eventRead(): void {
      this.read(100);
      throw new Error('sync');
    }
  }
  class AsyncThrower extends Connection {
    // eslint-disable-next-line @typescript-eslint/require-await, @typescript-eslint/no-misused-promises -- the case under test
    override async eventRead(): Promise<void> {
      this.read(100);
      throw new Error('async');
    }
  }
  let echoed = '';
  class Good extends Connection {
    override eventRead(): void {
      const buf = this.read(100);
      if (buf !== null) echoed += buf.toString();
    }
  }
  const t = new Thrower(a);
  const at = new AsyncThrower(c);
  const g = new Good(e);
  new Quiet(b).write('1');
  new Quiet(d).write('2');
  new Quiet(f).write('ok');
  await runUntil(() => t.closed && at.closed && echoed === 'ok');
  assert.deepEqual(
    seen.sort((x, y) => x[0].localeCompare(y[0])),
    [
      ['async', 'AsyncThrower'],
      ['sync', 'Thrower'],
    ],
  );
  assert.equal(t.closeReason(), 'exception');
  assert.equal(at.closeReason(), 'exception');
  assert.equal(g.closed, false);
});

test('an error handler that throws ends the loop; setErrorHandler(null) restores 1.62', async () => {
  DangaSocket.setErrorHandler(() => {
    throw new Error('fatal');
  });
  const [a, b] = socketPair();
  class Thrower extends Connection {
    override eventRead(): void {
      this.read(100);
      throw new Error('boom');
    }
  }
  new Thrower(a);
  new Quiet(b).write('x');
  await assert.rejects(DangaSocket.eventLoop(), /fatal/);
  assert.throws(() => DangaSocket.setErrorHandler(5 as never), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('setLogger receives debugMsg and dumpError output; null restores stderr', () => {
  const lines: Array<[string, string]> = [];
  DangaSocket.setLogger((level, message) => lines.push([level, message]));
  DangaSocket.debugMsg('hello %d', 42);
  const [a, b] = socketPair();
  const q = new Quiet(a);
  q.dumpError('oops');
  assert.deepEqual(lines[0], ['debug', '>>> hello 42\n']);
  assert.equal(lines[1]?.[0], 'error');
  assert.match(lines[1]?.[1] ?? '', /^ERROR: oops\n\tQuiet\(R\): open/);
  assert.throws(() => DangaSocket.setLogger('x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  b.close();
});

test('stats(): open objects, bytes in and out, closes by reason; closeReason() after close', async () => {
  const before = DangaSocket.stats();
  const [a, b] = socketPair();
  let got = 0;
  class Counter extends Connection {
    override eventRead(): void {
      const buf = this.read(65536);
      if (buf !== null) got += buf.length;
    }
  }
  const r = new Counter(a);
  const w = new Quiet(b);
  assert.equal(DangaSocket.stats().open, before.open + 2);
  assert.equal(DangaSocket.stats().opened, before.opened + 2);
  w.write(Buffer.alloc(1000));
  await runUntil(() => got === 1000);
  const mid = DangaSocket.stats();
  assert.equal(mid.bytesOut - before.bytesOut, 1000);
  assert.equal(mid.bytesIn - before.bytesIn, 1000);
  assert.equal(r.closeReason(), null);
  r.close('done-by-test');
  w.stealSocket()?.close();
  const after = DangaSocket.stats();
  assert.equal(after.open, before.open);
  assert.equal(after.closed['done-by-test'], 1);
  assert.equal(after.closed.stolen, (before.closed.stolen ?? 0) + 1);
  assert.equal(r.closeReason(), 'done-by-test');
  assert.equal(w.closeReason(), 'stolen');
});

test('requireSock() returns the socket, typed, and throws once closed; descriptorMap(cls) filters by class', () => {
  const [a, b] = socketPair();
  class Other extends Quiet {}
  const q = new Quiet(a);
  const o = new Other(b);
  const sock: Sock = q.requireSock();
  assert.equal(sock, a);
  const others = DangaSocket.descriptorMap(Other);
  assert.deepEqual([...others.values()], [o]);
  assert.equal(DangaSocket.descriptorMap(Quiet).size, 2);
  assert.throws(() => DangaSocket.descriptorMap(5 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  q.close();
  assert.throws(() => q.requireSock(), { code: 'ERR_SOCKET_CLOSED' });
  o.close();
});

test('the class methods reach the one loop through any subclass, typed as on DangaSocket', () => {
  const [a, b] = socketPair();
  class Other extends Quiet {}
  const q = new Quiet(a);
  const o = new Other(b);
  assert.ok(q instanceof DangaSocket && o instanceof Connection && o instanceof Quiet);
  assert.equal(Quiet.watchedSockets(), DangaSocket.watchedSockets());
  assert.equal(Other.engine(), DangaSocket.engine());
  assert.equal(Connection.stats().open, DangaSocket.stats().open);
  // The type annotations are the check that the generic and overloaded statics keep their types.
  const all: Map<number, DangaSocket<object>> = Other.descriptorMap();
  assert.equal(all, DangaSocket.descriptorMap());
  const others: Map<number, Other> = Quiet.descriptorMap(Other);
  assert.deepEqual([...others.values()], [o]);
  const timer = Other.addTimer(60, () => assert.fail('cancelled'));
  timer.cancel();
  assert.throws(() => Quiet.setLoopTimeout(Number.NaN), { code: 'ERR_OUT_OF_RANGE' });
  q.close();
  o.close();
});
