/**
 * ListenSock: a listening socket of the node engine over a net.Server.
 * Connections wait, paused, until accept(); a listen that failed where Node
 * could not say why at once (before Node 20.16) is reported through
 * eventErr, with the Error in `error` and its errno in socketError(), and the
 * socket has no local address. Accept failures (out of fds, in a child
 * process under a small fd limit; errors Node emits) are thrown by accept()
 * once, and accepting goes on.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DangaSocket, type Sock } from 'danga-socket';
import { ListenSock } from '../../../src/engines/node/listen-sock.js';
import { listenTcp, listenUnix } from '../../../src/engines/node/sockets.js';
import { Echo, runUntil } from '../../helpers.js';

afterEach(() => DangaSocket.reset());

/** Records what the loop reports for a listening socket. */
class Watcher extends DangaSocket {
  readonly events: string[] = [];
  readonly accepted: Sock[] = [];
  /** While false, eventRead leaves the connections waiting. */
  accepting = true;

  constructor(sock: Sock) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    this.events.push('read');
    if (!this.accepting) return;
    let s: Sock | null;
    while ((s = (this.sock() as Sock).accept()) !== null) this.accepted.push(s);
  }

  override eventErr(): void {
    this.events.push('err');
    this.close('err');
  }
}

test('a server whose listen failed: eventErr, the Error in `error`, its errno in socketError(), no local address', async () => {
  const first = listenTcp('127.0.0.1', 0, 511, false);
  const port = (first.localAddress() as { port: number }).port;
  // Node's documented listen() fails on a later tick: the same course a
  // listen takes on a Node without the listen diagnostics channel.
  const server = net.createServer({ pauseOnConnect: true });
  server.listen(port, '127.0.0.1');
  const sock = new ListenSock(server, null, 511);
  assert.equal(sock.localAddress(), null);
  assert.equal(sock.error, null, 'not known yet');
  const w = new Watcher(sock);
  await runUntil(() => w.closed);
  assert.deepEqual(w.events, ['err']);
  // (Read through a function: the assertion above narrowed `sock.error` to null.)
  const errorOf = (s: ListenSock): (Error & { code?: string }) | null => s.error;
  assert.equal(errorOf(sock)?.code, 'EADDRINUSE');
  assert.equal(sock.socketError(), osConstants.errno.EADDRINUSE);
  assert.equal(sock.localAddress(), null);
  first.close();
});

test('connections wait, paused, until accept(); readable while one waits; close() drops those not accepted', async () => {
  const l = listenTcp('127.0.0.1', 0, 511, false);
  const port = (l.localAddress() as { port: number }).port;
  const w = new Watcher(l);
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  await runUntil(() => w.accepted.length === 1);
  assert.equal(w.accepted[0]!.engine, 'node');
  assert.equal(l.accept(), null, 'none waiting');
  // One nobody accepts: the socket stays readable (level-triggered) while it waits.
  w.accepting = false;
  const readsBefore = w.events.length;
  const late = net.connect(port, '127.0.0.1');
  let lateClosed = false;
  late.on('error', () => {});
  late.on('close', () => {
    lateClosed = true;
  });
  await runUntil(() => w.events.length >= readsBefore + 2);
  assert.deepEqual(new Set(w.events), new Set(['read']));
  // Closing the listening socket closes the connection that waited.
  w.close('done');
  await runUntil(() => lateClosed);
  w.accepted[0]!.close();
  client.destroy();
});

/** What a client saw first: the greeting, end of stream, or an error's code. */
function outcome(port: number, clients: net.Socket[]): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    clients.push(c);
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      got += d;
      if (got === 'hi\n') resolve('hi');
    });
    c.on('end', () => resolve(got === '' ? 'eof' : `eof after ${JSON.stringify(got)}`));
    c.on('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message));
  });
}

/** The stdout lines of a child process, waited for one by one. */
class Lines {
  private readonly lines: string[] = [];
  private partial = '';
  private wake: (() => void) | null = null;
  private ended = false;

