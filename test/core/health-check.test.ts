/**
 * HealthCheck (src/core/health-check.ts): 200 "up" in service, 503
 * "draining" from drain() or the start of a graceful shutdown; drain()
 * resolves once the balancer has asked the given number of times (counted,
 * not timed) or at its timeout; drainAndShutdown() ends the loop; bad
 * options and bad requests. Real sockets (and the simulated network).
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, DangaSocket, HealthCheck, Listener, connectTcp, listenTcp, type Sock } from 'danga-socket';
import { runUntil } from '../helpers.js';

afterEach(() => DangaSocket.reset());

class Client extends Connection {
  got = '';
  ended = false;
  override eventRead(): void {
    const buf = this.read(65536);
    if (buf === null) {
      this.ended = true;
      this.close('eof');
      return;
    }
    this.got += buf.toString('latin1');
  }
  override eventHup(): void {
    this.ended = true;
    this.close('hup');
  }
  /** The balancer is not part of the shutdown: it reads its answer to the end. */
  override onShutdown(): void {}
}

function start(): { health: HealthCheck; port: number } {
  const health = new HealthCheck(listenTcp({ host: '127.0.0.1', port: 0 }));
  return { health, port: (health.sock()?.localAddress() as { port: number }).port };
}

function ask(port: number, request = 'GET /health HTTP/1.0\r\nUser-Agent: test\r\n\r\n'): Client {
  const c = new Client(connectTcp({ host: '127.0.0.1', port }));
  c.write(request);
  return c;
}

async function check(port: number, request?: string): Promise<string> {
  const c = ask(port, request);
  await runUntil(() => c.ended);
  return c.got;
}

test('200 "up" in service; after drain() 503 "draining"; HEAD gets no body; drain() resolves after that many checks', async () => {
  const { health, port } = start();
  const up = await check(port);
  assert.match(up, /^HTTP\/1\.0 200 OK\r\n/);
  assert.match(up, /\r\nContent-Length: 3\r\n/);
  assert.ok(up.endsWith('\r\n\r\nup\n'));
  assert.ok((await check(port, 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n')).endsWith('\r\n\r\n'));
  assert.equal(health.draining, false);
  let drained = false;
  void health.drain({ checks: 3, timeout: 3600 }).then(() => (drained = true));
  assert.equal(health.draining, true);
  for (let i = 1; i <= 3; i++) {
    assert.equal(drained, false, `not drained before check ${i}`);
    const answer = await check(port);
    assert.match(answer, /^HTTP\/1\.0 503 Service Unavailable\r\n/);
    assert.ok(answer.endsWith('\r\n\r\ndraining\n'));
  }
  await runUntil(() => drained);
  assert.equal(health.drainedChecks, 3);
});

test('drain() without a balancer asking resolves at its timeout; checks: 0 at once', async () => {
  const { health } = start();
  await health.drain({ checks: 0 });
  let drained = false;
  void health.drain({ checks: 5, timeout: 0.05 }).then(() => (drained = true));
  await runUntil(() => drained);
  assert.equal(health.drainedChecks, 0);
});

test('a graceful shutdown: a check already in hand is answered "draining", then everything closes and the loop ends', async () => {
  const { health, port } = start();
  const service = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s: Sock) => new Connection(s));
  const c = new Client(connectTcp({ host: '127.0.0.1', port }));
  await runUntil(() => health.connections() === 1);
  DangaSocket.addTimer(0, () => {
    void DangaSocket.shutdown({ timeout: 30 });
    c.write('GET /health HTTP/1.0\r\n\r\n');
  });
  await DangaSocket.eventLoop();
  assert.match(c.got, /^HTTP\/1\.0 503 /);
  assert.equal(health.draining, true);
  assert.equal(health.closed, true);
  assert.equal(service.closed, true);
});

test('drainAndShutdown(): drains, then shuts down; the loop ends', async () => {
  const { health, port } = start();
  const service = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s: Sock) => new Connection(s));
  const checks: Client[] = [];
  let done = false;
  DangaSocket.addTimer(0, () => {
    void health.drainAndShutdown({ checks: 2, timeout: 3600, shutdownTimeout: 30 }).then(() => (done = true));
    checks.push(ask(port), ask(port));
  });
  await DangaSocket.eventLoop();
  await runUntil(() => done);
  assert.equal(service.closed, true);
  assert.equal(health.drainedChecks, 2);
  for (const c of checks) assert.match(c.got, /^HTTP\/1\.0 503 /);
});

test('bad options throw with a code; a request head over 8 KiB closes that check only', async () => {
  const { health, port } = start();
  assert.throws(() => health.drain(null as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => health.drain({ checks: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => health.drain({ checks: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => health.drain({ timeout: '1' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => health.drain({ timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(health.drainAndShutdown({ shutdownTimeout: 'x' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(health.draining, false, 'a rejected call changed nothing');
  const before = DangaSocket.stats().closed.health_bad_request ?? 0;
  const c = ask(port, 'GET /' + 'x'.repeat(9000));
  await runUntil(() => c.ended);
  assert.equal(c.got, '');
  assert.equal(DangaSocket.stats().closed.health_bad_request, before + 1);
  assert.match(await check(port), /^HTTP\/1\.0 200 /);
});
