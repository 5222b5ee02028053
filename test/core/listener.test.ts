/**
 * Listener (src/core/listener.ts): accepting under overload, on real
 * sockets. The fd-exhaustion tests run the server in a child process under
 * `prlimit --nofile=64:64` (fixtures/accept-server.ts) with 200 clients from
 * here; the others run the server in this process.
 *
 * Nothing here waits for time to pass except the one CPU measurement, whose
 * window only sets how much is measured: it asserts a ratio of CPU time to
 * wall time, generous enough for a loaded 2-core machine.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection, DangaSocket, Listener, connectTcp, connectUnix, listenTcp, listenUnix, type Sock } from 'danga-socket';
import { ChildServer, havePrlimit, NEEDS_PRLIMIT } from '../child-server.js';
import { onSim, runUntil, skipOn, skipOnSim } from '../helpers.js';

afterEach(() => DangaSocket.reset());

const FIXTURE = new URL('./fixtures/accept-server.js', import.meta.url);
const CLIENTS = 200;
const NOFILE = 64;
/** How an echo client ended: its line came back, or the connection closed (EOF, reset) first. */
type Outcome = 'pending' | 'served' | 'closed';

/**
 * A client that sends one line and waits for the echo. Once served it
 * holds the connection until `release()` (or closes at once, if released
 * before). Resolves on events only: data, end, close, error.
 */
class EchoClient {
  outcome: Outcome = 'pending';
  /** The connection is closed at both ends (the server closed its side: its fd is free). */
  ended = false;
  readonly socket: net.Socket;
  #held = true;

  /** `target`: a TCP port on 127.0.0.1, or a Unix socket path. */
  constructor(
    target: number | string,
    readonly line: string,
    onOutcome: () => void,
  ) {
    let got = '';
    this.socket = typeof target === 'number' ? net.connect(target, '127.0.0.1') : net.connect(target);
    this.socket.setEncoding('utf8');
    this.socket.on('data', (d: string) => {
      got += d;
      if (this.outcome === 'pending' && got === line) {
        this.outcome = 'served';
        if (!this.#held) this.socket.end();
        onOutcome();
      }
    });
    // A connection closed by the server (or reset) before the echo: "closed", not hanging.
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.ended = true;
      if (this.outcome === 'pending') this.outcome = 'closed';
      onOutcome();
    });
    this.socket.write(line);
  }

  /** From now on a served client closes its connection (at once, if served already). */
  release(): void {
    this.#held = false;
    if (this.outcome === 'served') this.socket.end();
  }
}

/**
 * EchoClient as a DangaSocket over connectTcp/connectUnix, for the sim pass
 * (no Node client reaches the simulated network). It is an object of the
 * same loop: `SimEchoClient.open()` says how many are open, so that the
 * server's counts can leave them out (0 on the real engines).
 */
class SimEchoClient {
  static readonly all: DangaSocket[] = [];
  static open(): number {
    return SimEchoClient.all.filter((c) => !c.closed).length;
  }
  outcome: Outcome = 'pending';
  ended = false;
  readonly socket: { readonly writableEnded: boolean; destroy(): void };
  #held = true;
  #endCalled = false;
  readonly #conn: DangaSocket;

