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
import { Connection, DangaSocket, Listener, POLLIN, connectTcp, listenTcp, socketPair, type Sock } from 'danga-socket';
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

// ---------------------------------------------------------------- 6. framing under random splits

/** One frame of the mixed protocol: a line (LF or CRLF), bytes up to '<END>', or a length line and that many bytes. */
interface Frame {
  readonly kind: string;
  readonly payload: Buffer;
}

const UNTIL = '<END>';
const FRAME_MAX = 4096;

/** Random frames and their bytes on the wire: each a tag byte, then the frame. Text holds stray CRs and partial delimiters. */
function randomFrames(sim: Simulation): { frames: Frame[]; wire: Buffer } {
  const alphabet = Buffer.from('ab\r<END');
  const text = (len: number): Buffer => {
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = alphabet[sim.randomInt(0, alphabet.length - 1)] as number;
    return b;
  };
  const frames: Frame[] = [];
  const wire: Buffer[] = [];
  const n = sim.randomInt(1, 40);
  for (let i = 0; i < n; i++) {
    const kind = 'LUX'[sim.randomInt(0, 2)] as string;
    let payload: Buffer;
    if (kind === 'L') {
      payload = text(sim.randomInt(0, 300));
      // A CR right before the LF belongs to the terminator.
      if (payload.length > 0 && payload[payload.length - 1] === 13) payload[payload.length - 1] = 0x61;
      wire.push(Buffer.from('L'), payload, Buffer.from(sim.randomInt(0, 1) === 0 ? '\r\n' : '\n'));
    } else if (kind === 'U') {
      payload = text(sim.randomInt(0, 300)); // no '>': the delimiter cannot start inside it
      wire.push(Buffer.from('U'), payload, Buffer.from(UNTIL));
    } else {
      payload = sim.randomBytes(sim.randomInt(0, 3) === 0 ? 0 : sim.randomInt(1, 3000)); // readExact(0) too: a frame that consumes nothing
      wire.push(Buffer.from(`X${payload.length}\n`), payload);
    }
    frames.push({ kind, payload });
  }
  // A last line: a handler that took the header of an empty 'X' frame in one
  // event needs bytes after it to be called again (nothing pushed back, nothing read).
  frames.push({ kind: 'L', payload: Buffer.from('end') });
  wire.push(Buffer.from('Lend\n'));
  return { frames, wire: Buffer.concat(wire) };
}

