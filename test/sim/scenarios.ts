/**
 * The scenarios the seeded properties run (test/sim/properties.test.ts),
 * each a function of the seed: the scenario's random choices and the
 * network's faults come from the simulation's one PRNG, so a seed names
 * one run exactly. Each ends with a check that throws on a violation; the
 * SimulationError then names the seed.
 *
 * The classes are exported so that test/sim/injected-bug.test.ts can run a
 * scenario with a deliberately broken subclass.
 */
import assert from 'node:assert/strict';
import { Connection, DangaSocket, Listener, connectTcp, listenTcp, socketPair, type Sock } from 'danga-socket';
import { simulate, type SimFaults, type SimSock, type SimulationResult, type Simulation } from 'danga-socket/sim';
import { ChatClient, startChatServer } from '../../examples/chat-server.js';

/** Short reads and writes down to 1 byte, spurious EAGAIN, late and shuffled readiness, delay, bandwidth, small buffers. */
export const CHAOS: SimFaults = {
  shortRead: 0.3,
  shortWrite: 0.3,
  readEagain: 0.1,
  writeEagain: 0.1,
  lateReadiness: 0.2,
  delay: [0, 3],
  bandwidth: [64, 8192],
  buffer: [32, 8192],
};

const PORT = 7000;

/** The SimSock under an object (the sim engine's sockets are SimSocks). */
const simSock = (obj: DangaSocket<object>): SimSock => obj.requireSock() as unknown as SimSock;

// ---------------------------------------------------------------- 1. echo

/** Echoes what it reads, in reads of random sizes; ends once the peer's end of stream is read. */
class RandomEcho extends Connection {
  constructor(
    sock: Sock,
    private readonly sim: Simulation,
  ) {
    super(sock);
  }
  override eventRead(): void {
    for (let i = 0; i < 4; i++) {
      const buf = this.read(this.sim.randomInt(1, 3000));
      if (buf === null) return this.end();
      if (buf.length === 0) return;
      this.write(buf);
    }
  }
}

/**
 * Reads everything until end of stream (then `ended`, and closes with
 * `endReason`), `readSize()` bytes per read, as long as the socket has data.
 */
abstract class Gatherer extends Connection {
  readonly got: Buffer[] = [];
  ended = false;
  protected abstract readonly endReason: string;
  protected abstract readSize(): number;
  override eventRead(): void {
    for (;;) {
      const buf = this.read(this.readSize());
      if (buf === null) {
        this.ended = true;
        return this.close(this.endReason);
      }
      if (buf.length === 0) return;
      this.got.push(Buffer.from(buf));
    }
  }
}

/** Sends its data in random pieces, then shuts down writing; collects what comes back. */
class EchoClient extends Gatherer {
  protected readonly endReason = 'done';
  constructor(
    sock: Sock,
    sim: Simulation,
    readonly data: Buffer,
  ) {
    super(sock);
    // In order: now, or from timers whose times never decrease (equal times fire in the order added).
    let at = 0;
    let delay = 0;
    while (at < data.length) {
      const n = sim.randomInt(1, 1500);
      const piece = data.subarray(at, at + n);
      if (sim.randomInt(0, 3) === 0) delay += sim.randomInt(0, 10);
      if (delay === 0) this.write(piece);
      else DangaSocket.addTimer(delay / 1000, () => this.write(piece));
      at += n;
    }
    DangaSocket.addTimer(delay / 1000, () => this.end({ halfClose: true }));
  }
  protected readSize(): number {
    return this.got.length % 2 === 0 ? 100 : 5000;
  }
}

