/**
 * The node engine's socket helpers, called directly (so they are tested in
 * the epoll run too, where listenTls uses them): listen errors throw at
 * once with the epoll engine's code and syscall, nothing is emitted
 * afterwards, and no fd is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listenTcp, listenUnix } from '../../../src/engines/node/sockets.js';

/**
 * The process's open sockets (their inodes, sorted). Sockets only: Node
 * itself opens and closes files on its own threads at any time (from Node 22,
 * loading node:tls reads the CA bundle on a worker thread), so a count of
 * every fd can change under a test that opened nothing.
 */
const openSockets = (): string[] =>
  readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return ''; // closed meanwhile (the directory's own fd)
      }
    })
    .filter((target) => target.startsWith('socket:'))
    .sort();
/** Lets a turn of Node's loop pass: what a failed listen would emit on the next tick has been emitted. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface ListenError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
  path?: string;
}

test('listenTcp on a port in use throws EADDRINUSE at once, as the epoll engine does; nothing is emitted later', async () => {
  const first = listenTcp('127.0.0.1', 0, 511, false);
  // (Closed whatever happens: a listening server left open would keep the file from ending.)
  try {
    const port = (first.localAddress() as { port: number }).port;
    const before = openSockets();
    let thrown: ListenError | null = null;
    try {
      listenTcp('127.0.0.1', port, 511, false);
    } catch (err) {
      thrown = err as ListenError;
    }
    assert.ok(thrown !== null, 'listenTcp threw');
    assert.equal(thrown.code, 'EADDRINUSE');
    assert.equal(thrown.syscall, 'bind');
    assert.ok(typeof thrown.errno === 'number' && thrown.errno < 0);
    assert.equal(thrown.message, `bind EADDRINUSE 127.0.0.1:${port}`);
    assert.equal(thrown.address, '127.0.0.1');
    assert.equal(thrown.port, port);
    // Node emits the same failure as the dropped server's 'error' on the next
    // tick; were it unhandled, this process would die of it here.
    await nextTurn();
    await nextTurn();
    assert.deepEqual(openSockets(), before, 'the failed socket was closed');
  } finally {
    first.close();
  }
});

const nonlocalBind = (() => {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_nonlocal_bind', 'utf8').trim() !== '0';
  } catch {
    return false;
  }
})();

test(
  'listenTcp on an address this host does not have throws EADDRNOTAVAIL (bind)',
  { skip: nonlocalBind ? 'this host allows binding non-local addresses (ip_nonlocal_bind)' : false },
  () => {
    // 192.0.2.0/24 is TEST-NET-1: never assigned to a host.
    assert.throws(
      () => listenTcp('192.0.2.1', 0, 511, false),
      (err: ListenError) => {
        assert.equal(err.code, 'EADDRNOTAVAIL');
        assert.equal(err.syscall, 'bind');
        return true;
      },
    );
  },
);

test('listenUnix: ENOENT in a missing directory, EADDRINUSE on a path in use; localAddress() is the path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'danga-node-listen-'));
  try {
    assert.throws(
      () => listenUnix(join(dir, 'missing', 'x.sock'), 511),
      (err: ListenError) => {
        assert.equal(err.code, 'ENOENT');
        assert.equal(err.syscall, 'bind');
        assert.equal(err.path, join(dir, 'missing', 'x.sock'));
        return true;
      },
    );
    const path = join(dir, 'x.sock');
    const l = listenUnix(path, 511);
    assert.deepEqual(l.localAddress(), { path, family: 'unix' });
    assert.throws(
      () => listenUnix(path, 511),
      (err: ListenError) => err.code === 'EADDRINUSE' && err.syscall === 'bind',
    );
    await nextTurn();
    l.close();
    assert.equal(l.localAddress(), null, 'null once closed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