/** Parses the mixed protocol with readExact, readLine and readUntil; all frames per event, or one per event (the loop brings the rest). */
export class FrameReader extends Connection {
  readonly got: Frame[] = [];
  ended = false;
  #tag = '';
  #want = -1;
  constructor(
    sock: Sock,
    private readonly sim: Simulation,
  ) {
    super(sock);
  }
  override eventRead(): void {
    const all = this.sim.randomInt(0, 1) === 0;
    for (;;) {
      const r = this.#step();
      if (r === null) {
        this.ended = true;
        return this.end();
      }
      if (r === undefined || !all) return;
    }
  }
  /** One read of the parser: true when it took something, undefined when it waits, null at the end. */
  #step(): true | undefined | null {
    let buf: Buffer | undefined | null;
    if (this.#tag === '') buf = this.readExact(1);
    else if (this.#tag === 'L') buf = this.readLine(FRAME_MAX);
    else if (this.#tag === 'U') buf = this.readUntil(UNTIL, FRAME_MAX);
    else if (this.#want < 0) buf = this.readLine(10);
    else buf = this.readExact(this.#want);
    if (buf === undefined || buf === null) return buf;
    if (this.#tag === '') {
      this.#tag = buf.toString('latin1');
    } else if (this.#tag === 'X' && this.#want < 0) {
      this.#want = Number(buf.toString('latin1'));
    } else {
      this.got.push({ kind: this.#tag, payload: Buffer.from(buf) });
      this.write('.'); // one ack per frame
      this.#tag = '';
      this.#want = -1;
    }
    return true;
  }
}

/**
 * Sends its data in random pieces; half-closes once every frame is acked,
 * so a frame left unparsed in the reader's buffer is a stall, not something
 * the end of stream would wake.
 */
class FrameClient extends Gatherer {
  protected readonly endReason = 'done';
  constructor(
    sock: Sock,
    sim: Simulation,
    data: Buffer,
    private readonly frames: number,
  ) {
    super(sock);
    let at = 0;
    let delay = 0;
    while (at < data.length) {
      const piece = data.subarray(at, at + sim.randomInt(1, 700));
      if (sim.randomInt(0, 3) === 0) delay += sim.randomInt(0, 10);
      if (delay === 0) this.write(piece);
      else DangaSocket.addTimer(delay / 1000, () => this.write(piece));
      at += piece.length;
    }
  }
  protected readSize(): number {
    return 50;
  }
  override eventRead(): void {
    super.eventRead();
    if (!this.closed && this.got.reduce((n, b) => n + b.length, 0) === this.frames) this.end({ halfClose: true });
  }
}

/** Property 6: frames sent in random splits (and read through short reads) come out whole, in order, whatever the handler's pace. */
export function framingScenario(seed: number, Reader: new (sock: Sock, sim: Simulation) => FrameReader = FrameReader): Promise<SimulationResult> {
  return simulate({ seed, faults: CHAOS }, (sim) => {
    const [a, b] = socketPair();
    const { frames, wire } = randomFrames(sim);
    const reader = new Reader(a, sim);
    const client = new FrameClient(b, sim, wire, frames.length);
    return () => {
      assert.equal(reader.got.length, frames.length, `${reader.got.length} frames parsed of ${frames.length}`);
      reader.got.forEach((f, i) => {
        const want = frames[i] as Frame;
        assert.equal(f.kind, want.kind, `frame ${i}: kind`);
        assert.ok(f.payload.equals(want.payload), `frame ${i} (${f.kind}): ${f.payload.length} bytes, want ${want.payload.length}`);
      });
      assert.ok(reader.ended, 'the reader never saw the end of stream');
      assert.ok(client.ended, 'the client never saw the reader close');
    };
  });
}

// ---------------------------------------------------------------- 7. watermarks with a slow reader

/** Writes `total` random bytes, pausing at onWriteHigh and resuming at onWriteLow (a proxy's source), then ends. */
export class Pump extends Connection {
  readonly sent: Buffer[] = [];
  readonly log: string[] = [];
  readonly violations: string[] = [];
  #paused = false;
  #left: number;
  constructor(
    sock: Sock,
    private readonly sim: Simulation,
    private readonly high: number,
    private readonly low: number,
    total: number,
  ) {
    super(sock);
    this.#left = total;
    this.setWriteWatermarks(high, low);
    this.#pump();
  }
  override eventRead(): void {
    if (this.read(1024) === null) this.close('eof');
  }
  override onWriteHigh(): void {
    if (this.writeBufSize <= this.high) this.violations.push(`high told at ${this.writeBufSize} <= ${this.high}`);
    this.log.push('H');
    this.#paused = true;
  }
  override onWriteLow(): void {
    if (this.writeBufSize > this.low) this.violations.push(`low told at ${this.writeBufSize} > ${this.low}`);
    this.log.push('L');
    this.#paused = false;
    DangaSocket.addTimer(0, () => this.#pump());
  }
  #pump(): void {
    while (!this.#paused && this.#left > 0 && !this.closed) {
      const buf = this.sim.randomBytes(Math.min(this.#left, this.sim.randomInt(1, 3000)));
      this.#left -= buf.length;
      this.sent.push(buf);
      this.write(buf);
    }
    if (this.#left === 0) this.end();
  }
}

/** Reads in small random pieces, and now and then stops reading for a while. */
class SlowReader extends Gatherer {
  protected readonly endReason = 'eof';
  constructor(
    sock: Sock,
    private readonly sim: Simulation,
  ) {
    super(sock);
  }
  protected readSize(): number {
    return this.sim.randomInt(1, 700);
  }
  override eventRead(): void {
    super.eventRead();
    if (!this.closed && this.sim.randomInt(0, 3) === 0) {
      this.watchRead(false);
      DangaSocket.addTimer(this.sim.randomInt(0, 20) / 1000, () => this.watchRead(true));
    }
  }
  // A hangup while reading is paused: read what is left first (Connection
  // closes on a hangup at once when read interest is off).
  override eventHup(): void {
    if (this.watchMask() & POLLIN) return;
    this.watchRead(true);
  }
}

/** Property 7: watermarks through a slow reader: high and low alternate, each told on the right side of its mark, and the source never stalls (low = 0 and low = high included). */
export function watermarkScenario(seed: number, Source: typeof Pump = Pump): Promise<SimulationResult> {
  return simulate({ seed, faults: CHAOS }, (sim) => {
    const [a, b] = socketPair();
    const high = sim.randomInt(1, 20000);
    const pick = sim.randomInt(0, 5);
    const low = pick < 2 ? 0 : pick === 2 ? high : sim.randomInt(0, high);
    const total = sim.randomInt(1, 200_000);
    const pump = new Source(a, sim, high, low, total);
    const reader = new SlowReader(b, sim);
    return () => {
      assert.deepEqual(pump.violations, []);
      const got = Buffer.concat(reader.got);
      assert.equal(got.length, total, `the reader got ${got.length} bytes of ${total} (high ${high}, low ${low}, told ${pump.log.join('')})`);
      assert.ok(got.equals(Buffer.concat(pump.sent)), 'the reader got other bytes than were written');
      assert.match(pump.log.join(''), /^(HL)*$/, 'high and low alternate, and the drained queue was told low');
      assert.ok(reader.ended, 'the reader never saw the end of stream');
    };
  });
}

// ---------------------------------------------------------------- 8. idle timeouts with trickling clients

/** Discards what it reads; records when it last read and when it was found idle. */
class IdleServer extends Connection {
  lastRead = 0;
  idleAt = -1;
  bytes = 0;
  constructor(
    sock: Sock,
    private readonly sim: Simulation,
    seconds: number,
  ) {
    super(sock);
    this.lastRead = sim.now();
    this.setIdleTimeout(seconds);
  }
  override eventRead(): void {
    for (;;) {
      const buf = this.read(4096);
      if (buf === null) return this.close('eof');
      if (buf.length === 0) return;
      this.bytes += buf.length;
      this.lastRead = this.sim.now();
    }
  }
  override onIdle(): void {
    this.idleAt = this.sim.now();
    super.onIdle();
  }
}

/** Sends small pieces with gaps shorter than the timeout; then leaves (half-close) or goes silent. */
class Trickler extends Gatherer {
  protected readonly endReason = 'eof';
  sent = 0;
  constructor(
    sock: Sock,
    sim: Simulation,
    timeoutMs: number,
    readonly silent: boolean,
  ) {
    super(sock);
    let at = 0;
    const pieces = sim.randomInt(0, 6);
    for (let i = 0; i < pieces; i++) {
      at += sim.randomInt(0, timeoutMs - 100);
      const buf = sim.randomBytes(sim.randomInt(1, 50));
      this.sent += buf.length;
      DangaSocket.addTimer(at / 1000, () => this.write(buf));
    }
    if (!silent) DangaSocket.addTimer((at + sim.randomInt(0, timeoutMs - 100)) / 1000, () => this.end({ halfClose: true }));
  }
  protected readSize(): number {
    return 100;
  }
}

/** Property 8: an idle timeout never fires while a client trickles within it, and fires within one sweep after a client goes silent. */
export function idleScenario(seed: number): Promise<SimulationResult> {
  return simulate({ seed, faults: CHAOS }, (sim) => {
    const seconds = sim.randomInt(1, 2);
    const servers: IdleServer[] = [];
    new Listener(listenTcp({ host: '127.0.0.1', port: PORT }), (s) => {
      const conn = new IdleServer(s, sim, seconds);
      servers.push(conn);
      return conn;
    });
    const clients: Trickler[] = [];
    const n = sim.randomInt(1, 4);
    for (let i = 0; i < n; i++) clients.push(new Trickler(connectTcp({ host: '127.0.0.1', port: PORT }), sim, seconds * 1000, sim.randomInt(0, 1) === 0));
    return () => {
      assert.equal(servers.length, n, `${servers.length} connections accepted of ${n}`);
      for (const [i, c] of clients.entries()) assert.ok(c.ended, `client ${i} never saw the end of stream`);
      const sent = clients.map((c) => c.sent).sort((x, y) => x - y);
      const read = servers.map((s) => s.bytes).sort((x, y) => x - y);
      assert.deepEqual(read, sent, 'every trickled byte was read before the connection ended');
      const silent = clients.filter((c) => c.silent).length;
      const idled = servers.filter((s) => s.closeReason() === 'idle');
      assert.equal(idled.length, silent, `${idled.length} connections idled, ${silent} clients went silent`);
      for (const s of servers) {
        if (s.closeReason() === 'idle') {
          const after = s.idleAt - s.lastRead;
          assert.ok(after >= seconds * 1000 - 1 && after <= seconds * 1000 + 1000 + 10, `idled ${after} ms after its last read (timeout ${seconds} s)`);
        } else {
          assert.equal(s.closeReason(), 'eof');
        }
      }
    };
  });
}

// ---------------------------------------------------------------- 9. a listener at its cap

/** Served under a cap: turned away at once, closed after a while, or ended at the client's end of stream. */
class Capped extends Connection {
  constructor(
    sock: Sock,
    private readonly sim: Simulation,
  ) {
    super(sock);
    const what = sim.randomInt(0, 2);
    if (what === 0) {
      this.close('refused'); // inside the factory
    } else {
      this.write('hi\n');
      if (what === 1) DangaSocket.addTimer(sim.randomInt(0, 50) / 1000, () => this.close('done'));
    }
  }
  override eventRead(): void {
    const buf = this.read(this.sim.randomInt(1, 100));
    if (buf === null) this.end();
  }
}

/**
 * Half-closes a while after the greeting (a shutdown before the connection
 * is up would be lost: the simulation, like a kernel, has nothing to shut
 * down yet), and reads until end of stream.
 */
class CapClient extends Gatherer {
  protected readonly endReason = 'eof';
  #greeted = false;
  constructor(
    sock: Sock,
    private readonly sim: Simulation,
  ) {
    super(sock);
  }
  protected readSize(): number {
    return 64;
  }
  override eventRead(): void {
    super.eventRead();
    if (this.#greeted || this.closed || this.got.length === 0) return;
    this.#greeted = true;
    DangaSocket.addTimer(this.sim.randomInt(0, 100) / 1000, () => this.end({ halfClose: true }));
  }
}

/** Property 9: a listener at its cap never holds more than the cap, counts exactly its open connections (also those closed inside the factory), and serves every client in the end. */
export function capScenario(seed: number): Promise<SimulationResult> {
  return simulate({ seed, faults: CHAOS }, (sim) => {
    const cap = sim.randomInt(1, 3);
    const n = sim.randomInt(2, 8);
    const violations: string[] = [];
    let made = 0;
    const listener = new Listener(
      listenTcp({ host: '127.0.0.1', port: PORT }),
      (s, l) => {
        made++;
        if (l.connections() >= cap) violations.push(`accepted with ${l.connections()} open at cap ${cap}`);
        return new Capped(s, sim);
      },
      { maxConnections: cap },
    );
    const clients: CapClient[] = [];
    for (let i = 0; i < n; i++) {
      DangaSocket.addTimer(sim.randomInt(0, 200) / 1000, () => clients.push(new CapClient(connectTcp({ host: '127.0.0.1', port: PORT }), sim)));
    }
    return () => {
      assert.deepEqual(violations, []);
      assert.equal(made, n, `${made} connections accepted of ${n} (cap ${cap})`);
      assert.equal(listener.connections(), 0, 'connections counted open at the end');
      for (const [i, c] of clients.entries()) assert.ok(c.ended, `client ${i} never saw the end of stream (cap ${cap})`);
    };
  });
}