/** Property 1: echo of random data through random short reads/writes/EAGAIN loses and reorders nothing. */
export function echoScenario(seed: number, faults: SimFaults = CHAOS): Promise<SimulationResult> {
  return simulate({ seed, faults }, (sim) => {
    new Listener(listenTcp({ host: '127.0.0.1', port: PORT }), (s) => new RandomEcho(s, sim));
    const clients: EchoClient[] = [];
    const n = sim.randomInt(1, 3);
    for (let i = 0; i < n; i++) {
      clients.push(new EchoClient(connectTcp({ host: '127.0.0.1', port: PORT }), sim, sim.randomBytes(sim.randomInt(0, 4000))));
    }
    return () => {
      for (const [i, c] of clients.entries()) {
        assert.ok(c.ended, `client ${i} never saw the end of the echo`);
        const got = Buffer.concat(c.got);
        assert.equal(got.length, c.data.length, `client ${i}: ${got.length} bytes echoed of ${c.data.length}`);
        assert.ok(got.equals(c.data), `client ${i}: the echo differs from what was sent`);
      }
    };
  });
}

// ---------------------------------------------------------------- 2. write callbacks

/** What a write callback saw when it ran. */
export interface CallbackRun {
  readonly index: number;
  /** Bytes queued before the callback (everything written to the object before it). */
  readonly before: number;
  /** Bytes the socket had taken when it ran. */
  readonly accepted: number;
}

/** Writes buffers and callbacks in a random mix, from setup, timers and callbacks; records each callback's run. */
export class CallbackWriter extends DangaSocket {
  readonly runs: CallbackRun[] = [];
  queued = 0;
  callbacks = 0;
  readonly stream: Buffer[] = [];
  override eventRead(): void {}
  override eventErr(): void {
    this.close('error');
  }
  override eventHup(): void {
    this.close('hup');
  }
  /** Queues `buf`, counting it. */
  put(buf: Buffer): void {
    this.stream.push(buf);
    this.queued += buf.length;
    this.write(buf);
  }
  /** Queues a callback that records when it ran; `then` runs inside it. */
  mark(then?: () => void): void {
    const index = this.callbacks++;
    const before = this.queued;
    this.write(() => {
      this.runs.push({ index, before, accepted: simSock(this).bytesWritten });
      then?.();
    });
  }
}

/** Reads everything, in random sizes, until end of stream. */
class Sink extends Connection {
  readonly got: Buffer[] = [];
  eof = false;
  constructor(
    sock: Sock,
    private readonly sim: Simulation,
  ) {
    super(sock);
  }
  override eventRead(): void {
    const buf = this.read(this.sim.randomInt(1, 4096));
    if (buf === null) {
      this.eof = true;
      this.close('eof');
    } else if (buf.length > 0) {
      this.got.push(Buffer.from(buf));
    }
  }
}

/**
 * Property 2: write callbacks run exactly once, in order, and only after
 * the bytes queued before them were taken by the socket. `Writer` may be a
 * subclass (the injected-bug test passes a broken one).
 */
export function callbackScenario(
  seed: number,
  Writer: new (sock: Sock) => CallbackWriter = CallbackWriter,
  faults: SimFaults = CHAOS,
): Promise<SimulationResult> {
  return simulate({ seed, faults }, (sim) => {
    const [a, b] = socketPair();
    const w = new Writer(a);
    const sink = new Sink(b, sim);
    const step = (): void => {
      const what = sim.randomInt(0, 9);
      if (what < 6) w.put(sim.randomBytes(sim.randomInt(1, 700)));
      else if (what < 9) w.mark();
      else w.mark(() => w.put(sim.randomBytes(sim.randomInt(1, 300)))); // a write from inside a callback
    };
    const steps = sim.randomInt(5, 40);
    for (let i = 0; i < steps; i++) {
      if (sim.randomInt(0, 2) === 0) step();
      else DangaSocket.addTimer(sim.randomInt(0, 20) / 1000, step);
    }
    DangaSocket.addTimer(0.03, () => w.write(() => w.close('done')));
    return () => {
      assert.equal(w.runs.length, w.callbacks, `${w.runs.length} callbacks ran of ${w.callbacks}`);
      w.runs.forEach((r, i) => {
        assert.equal(r.index, i, `callback ${r.index} ran in place ${i}`);
        assert.ok(r.accepted >= r.before, `callback ${r.index} ran when the socket had taken ${r.accepted} bytes of the ${r.before} queued before it`);
      });
      assert.ok(sink.eof, 'the reader never saw the end of stream');
      assert.ok(Buffer.concat(sink.got).equals(Buffer.concat(w.stream)), 'the reader got other bytes than were written');
    };
  });
}

