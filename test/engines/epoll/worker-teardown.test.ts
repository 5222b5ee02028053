/**
 * A worker running the epoll engine that is terminated (or otherwise torn
 * down) closes every fd the engine owned there: listening sockets,
 * accepted and connected sockets, sockets adopted from a number, socket
 * pairs and the fd kept reserved after STARTTLS. Its peers see end of
 * stream or a reset, and the process's fds return to what they were.
 *
 * Each environment (the main thread, each worker) owns its own sockets: a
 * worker's teardown closes none of another's.
 *
 * Nothing waits on time: each step waits for the event it needs (a message,
 * 'connect', 'close', 'exit').
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { DangaSocket, socketPair } from 'danga-socket';
import { haveOpenssl, selfSignedCert } from '../../helpers.js';
import type { TeardownWorkerData } from './fixtures/teardown-worker.js';

const skip = DangaSocket.engine() !== 'epoll' ? 'the native epoll engine only (the node engine owns no fds itself)' : false;

let tls: { key: string; cert: string } | null = null;

before(() => {
  if (skip === false && haveOpenssl) tls = selfSignedCert();
});

/** What fd `fd` refers to ('socket:[12345]'), or null when it is not open. */
function fdTarget(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/**
 * The process's open fds other than files: '12 -> socket:[12345]', pipes,
 * epoll fds, eventfds. (Node opens some files lazily, /dev/null under
 * valgrind: not ours, and no socket.)
 */
const openFds = (): string[] =>
  readdirSync('/proc/self/fd')
    .map((fd) => `${fd} -> ${fdTarget(Number(fd)) ?? '/'}`)
    .filter((line) => !line.includes(' -> /'))
    .sort();

/** A started worker's sockets and the main thread's peers of them. */
interface Running {
  worker: Worker;
  /** '<fd> -> <target>' for every fd the worker's engine owned, read while it ran. */
  owned: string[];
  /** The main thread's ends of the worker's connections, with whether each has closed. */
  peers: { socket: net.Socket; closed: Promise<unknown> }[];
  server: net.Server;
  unixServer: net.Server;
  dir: string;
}

const ACCEPTS = 20;
const UNIX_ACCEPTS = 5;
const CONNECTS = 20;
const UNIX_CONNECTS = 5;

/** Starts a worker that owns sockets of every kind, and waits until all of its connections are up. */
async function startWorker(): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'danga-teardown-'));
  // Every event below (a message, a connection) wakes the one waiter.
  let wake: () => void = () => {};
  let failure: Error | null = null;
  const waitFor = async (done: () => boolean): Promise<void> => {
    while (!done()) {
      if (failure !== null) throw failure;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };

  const peers: Running['peers'] = [];
  const track = (socket: net.Socket): void => {
    // A reset arrives as an error before 'close'.
    socket.on('error', () => {});
    peers.push({ socket, closed: once(socket, 'close') });
    wake();
  };
  const server = net.createServer(track);
  const unixServer = net.createServer(track);
  server.listen(0, '127.0.0.1');
  unixServer.listen(join(dir, 'main.sock'));
  await Promise.all([once(server, 'listening'), once(unixServer, 'listening')]);
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');

  const workerData: TeardownWorkerData = {
    accepts: ACCEPTS,
    unixAccepts: UNIX_ACCEPTS,
    unixPath: join(dir, 'worker.sock'),
    peerPort: address.port,
    connects: CONNECTS,
    peerPath: join(dir, 'main.sock'),
    unixConnects: UNIX_CONNECTS,
    tls,
  };
  const worker = new Worker(new URL('./fixtures/teardown-worker.js', import.meta.url), { workerData });
  const messages: { port?: number; ready?: boolean; fds?: number[] }[] = [];
  const onError = (err: Error): void => {
    failure = err;
    wake();
  };
  const onExit = (code: number): void => onError(new Error(`the worker exited early (${code})`));
  worker.on('error', onError);
  worker.on('exit', onExit);
  worker.on('message', (m: { port?: number; ready?: boolean; fds?: number[] }) => {
    messages.push(m);
    wake();
  });

  await waitFor(() => messages.length === 1);
  const { port } = messages[0]!;
  assert.ok(typeof port === 'number' && port > 0);
  let connected = 0;
  const connect = (c: net.Socket): void => {
    track(c);
    c.once('connect', () => {
      connected++;
      wake();
    });
  };
  for (let i = 0; i < ACCEPTS; i++) connect(net.connect(port, '127.0.0.1'));
  for (let i = 0; i < UNIX_ACCEPTS; i++) connect(net.connect(workerData.unixPath));
  // The worker has accepted the main thread's clients; the main thread
  // has accepted the worker's connections (and the adopted one).
  const total = ACCEPTS + UNIX_ACCEPTS + CONNECTS + UNIX_CONNECTS + 1;
  await waitFor(() => messages.length === 2 && connected === ACCEPTS + UNIX_ACCEPTS && peers.length === total);
  const { ready, fds } = messages[1]!;
  assert.ok(ready === true && Array.isArray(fds));
  worker.off('exit', onExit);

  const owned = fds.map((fd) => `${fd} -> ${fdTarget(fd) ?? ''}`);
  for (const line of owned) assert.match(line, / -> socket:\[\d+\]$/, 'the worker reported open sockets');
  // Two listeners, every connection held, the adopted one, a pair with
  // an object on one end and a bare pair.
  assert.equal(owned.length, 2 + total + 4);
  return { worker, owned, peers, server, unixServer, dir };
}