  constructor(
    target: number | string,
    readonly line: string,
    onOutcome: () => void,
  ) {
    let got = '';
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the DangaSocket below reports to its client
    const client = this;
    const gone = (conn: DangaSocket): void => {
      conn.close('eof');
      if (client.ended) return;
      client.ended = true;
      if (client.outcome === 'pending') client.outcome = 'closed';
      onOutcome();
    };
    class Conn extends DangaSocket {
      override eventRead(): void {
        const buf = this.read(65536);
        if (buf === null) return gone(this);
        if (buf.length === 0) return;
        got += buf.toString();
        if (client.outcome === 'pending' && got === line) {
          client.outcome = 'served';
          if (!client.#held) client.#end();
          onOutcome();
        }
      }
      override eventErr(): void {
        gone(this);
      }
      override eventHup(): void {
        gone(this);
      }
    }
    this.#conn = new Conn(typeof target === 'number' ? connectTcp({ host: '127.0.0.1', port: target }) : connectUnix(target));
    SimEchoClient.all.push(this.#conn);
    this.#conn.watchRead(true);
    this.#conn.write(line);
    this.socket = {
      get writableEnded(): boolean {
        return client.#endCalled;
      },
      destroy: (): void => this.#conn.close('destroy'),
    };
  }

  /** Half-closes, as net.Socket's end(): the server sees end of stream, closes, and this end sees it. */
  #end(): void {
    this.#endCalled = true;
    this.#conn.end({ halfClose: true });
  }

  release(): void {
    this.#held = false;
    if (this.outcome === 'served') this.#end();
  }
}

/** An echo client of this pass: Node's net on the real engines, SimEchoClient in the sim pass. */
function echoClient(target: number | string, line: string, onOutcome: () => void): EchoClient | SimEchoClient {
  return onSim() ? new SimEchoClient(target, line, onOutcome) : new EchoClient(target, line, onOutcome);
}

function count(clients: Array<EchoClient | SimEchoClient>, outcome: Outcome): number {
  return clients.filter((c) => c.outcome === outcome).length;
}

/** Starts `n` echo clients; `poke` is called on each outcome. */
function startClients(port: number, n: number, poke: () => void): Array<EchoClient | SimEchoClient> {
  const clients: Array<EchoClient | SimEchoClient> = [];
  for (let i = 0; i < n; i++) clients.push(echoClient(port, `client ${i}\n`, poke));
  return clients;
}

/** One echo round trip on a fresh connection: resolves with the outcome. */
function oneRoundTrip(port: number): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const c = echoClient(port, 'final\n', () => {
      if (c.outcome !== 'pending') resolve(c.outcome);
    });
    c.release();
  });
}

/** An episode ends with a successful accept: two reports of the accept-server always have an accept between them. */
function assertOneReportPerEpisode(lines: readonly string[]): void {
  const events = lines.filter((l) => l === 'accepted' || l.startsWith('accept-error '));
  for (let i = 1; i < events.length; i++) {
    assert.ok(!(events[i]!.startsWith('accept-error ') && events[i - 1]!.startsWith('accept-error ')), `two reports in one episode at event ${i}`);
  }
}

function startServer(mode: 'readme' | 'catching' | 'listener'): ChildServer {
  return new ChildServer(FIXTURE, [mode], NOFILE);
}

test(
  'fd exhaustion, the README accept loop as written: accept() throws EMFILE and the exception ends the loop (the server stops)',
  { skip: skipOnSim('child') || skipOn('acceptSpin') || (!havePrlimit && NEEDS_PRLIMIT), timeout: 60_000 },
  async () => {
    const server = startServer('readme');
    let clients: Array<EchoClient | SimEchoClient> = [];
    try {
      clients = startClients(await server.port(), CLIENTS, () => {});
      assert.equal(await server.line('accept-error '), 'accept-error EMFILE');
      assert.deepEqual(await server.exited, { code: 1, signal: null });
      assert.deepEqual(server.linesStarting('loop-rejected '), ['loop-rejected EMFILE']);
    } finally {
      for (const c of clients) c.socket.destroy();
      await server.kill();
    }
  },
);

test(
  "fd exhaustion, the README accept loop catching accept()'s error: the listener stays readable and the loop spins on failed accepts",
  { skip: skipOnSim('child') || skipOn('acceptSpin') || (!havePrlimit && NEEDS_PRLIMIT), timeout: 60_000 },
  async (t) => {
    const server = startServer('catching');
    let clients: Array<EchoClient | SimEchoClient> = [];
    try {
      clients = startClients(await server.port(), CLIENTS, () => server.poke());
      // No client ever lets go of its connection, so no fd is freed: every
      // one of these failed accepts is the loop going round on the same
      // readable listener, with nothing else to do.
      const first = await server.line('failed ');
      const cpu0 = server.cpuSeconds();
      const t0 = performance.now();
      await server.line('failed 50000');
      const ratio = (server.cpuSeconds() - cpu0) / ((performance.now() - t0) / 1000);
      t.diagnostic(
        `from "${first}" to 50000 failed accepts the server used ${(ratio * 100).toFixed(0)}% of a CPU; served ${count(clients, 'served')}, none freed`,
      );
      assert.equal(count(clients, 'closed'), 0);
      assert.ok(count(clients, 'served') < CLIENTS);
    } finally {
      for (const c of clients) c.socket.destroy();
      await server.kill();
    }
  },
);

