/**
 * The Sock helpers' own methods: socketError() after a connect, shutdown()
 * half-closes, setNoDelay(). On both engines.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { DangaSocket, listenTcp, connectTcp, socketPair, type Sock } from 'danga-socket';
import { runUntil, Listener, Collector } from './helpers.js';

afterEach(() => DangaSocket.reset());

/** Connects, and records socketError() when the connect resolves either way. */
class Connector extends DangaSocket {
  result: number | null = null;
  constructor(sock: Sock) {
    super(sock);
    this.watchWrite(true);
  }
  private settle(): void {
    if (this.result === null) this.result = this.sock()!.socketError();
    this.watchWrite(false);
  }
  override eventWrite(): void {
    this.settle();
  }
  override eventErr(): void {
    this.settle();
    this.close('err');
  }
  override eventHup(): void {
    this.settle();
    this.close('hup');
  }
}

test('socketError(): 0 once a connect succeeded, ECONNREFUSED when it was refused', async () => {
  const l = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), () => {});
  const port = (l.sock()!.localAddress() as { port: number }).port;
  const ok = new Connector(connectTcp({ host: '127.0.0.1', port }));
  await runUntil(() => ok.result !== null);
  assert.equal(ok.result, 0);

  const closed = listenTcp({ host: '127.0.0.1', port: 0 });
  const deadPort = (closed.localAddress() as { port: number }).port;
  closed.close();
  const refused = new Connector(connectTcp({ host: '127.0.0.1', port: deadPort }));
  await runUntil(() => refused.result !== null);
  assert.equal(refused.result, constants.errno.ECONNREFUSED);
});

test("shutdown('write') half-closes: the peer reads end of stream and can still answer", async () => {
  const answered: Collector[] = [];
  class Answerer extends Collector {
    override eventRead(): void {
      const buf = this.read(65536);
      if (buf === null) {
        // The request is complete: answer, then close.
        this.write(`got ${this.text()}`);
        this.write(() => this.close('done'));
        return;
      }
      if (buf.length > 0) this.chunks.push(Buffer.from(buf));
    }
  }
  const l = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => answered.push(new Answerer(s)));
  const port = (l.sock()!.localAddress() as { port: number }).port;
  const client = new Collector(connectTcp({ host: '127.0.0.1', port }));
  client.write('request');
  client.write(() => client.sock()!.shutdown('write'));
  await runUntil(() => client.eof);
  assert.equal(client.text(), 'got request');
  const [a, b] = socketPair();
  assert.throws(() => a.shutdown('sideways' as 'write'), /"how"/);
  a.close();
  b.close();
});

test('setNoDelay() applies to TCP and is ignored elsewhere', async () => {
  const accepted: Sock[] = [];
  const l = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => accepted.push(s));
  const port = (l.sock()!.localAddress() as { port: number }).port;
  const c = connectTcp({ host: '127.0.0.1', port });
  c.setNoDelay();
  c.setNoDelay(false);
  await runUntil(() => accepted.length === 1);
  (accepted[0] as Sock).setNoDelay(true);
  const [a, b] = socketPair();
  a.setNoDelay(true);
  l.sock()!.setNoDelay(true);
  b.close();
  a.close();
  c.close();
});

test('listenTcp({ reusePort: true }): two listening sockets share a port (epoll); the stream engine refuses it clearly', () => {
  if (DangaSocket.engine() === 'node') {
    assert.throws(() => listenTcp({ host: '127.0.0.1', port: 0, reusePort: true }), { code: 'ERR_DANGA_NO_REUSEPORT' });
    return;
  }
  const first = listenTcp({ host: '127.0.0.1', port: 0, reusePort: true });
  const port = (first.localAddress() as { port: number }).port;
  const second = listenTcp({ host: '127.0.0.1', port, reusePort: true });
  assert.equal((second.localAddress() as { port: number }).port, port);
  assert.throws(() => listenTcp({ host: '127.0.0.1', port }), { code: 'EADDRINUSE' });
  first.close();
  second.close();
});

test('DANGA_DEBUG=1 prints each close with its reason', async () => {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const script =
    "import { DangaSocket, socketPair } from 'danga-socket'; class Conn extends DangaSocket {} const [a, b] = socketPair(); new Conn(a).close('because'); b.close(); DangaSocket.reset();";
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    env: { ...process.env, DANGA_DEBUG: '1' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^>>> Closing #-?\d+ \(Conn\) due to because$/m);
});