/** Terminates the worker (or has it call process.exit()) and waits for it to be gone. */
async function terminate(r: Running, how: 'terminate' | 'exit' = 'terminate'): Promise<void> {
  const exited = once(r.worker, 'exit');
  if (how === 'terminate') await r.worker.terminate();
  else r.worker.postMessage('exit');
  const [code] = (await exited) as [number];
  assert.equal(code, how === 'terminate' ? 1 : 0);
}

/** The owned fds that still refer to what they referred to while the worker ran. */
const stillOpen = (owned: string[]): string[] => owned.filter((line) => fdTarget(Number(line.split(' ')[0])) === line.split(' -> ')[1]);

async function finish(r: Running): Promise<void> {
  // Every peer in the main thread sees end of stream or a reset.
  await Promise.all(r.peers.map((p) => p.closed));
  r.server.close();
  r.unixServer.close();
  await Promise.all([once(r.server, 'close'), once(r.unixServer, 'close')]);
  rmSync(r.dir, { recursive: true, force: true });
}

/** After a failure: nothing of the main thread's keeps the test process alive. */
function abandon(r: Running | null): void {
  if (r === null) return;
  void r.worker.terminate();
  for (const p of r.peers) p.socket.destroy();
  r.server.close();
  r.unixServer.close();
  rmSync(r.dir, { recursive: true, force: true });
}

/** A worker that neither owns nor opens anything of ours: Node's own fds of a worker come and go with it. */
async function warmUp(): Promise<void> {
  const w = new Worker('', { eval: true });
  await once(w, 'exit');
}

for (const how of ['terminate', 'exit'] as const) {
  const name =
    how === 'terminate'
      ? 'a terminated worker closes every fd the epoll engine owned there; its peers see EOF'
      : 'a worker that calls process.exit() closes every fd the epoll engine owned there; its peers see EOF';
  test(name, { skip, timeout: 90_000 }, async () => {
    await warmUp();
    const baseline = openFds();
    // The main thread's own sockets of the engine, which the worker's teardown must leave alone.
    const [mainA, mainB] = socketPair();
    const mainOwn = [mainA.fd, mainB.fd].map((fd) => `${fd} -> ${fdTarget(fd) ?? ''}`);
    let r: Running | null = null;
    try {
      r = await startWorker();
      await terminate(r, how);
      assert.deepEqual(stillOpen(r.owned), [], 'no fd of the worker is still open');
      assert.deepEqual(stillOpen(mainOwn), mainOwn, "the main thread's sockets stay open");
      await finish(r);
      r = null;
    } finally {
      abandon(r);
      mainA.close();
      mainB.close();
    }
    assert.deepEqual(openFds(), baseline, 'the process has the sockets, pipes and epoll fds it had before the worker');
  });
}

test("each worker owns its own sockets: one's teardown closes none of the other's", { skip, timeout: 90_000 }, async () => {
  await warmUp();
  const baseline = openFds();
  let first: Running | null = null;
  let second: Running | null = null;
  try {
    first = await startWorker();
    second = await startWorker();
    await terminate(first);
    assert.deepEqual(stillOpen(first.owned), [], 'the first worker closed its fds');
    assert.deepEqual(stillOpen(second.owned), second.owned, "the second worker's fds are all open");
    await finish(first);
    first = null;
    await terminate(second);
    assert.deepEqual(stillOpen(second.owned), [], 'the second worker closed its fds');
    await finish(second);
    second = null;
  } finally {
    abandon(first);
    abandon(second);
  }
  assert.deepEqual(openFds(), baseline, 'the process has the sockets, pipes and epoll fds it had before the workers');
});