test(
  'fd exhaustion, Listener: little CPU while exhausted, one report per episode, every client served or closed, serving again once fds free',
  { skip: skipOnSim('child') || (!havePrlimit && NEEDS_PRLIMIT), timeout: 90_000 },
  async (t) => {
    const server = startServer('listener');
    let clients: Array<EchoClient | SimEchoClient> = [];
    try {
      clients = startClients(await server.port(), CLIENTS, () => server.poke());
      const accepted = (): number => server.linesStarting('accepted').length;
      // Exhausted and quiet: every connection the server took has its echo,
      // and the server has either reported running out of fds (epoll: the
      // rest wait in the backlog) or nothing is pending any more (node: libuv
      // closed the excess).
      await server.until(
        () => count(clients, 'served') === accepted() && (server.linesStarting('accept-error ').length > 0 || count(clients, 'pending') === 0),
        'the server is exhausted and quiet',
      );
      assert.ok(accepted() < CLIENTS, `the server took ${accepted()} connections under a limit of ${NOFILE} fds`);

      // While exhausted (nothing is freed: every served client holds on), the
      // Listener retries every acceptRetry (0.1 s) and must not spin.
      const cpu0 = server.cpuSeconds();
      const t0 = performance.now();
      await sleep(1000);
      const ratio = (server.cpuSeconds() - cpu0) / ((performance.now() - t0) / 1000);
      t.diagnostic(`CPU while exhausted: ${(ratio * 100).toFixed(1)}% of the wall time`);
      assert.ok(ratio < 0.25, `the server used ${(ratio * 100).toFixed(1)}% of a CPU while exhausted`);
      // Nothing was freed (the fixture waits out Node's own fd use before it
      // listens), so this is still the first episode: one report.
      assert.ok(server.linesStarting('accept-error ').length <= 1, 'one report for the episode so far');

      // Free the fds: each served client closes, the server's end of it
      // closes, and the Listener accepts what waits.
      for (const c of clients) c.release();
      // Every connection ends at both sides (a client sees the server's end
      // once the server closed its fd), so the server's fds are all free again.
      await server.until(() => clients.every((c) => c.ended), `all ${CLIENTS} clients served or closed, and their connections gone`);
      assert.equal(count(clients, 'served') + count(clients, 'closed'), CLIENTS);
      assert.equal(await oneRoundTrip(await server.port()), 'served', 'the listener serves again once fds are free');
      t.diagnostic(
        `served ${count(clients, 'served')}, closed by the server ${count(clients, 'closed')}, accept errors reported ${server.linesStarting('accept-error ').length}`,
      );

      const errors = server.linesStarting('accept-error ');
      await t.test('the error reaches the application once per episode', () => {
        assert.ok(errors.length >= 1, 'the exhaustion was reported');
        for (const e of errors) assert.ok(e === 'accept-error EMFILE' || e === 'accept-error ENFILE', e);
        assertOneReportPerEpisode(server.lines);
      });
      assert.deepEqual(server.linesStarting('loop-rejected '), []);
    } finally {
      for (const c of clients) c.socket.destroy();
      await server.kill();
    }
  },
);

// ------------------------------------------------------------------ in this process

/** Echoes, and records the most connections its Listener had open, seen from inside the server. */
class Served extends Connection {
  static maxOpen = 0;
  static maxStatsOpen = 0;
  static statsBase = 0;

  constructor(
    sock: Sock,
    readonly listener: Listener,
  ) {
    super(sock);
    Served.sample(listener);
  }

  static sample(listener: Listener): void {
    Served.maxOpen = Math.max(Served.maxOpen, listener.connections());
    // stats().open counts every open object: the listener, and its connections (and, in the sim pass, the clients: left out).
    Served.maxStatsOpen = Math.max(Served.maxStatsOpen, DangaSocket.stats().open - Served.statsBase - SimEchoClient.open());
  }