// ---------------------------------------------------------------- 3. close during any event

/**
 * Writes at random events and closes itself at a random one (its handlers,
 * a timer, a write callback); records what the socket had taken when it
 * closed, and fails if a handler runs after close.
 */
class Closer extends Connection {
  readonly stream: Buffer[] = [];
  acceptedAtClose = -1;
  closes = 0;
  #countdown: number;
  #sock: SimSock;
  constructor(
    sock: Sock,
    private readonly sim: Simulation,
  ) {
    super(sock);
    this.#sock = sock as unknown as SimSock;
    this.#countdown = sim.randomInt(0, 30);
    if (sim.randomInt(0, 1) === 0) this.watchWrite(true);
    for (let i = 0; i < 5; i++) DangaSocket.addTimer(sim.randomInt(0, 30) / 1000, () => this.#event('timer'));
    DangaSocket.addTimer(0.05, () => this.close('last timer'));
    this.#event('constructor');
  }
  #event(where: string): void {
    if (this.closed) return; // timers are the class side's: they may outlive the object
    if (this.#countdown-- <= 0) {
      this.close(`close in ${where}`);
      return;
    }
    const what = this.sim.randomInt(0, 3);
    if (what <= 1) {
      const buf = this.sim.randomBytes(this.sim.randomInt(1, 2000));
      this.stream.push(buf);
      this.write(buf);
    } else if (what === 2) {
      this.write(() => this.#event('write callback'));
    }
  }
  override eventRead(): void {
    assert.ok(!this.closed, 'eventRead after close');
    const buf = this.read(this.sim.randomInt(1, 3000));
    if (buf === null) {
      this.close('eof');
      return;
    }
    this.#event('eventRead');
  }
  override eventWrite(): void {
    assert.ok(!this.closed, 'eventWrite after close');
    super.eventWrite();
    this.#event('eventWrite');
  }
  override eventErr(): void {
    assert.ok(!this.closed, 'eventErr after close');
    super.eventErr();
  }
  override eventHup(): void {
    assert.ok(!this.closed, 'eventHup after close');
    super.eventHup();
  }
  override close(reason?: string): void {
    if (!this.closed) {
      this.closes++;
      this.acceptedAtClose = this.#sock.bytesWritten;
    }
    super.close(reason);
  }
}

/** Writes random data now and then, and reads everything until end of stream (or a reset). */
class Chatter extends Gatherer {
  protected readonly endReason = 'eof';
  constructor(
    sock: Sock,
    private readonly sim: Simulation,
  ) {
    super(sock);
    for (let i = 0; i < 4; i++) DangaSocket.addTimer(sim.randomInt(0, 30) / 1000, () => this.write(sim.randomBytes(sim.randomInt(1, 1500))));
  }
  protected readSize(): number {
    return this.sim.randomInt(1, 5000);
  }
  // Reads on through an error or a hangup: what arrived before a reset is
  // still readable, and the read that finds the error returns null.
  // (Connection's own eventErr closes at once, dropping such bytes.)
  override eventErr(): void {}
  override eventHup(): void {}
}

/** Property 3: close() during any event drops nothing already written, and no event comes after it. */
export function closeScenario(seed: number, faults: SimFaults = CHAOS): Promise<SimulationResult> {
  return simulate({ seed, faults }, (sim) => {
    let closer: Closer | null = null;
    let peer: Chatter | null = null;
    const tcp = sim.randomInt(0, 1) === 0;
    if (tcp) {
      const listener = new Listener(listenTcp({ host: '127.0.0.1', port: PORT }), (s) => {
        listener.close('one is enough');
        return (closer = new Closer(s, sim));
      });
      peer = new Chatter(connectTcp({ host: '127.0.0.1', port: PORT }), sim);
    } else {
      const [a, b] = socketPair();
      peer = new Chatter(b, sim);
      closer = new Closer(a, sim);
    }
    return () => {
      const c = closer;
      const p = peer;
      assert.ok(c !== null, 'the connection was never accepted');
      assert.equal(c.closes, 1, `closed ${c.closes} times`);
      assert.ok(p.ended, 'the peer never saw the end of stream');
      const written = Buffer.concat(c.stream).subarray(0, c.acceptedAtClose);
      const got = Buffer.concat(p.got);
      assert.equal(got.length, written.length, `the peer got ${got.length} bytes of the ${written.length} the socket took before close`);
      assert.ok(got.equals(written), 'the peer got other bytes than were written');
    };
  });
}

// ---------------------------------------------------------------- 4. reset mid-write

/** Counts its closes; fails on an event after close. */
class Counted extends Connection {
  closes = 0;
  /** "ip:port" of each end, taken while open. */
  readonly local: string | null;
  readonly peer: string | null;
  constructor(sock: Sock) {
    super(sock);
    this.local = this.localAddrString();
    this.peer = this.peerAddrString();
  }
  override eventRead(): void {
    assert.ok(!this.closed, 'eventRead after close');
    for (;;) {
      const buf = this.read(2048);
      if (buf === null) return this.close('eof');
      if (buf.length === 0) return;
      this.received.push(Buffer.from(buf));
    }
  }
  readonly received: Buffer[] = [];
  override eventErr(): void {
    assert.ok(!this.closed, 'eventErr after close');
    super.eventErr();
  }
  override eventHup(): void {
    assert.ok(!this.closed, 'eventHup after close');
    super.eventHup();
  }
  override close(reason?: string): void {
    if (!this.closed) this.closes++;
    super.close(reason);
  }
}

/** Sends a large reply at once, then ends. */
class Sender extends Counted {
  readonly sent: Buffer;
  constructor(sock: Sock, sim: Simulation) {
    super(sock);
    this.sent = sim.randomBytes(sim.randomInt(2000, 30000));
    this.write(this.sent);
    this.end();
  }
}

/** Property 4: a reset in the middle of a queued write closes each object exactly once; what arrived is a prefix of what was sent. */
export function resetScenario(seed: number): Promise<SimulationResult> {
  return simulate({ seed, faults: { ...CHAOS, reset: 0.03 } }, (sim) => {
    const servers: Sender[] = [];
    const clients: Counted[] = [];
    const listener = new Listener(listenTcp({ host: '127.0.0.1', port: PORT }), (s) => {
      const conn = new Sender(s, sim);
      servers.push(conn);
      return conn;
    });
    const n = sim.randomInt(1, 3);
    for (let i = 0; i < n; i++) clients.push(new Counted(connectTcp({ host: '127.0.0.1', port: PORT })));
    DangaSocket.addTimer(5, () => listener.close('done'));
    return () => {
      assert.equal(servers.length, n, `${servers.length} connections accepted of ${n}`);
      for (const obj of [...servers, ...clients]) {
        assert.equal(obj.closes, 1, `${obj.constructor.name} closed ${obj.closes} times (${obj.closeReason()})`);
      }
      const stats = DangaSocket.stats();
      assert.equal(stats.open, 0, `${stats.open} objects counted open at the end`);
      assert.equal(DangaSocket.watchedSockets(), 0, 'objects left in the descriptor map');
      for (const [i, c] of clients.entries()) {
        const got = Buffer.concat(c.received);
        const server = servers.find((s) => s.peer === c.local);
        assert.ok(server !== undefined, `client ${i}: no server side for ${c.local}`);
        assert.ok(got.equals(server.sent.subarray(0, got.length)), `client ${i} got bytes that are not a prefix of what was sent`);
      }
    };
  });
}

// ---------------------------------------------------------------- 5. the chat example

/** A chat member as a test client: reads lines, sends its own at random times. */
class ChatUser extends Connection {
  readonly lines: string[] = [];
  welcomed = false;
  constructor(
    sock: Sock,
    readonly tag: string,
    private readonly onWelcome: () => void = () => {},
    private readonly onLine: () => void = () => {},
  ) {
    super(sock);
  }
  override eventRead(): void {
    let line: Buffer | null | undefined;
    while ((line = this.readLine(65536)) !== undefined) {
      if (line === null) return this.close('eof');
      const text = line.toString();
      if (text.startsWith('* welcome')) {
        this.welcomed = true;
        this.onWelcome();
      } else if (text.startsWith('<')) {
        this.lines.push(text.slice(text.indexOf('> ') + 2));
        this.onLine();
      }
    }
  }
}

/**
 * Property 5: the chat example delivers every line to every other client
 * that was connected for the whole time, in the order it was sent, while
 * other clients come and go.
 */
export function chatScenario(seed: number): Promise<SimulationResult> {
  return simulate({ seed, faults: CHAOS }, (sim) => {
    startChatServer(PORT);
    const stayers: ChatUser[] = [];
    const count = sim.randomInt(2, 4);
    const perUser = sim.randomInt(1, 6);
    const expected = (count - 1) * perUser;
    let welcomed = 0;
    const connect = (tag: string, onWelcome?: () => void, onLine?: () => void): ChatUser =>
      new ChatUser(connectTcp({ host: '127.0.0.1', port: PORT }), tag, onWelcome, onLine);
    const sentAll = new Set<ChatUser>();
    // A stayer leaves once it has every other stayer's lines and has sent its
    // own: gracefully (it shuts down writing and reads until the server's end
    // of stream; a close with unread data would reset the connection).
    const maybeLeave = (u: ChatUser): void => {
      if (sentAll.has(u) && u.lines.filter((l) => l.startsWith('s')).length === expected) u.end({ halfClose: true });
    };
    const start = (): void => {
      for (const u of stayers) {
        let at = 0;
        for (let j = 0; j < perUser; j++) {
          at += sim.randomInt(0, 100);
          DangaSocket.addTimer(at / 1000, () => {
            u.write(`${u.tag}-${j}\n`);
            if (j === perUser - 1) {
              sentAll.add(u);
              maybeLeave(u);
            }
          });
        }
      }
    };
    for (let i = 0; i < count; i++) {
      const u: ChatUser = connect(
        `s${i}`,
        () => {
          if (++welcomed === count) start();
        },
        () => maybeLeave(u),
      );
      stayers.push(u);
    }
    // Others come and go meanwhile, some talking, some leaving abruptly.
    const transients = sim.randomInt(0, 3);
    for (let i = 0; i < transients; i++) {
      DangaSocket.addTimer(sim.randomInt(0, 300) / 1000, () => {
        const t = connect(`t${i}`);
        DangaSocket.addTimer(sim.randomInt(0, 300) / 1000, () => t.write(`t${i} says hi\n`));
        DangaSocket.addTimer(sim.randomInt(0, 400) / 1000, () => (sim.randomInt(0, 1) === 0 ? t.close('gone') : t.end()));
      });
    }
    return () => {
      for (const u of stayers) {
        const fromStayers = u.lines.filter((l) => l.startsWith('s'));
        for (const v of stayers) {
          if (v === u) continue;
          const mine = fromStayers.filter((l) => l.startsWith(`${v.tag}-`));
          const want = Array.from({ length: perUser }, (_, j) => `${v.tag}-${j}`);
          assert.deepEqual(mine, want, `${u.tag} got ${JSON.stringify(mine)} from ${v.tag}`);
        }
      }
      assert.equal(ChatClient.members.size, 0, 'members left behind');
    };
  });
}