  constructor(child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      this.partial += d;
      let nl: number;
      while ((nl = this.partial.indexOf('\n')) >= 0) {
        this.lines.push(this.partial.slice(0, nl));
        this.partial = this.partial.slice(nl + 1);
      }
      this.wake?.();
    });
    child.stdout!.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  /** Every line read so far. */
  get all(): readonly string[] {
    return this.lines;
  }

  /** Resolves with the first line (read so far or to come) that `match` accepts. */
  async find(match: (line: string) => boolean): Promise<string> {
    for (;;) {
      const line = this.lines.find(match);
      if (line !== undefined) return line;
      if (this.ended) throw new Error(`the child's output ended without the line: ${this.lines.join(' | ')}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
  }
}

const FD_LIMIT = 40;
const haveprlimit = spawnSync('prlimit', ['--nofile=64:64', 'true']).status === 0;

test(
  'out of fds: accept() throws EMFILE (code, errno, syscall) once, no client hangs, and new clients are served once fds are free',
  { timeout: 60_000, skip: haveprlimit ? false : 'prlimit (util-linux) is needed to start the server under a small fd limit' },
  async () => {
    const fixture = fileURLToPath(new URL('./fixtures/emfile-server.js', import.meta.url));
    const child = spawn(process.execPath, [fixture], {
      env: { ...process.env, DANGA_ENGINE: 'node' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const out = new Lines(child);
    const clients: net.Socket[] = [];
    try {
      const port = Number((await out.find((l) => l.startsWith('listening '))).split(' ')[1]);
      // The limit comes once the server listens: under it from the start, Node's
      // module loader (which opens a module graph's files concurrently) could
      // itself run out of fds, on a loaded machine, before the server was up.
      const limited = spawnSync('prlimit', ['--pid', String(child.pid), `--nofile=${FD_LIMIT}:${FD_LIMIT}`]);
      assert.equal(limited.status, 0, `prlimit --pid: ${String(limited.stderr)}`);
      // 100 clients against ~18 free fds: each learns its fate (no hang).
      const seen = await Promise.all(Array.from({ length: 100 }, () => outcome(port, clients)));
      const counts = new Map<string, number>();
      for (const s of seen) counts.set(s, (counts.get(s) ?? 0) + 1);
      const served = counts.get('hi') ?? 0;
      assert.ok(served > 0 && served < 100, `some served, some turned away: ${JSON.stringify([...counts])}`);
      for (const s of counts.keys()) assert.ok(['hi', 'eof', 'ECONNRESET'].includes(s), `a client saw ${s}`);
      // The error reaches accept() (at once, or once the fd check owed is due).
      await out.find((l) => l.startsWith('accept-error '));
      // Every line the child wrote before `pong` has been read.
      child.stdin.write('ping\n');
      await out.find((l) => l === 'pong');
      const errors = out.all.filter((l) => l.startsWith('accept-error ')).map((l) => JSON.parse(l.slice('accept-error '.length)) as Record<string, unknown>);
      assert.equal(errors.length, 1, `accept() threw once: ${out.all.join(' | ')}`);
      assert.deepEqual(errors[0], { code: 'EMFILE', errno: -osConstants.errno.EMFILE, syscall: 'accept', message: 'accept EMFILE' });
      // Free the fds: the listener is not dead, new clients are served.
      child.stdin.write('release\n');
      await out.find((l) => l === 'released');
      const later = await Promise.all(Array.from({ length: 10 }, () => outcome(port, clients)));
      assert.deepEqual(later, Array(10).fill('hi'));
    } finally {
      for (const c of clients) c.destroy();
      child.stdin.end();
      await exited;
    }
  },
);

/** A listener that records what accept() throws and goes on accepting. */
class Catcher extends DangaSocket {
  readonly thrown: Array<Error & { code?: string; errno?: number; syscall?: string }> = [];
  readonly accepted: Sock[] = [];
  errEvents = 0;

  constructor(sock: Sock) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    for (;;) {
      try {
        const s = (this.sock() as Sock).accept();
        if (s === null) return;
        this.accepted.push(s);
      } catch (err) {
        this.thrown.push(err as Error);
      }
    }
  }

  override eventErr(): void {
    this.errEvents++;
  }
}

test(
  "an accept error Node reports (the server's 'error' with syscall 'accept'): readable, thrown once by accept(), then accepting goes on",
  { timeout: 20_000 },
  async () => {
    const l = listenTcp('127.0.0.1', 0, 511, false);
    const port = (l.localAddress() as { port: number }).port;
    const c = new Catcher(l);
    // What Node's net.Server emits when libuv hands it an accept error (here
    // two in a row, before the loop runs): an ErrnoException of syscall 'accept'.
    const nodeError = (): Error => Object.assign(new Error('accept ENFILE'), { code: 'ENFILE', errno: -osConstants.errno.ENFILE, syscall: 'accept' });
    l.server.emit('error', nodeError());
    l.server.emit('error', nodeError());
    await runUntil(() => c.thrown.length > 0);
    assert.equal(c.thrown.length, 1, 'once per failure event');
    const err = c.thrown[0]!;
    assert.equal(err.code, 'ENFILE');
    assert.equal(err.errno, -osConstants.errno.ENFILE);
    assert.equal(err.syscall, 'accept');
    assert.equal(err.message, 'accept ENFILE');
    // Not a dead listener: no POLLERR, no kept error, and connections are accepted.
    assert.equal(l.error, null);
    assert.equal(l.socketError(), 0);
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => {});
    await runUntil(() => c.accepted.length === 1);
    assert.equal(c.errEvents, 0);
    assert.equal(c.thrown.length, 1);
    c.accepted[0]!.close();
    client.destroy();
    c.close('done');
  },
);

/**
 * Connects `n` clients one after the other (so the kernel's own backlog
 * never overflows), each sending one byte; counts what they see of a
 * server that turns them away: 'ECONNRESET' (which can come before Node
 * reported the connect), 'EPIPE' (the byte hit a closed Unix socket),
 * 'eof', or another error code.
 */
async function connectMany(connect: () => net.Socket, n: number): Promise<{ clients: net.Socket[]; seen: Map<string, number>; refused: () => number }> {
  const clients: net.Socket[] = [];
  const seen = new Map<string, number>();
  const count = (what: string): void => void seen.set(what, (seen.get(what) ?? 0) + 1);
  for (let i = 0; i < n; i++) {
    const c = connect();
    clients.push(c);
    c.on('error', (err: Error & { code?: string }) => count(err.code ?? err.message));
    c.on('end', () => count('eof'));
    c.resume();
    await new Promise<void>((resolve) => {
      c.once('connect', () => {
        c.write('x');
        resolve();
      });
      c.once('error', () => resolve());
    });
  }
  const refused = (): number => {
    let total = 0;
    for (const v of seen.values()) total += v;
    return total;
  };
  return { clients, seen, refused };
}

test('read interest off: the listener holds at most `backlog` connections, paused and unread, and resets the ones beyond', { timeout: 60_000 }, async () => {
  const BACKLOG = 8;
  const N = 300;
  const l = listenTcp('127.0.0.1', 0, BACKLOG, false);
  const port = (l.localAddress() as { port: number }).port;
  const w = new Watcher(l);
  w.watchRead(false); // shedding load: on epoll the connections stay in the kernel's backlog
  // (Registered after the ListenSock's own listener, so it sees each connection after it.)
  const serverSide: net.Socket[] = [];
  l.server.on('connection', (s: net.Socket) => serverSide.push(s));
  const { clients, seen, refused } = await connectMany(() => net.connect(port, '127.0.0.1'), N);
  await runUntil(() => serverSide.length === N);
  const dropped = serverSide.filter((s) => s.destroyed);
  assert.equal(N - dropped.length, BACKLOG, `held ${N - dropped.length} of ${N}`);
  assert.ok(
    serverSide.slice(0, BACKLOG).every((s) => !s.destroyed && s.bytesRead === 0),
    'the first ones are held, unread',
  );
  // The others are reset at once: their clients do not hang.
  await runUntil(() => refused() === N - BACKLOG);
  assert.deepEqual([...seen], [['ECONNRESET', N - BACKLOG]]);
  assert.deepEqual(w.events, [], 'no read event while interest is off');
  // Interest on: the held ones are accepted, and they work.
  w.watchRead(true);
  await runUntil(() => w.accepted.length === BACKLOG);
  assert.equal(l.accept(), null, 'no more were held');
  const echo = new Echo(w.accepted[0]!);
  let got = '';
  clients[0]!.setEncoding('utf8');
  clients[0]!.on('data', (d: string) => (got += d));
  clients[0]!.write('still there');
  await runUntil(() => got === 'xstill there');
  echo.close('done');
  for (const s of w.accepted.slice(1)) s.close();
  for (const c of clients) c.destroy();
  w.close('done');
});

test('read interest on: connections are not bounded; turning it off keeps the oldest `backlog` and resets the rest', { timeout: 60_000 }, async () => {
  const BACKLOG = 4;
  const N = 12;
  const l = listenTcp('127.0.0.1', 0, BACKLOG, false);
  const port = (l.localAddress() as { port: number }).port;
  const w = new Watcher(l);
  w.accepting = false; // readable, but nobody accepts (yet)
  const serverSide: net.Socket[] = [];
  l.server.on('connection', (s: net.Socket) => serverSide.push(s));
  const { clients, seen, refused } = await connectMany(() => net.connect(port, '127.0.0.1'), N);
  await runUntil(() => serverSide.length === N);
  assert.equal(serverSide.filter((s) => s.destroyed).length, 0, 'all held while interest is on');
  w.watchRead(false);
  assert.deepEqual(
    serverSide.map((s) => s.destroyed),
    serverSide.map((_, i) => i >= BACKLOG),
    'the newest beyond the backlog are reset',
  );
  await runUntil(() => refused() === N - BACKLOG);
  assert.deepEqual([...seen], [['ECONNRESET', N - BACKLOG]]);
  w.accepting = true;
  w.watchRead(true);
  await runUntil(() => w.accepted.length === BACKLOG);
  for (const s of w.accepted) s.close();
  for (const c of clients) c.destroy();
  w.close('done');
});

test('a Unix listener with read interest off closes the connections beyond `backlog` (a Unix socket cannot be reset: the client sees EOF or EPIPE)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'danga-listen-'));
  const path = join(dir, 's.sock');
  const l = listenUnix(path, 2);
  const w = new Watcher(l);
  w.watchRead(false);
  const { clients, seen, refused } = await connectMany(() => net.connect(path), 5);
  await runUntil(() => refused() === 3);
  assert.ok(
    [...seen.keys()].every((k) => ['eof', 'EPIPE', 'ECONNRESET'].includes(k)),
    JSON.stringify([...seen]),
  );
  w.watchRead(true);
  await runUntil(() => w.accepted.length === 2);
  assert.equal(l.accept(), null);
  for (const s of w.accepted) s.close();
  for (const c of clients) c.destroy();
  w.close('done');
  rmSync(dir, { recursive: true, force: true });
});