  override eventRead(): void {
    Served.sample(this.listener);
    const buf = this.read(65536);
    if (buf === null) this.end();
    else if (buf.length > 0) this.write(buf);
  }
}

function tcpPort(sock: Sock): number {
  const a = sock.localAddress();
  if (a === null || a.family === 'unix') throw new Error('no TCP address');
  return a.port;
}

test('maxConnections: never more than N open at once; the rest wait and are served as others close', async () => {
  const CAP = 3;
  const N = 10;
  Served.maxOpen = 0;
  Served.maxStatsOpen = 0;
  Served.statsBase = DangaSocket.stats().open;
  const acceptedBefore = DangaSocket.stats().accepted;
  const sock = listenTcp({ host: '127.0.0.1', port: 0 });
  const listener = new Listener(sock, (s, l) => new Served(s, l), { maxConnections: CAP });
  const clients = startClients(tcpPort(sock), N, () => {});

  await runUntil(() => count(clients, 'served') === CAP);
  assert.equal(listener.connections(), CAP);
  // One at a time: let a served client go, and exactly one waiting client is served.
  for (let served = CAP; served < N; served++) {
    const done = clients.find((c) => c.outcome === 'served' && !c.socket.writableEnded)!;
    done.release();
    await runUntil(() => count(clients, 'served') === served + 1);
    assert.ok(listener.connections() <= CAP);
  }
  for (const c of clients) c.release();
  await runUntil(() => listener.connections() === 0);

  assert.equal(count(clients, 'closed'), 0);
  assert.equal(Served.maxOpen, CAP, 'listener.connections() reached the cap and never passed it');
  assert.equal(Served.maxStatsOpen, CAP + 1, 'stats().open: the listener and at most CAP connections');
  assert.equal(DangaSocket.stats().accepted - acceptedBefore, N);
  for (const c of clients) c.socket.destroy();
});

test('acceptBatch: 1 takes one connection per readable event (nginx multi_accept off), and still serves every waiting client', async () => {
  const N = 8;
  const sock = listenTcp({ host: '127.0.0.1', port: 0 });
  // Count the accept() calls of each loop iteration.
  let iteration = 0;
  const perIteration = new Map<number, number>();
  const accept = sock.accept.bind(sock);
  sock.accept = (): Sock | null => {
    perIteration.set(iteration, (perIteration.get(iteration) ?? 0) + 1);
    return accept();
  };
  const listener = new Listener(sock, (s, l) => new Served(s, l), { acceptBatch: 1 });
  // (An object's own post-loop callback: runUntil sets the class-wide one.)
  listener.setPostLoopCallback(() => {
    iteration++;
    return true;
  });
  const clients = startClients(tcpPort(sock), N, () => {});
  await runUntil(() => count(clients, 'served') === N);
  assert.ok(
    [...perIteration.values()].every((n) => n === 1),
    `one accept() per iteration: ${JSON.stringify([...perIteration])}`,
  );
  for (const c of clients) c.release();
  await runUntil(() => listener.connections() === 0);
  listener.close();
  for (const c of clients) c.socket.destroy();
});

test('a connection that closes itself inside the factory is not counted: connections() stays 0, and at maxConnections 1 the next is accepted', async () => {
  const sock = listenTcp({ host: '127.0.0.1', port: 0 });
  let calls = 0;
  const listener = new Listener(
    sock,
    (s, l) => {
      const conn = new Served(s, l);
      // A server turning the first client away at once: the object closes before the factory returns it.
      if (++calls === 1) conn.close('refused');
      return conn;
    },
    { maxConnections: 1 },
  );
  const port = tcpPort(sock);
  const refused = echoClient(port, 'first\n', () => {});
  await runUntil(() => refused.outcome !== 'pending');
  assert.equal(refused.outcome, 'closed');
  assert.equal(listener.connections(), 0, 'the closed connection holds no slot');
  const served = echoClient(port, 'second\n', () => {});
  await runUntil(() => served.outcome !== 'pending');
  assert.equal(served.outcome, 'served', 'at the cap of 1, the next client is accepted and served');
  assert.equal(listener.connections(), 1);
  served.release();
  await runUntil(() => listener.connections() === 0);
  assert.equal(calls, 2);
  served.socket.destroy();
});

/** A listening socket whose accepted sockets record their setNoDelay calls. */
function spyingOnNoDelay(sock: Sock, calls: Array<boolean | undefined>): Sock {
  const accept = sock.accept.bind(sock);
  sock.accept = (): Sock | null => {
    const s = accept();
    if (s !== null) {
      const setNoDelay = s.setNoDelay.bind(s);
      s.setNoDelay = (on?: boolean): void => {
        calls.push(on);
        setNoDelay(on);
      };
    }
    return s;
  };
  return sock;
}

for (const noDelay of [undefined, true, false]) {
  test(`noDelay ${noDelay === undefined ? 'by default' : String(noDelay)}: TCP_NODELAY is ${noDelay === false ? 'left alone' : 'set'} on each accepted socket`, async () => {
    const calls: Array<boolean | undefined> = [];
    const sock = spyingOnNoDelay(listenTcp({ host: '127.0.0.1', port: 0 }), calls);
    new Listener(sock, (s, l) => new Served(s, l), noDelay === undefined ? {} : { noDelay });
    const clients = startClients(tcpPort(sock), 2, () => {});
    await runUntil(() => count(clients, 'served') === 2);
    assert.deepEqual(calls, noDelay === false ? [] : [true, true]);
    for (const c of clients) c.socket.destroy();
  });
}

test('a Listener on a Unix socket serves (noDelay is harmless there)', async () => {
  const path = `/tmp/danga-listener-${process.pid}.sock`;
  const sock = listenUnix(path);
  new Listener(sock, (s, l) => new Served(s, l));
  let outcome: Outcome = 'pending';
  const c = echoClient(path, 'over unix\n', () => {});
  await runUntil(() => (outcome = c.outcome) !== 'pending');
  assert.equal(outcome, 'served');
  c.socket.destroy();
});

/**
 * Resolves when the client's connection has closed (EOF or reset). In the
 * sim pass the client is a DangaSocket of the same loop: awaiting the
 * result runs the loop until it has closed (and left the loop).
 */
function closedByServer(port: number): PromiseLike<boolean> {
  if (onSim()) {
    class Client extends DangaSocket {
      override eventRead(): void {
        if (this.read(65536) === null) this.close('eof');
      }
      override eventErr(): void {
        this.close('err');
      }
      override eventHup(): void {
        this.close('hup');
      }
    }
    const c = new Client(connectTcp({ host: '127.0.0.1', port }));
    c.watchRead(true);
    SimEchoClient.all.push(c);
    return {
      then: (onDone, onFail) =>
        runUntil(() => c.closed)
          .then(() => true)
          .then(onDone, onFail),
    };
  }
  return new Promise<boolean>((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    c.on('data', () => {});
    c.on('close', () => resolve(true));
  });
}

for (const [what, factory, code] of [
  ['returns null', (): DangaSocket<object> => null as unknown as DangaSocket<object>, 'ERR_INVALID_RETURN_VALUE'],
  ['returns a plain object', (): DangaSocket<object> => ({}) as unknown as DangaSocket<object>, 'ERR_INVALID_RETURN_VALUE'],
  [
    'throws',
    (): DangaSocket<object> => {
      throw Object.assign(new Error('factory failed'), { code: 'FACTORY_FAILED' });
    },
    'FACTORY_FAILED',
  ],
] as const) {
  test(`a factory that ${what}: the error ends the loop (1.62: exceptions end it), and the accepted socket is closed`, async () => {
    const sock = listenTcp({ host: '127.0.0.1', port: 0 });
    new Listener(sock, factory);
    const closed = closedByServer(tcpPort(sock));
    await assert.rejects(
      runUntil(() => false),
      (err: Error & { code?: string }) => err.code === code,
    );
    assert.equal(await closed, true);
    // Only the listener is left.
    assert.equal(DangaSocket.watchedSockets(), 1);
  });
}

test('a factory that wraps the socket but returns nothing: coded error, and the object it made is closed too (it could not be counted)', async () => {
  const sock = listenTcp({ host: '127.0.0.1', port: 0 });
  let made: Served | null = null;
  const listener = new Listener(sock, (s, l): DangaSocket<object> => {
    made = new Served(s, l);
    return undefined as unknown as DangaSocket<object>;
  });
  const closed = closedByServer(tcpPort(sock));
  await assert.rejects(
    runUntil(() => false),
    { code: 'ERR_INVALID_RETURN_VALUE' },
  );
  assert.ok(made !== null && (made as Served).closed);
  await runUntil(() => DangaSocket.watchedSockets() === 1);
  assert.equal(await closed, true);
  assert.equal(listener.connections(), 0);
});

test('with an error handler set, a failing factory costs only its connection: the handler gets the error and the Listener goes on serving', async () => {
  const sock = listenTcp({ host: '127.0.0.1', port: 0 });
  const port = tcpPort(sock);
  const seen: Array<[string | undefined, boolean]> = [];
  DangaSocket.setErrorHandler((err, obj) => seen.push([(err as { code?: string }).code, obj instanceof Listener]));
  let calls = 0;
  const listener = new Listener(sock, (s, l) => {
    if (++calls === 1) throw Object.assign(new Error('factory failed'), { code: 'FACTORY_FAILED' });
    return new Served(s, l);
  });
  const first = closedByServer(port);
  await runUntil(() => seen.length === 1);
  assert.deepEqual(seen, [['FACTORY_FAILED', true]]);
  let outcome: Outcome = 'pending';
  const second = echoClient(port, 'after the failure\n', () => {});
  second.release();
  await runUntil(() => (outcome = second.outcome) !== 'pending');
  assert.equal(await first, true);
  assert.equal(outcome, 'served');
  assert.equal(listener.closed, false);
});

test('bad arguments throw coded TypeError/RangeError, and leave the socket unregistered', () => {
  const sock = listenTcp({ host: '127.0.0.1', port: 0 });
  const factory = (s: Sock, l: Listener): DangaSocket<object> => new Served(s, l);
  const cases: Array<[() => unknown, ErrorConstructor, string]> = [
    [() => new Listener(sock, 'nope' as unknown as typeof factory), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => new Listener(sock, factory, null as unknown as object), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => new Listener(sock, factory, 5 as unknown as object), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => new Listener(sock, factory, { maxConnections: -1 }), RangeError, 'ERR_OUT_OF_RANGE'],
    [() => new Listener(sock, factory, { maxConnections: 1.5 }), RangeError, 'ERR_OUT_OF_RANGE'],
    [() => new Listener(sock, factory, { maxConnections: '3' as unknown as number }), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => new Listener(sock, factory, { noDelay: 1 as unknown as boolean }), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => new Listener(sock, factory, { acceptRetry: 0 }), RangeError, 'ERR_OUT_OF_RANGE'],
    [() => new Listener(sock, factory, { acceptRetry: -1 }), RangeError, 'ERR_OUT_OF_RANGE'],
    [() => new Listener(sock, factory, { acceptRetry: Number.NaN }), RangeError, 'ERR_OUT_OF_RANGE'],
    [() => new Listener(sock, factory, { acceptRetry: '1' as unknown as number }), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => new Listener(sock, factory, { acceptBatch: 0 }), RangeError, 'ERR_OUT_OF_RANGE'],
    [() => new Listener(sock, factory, { acceptBatch: 2.5 }), RangeError, 'ERR_OUT_OF_RANGE'],
    [() => new Listener(sock, factory, { acceptBatch: '1' as unknown as number }), TypeError, 'ERR_INVALID_ARG_TYPE'],
  ];
  for (const [fn, type, code] of cases) {
    assert.throws(fn, (err: Error & { code?: string }) => err instanceof type && err.code === code, fn.toString());
  }
  assert.equal(DangaSocket.watchedSockets(), 0);
  assert.equal(sock.closed, false);
  sock.close();
});
