/**
 * StreamSock: Node streams as DangaSocket sockets, under either engine: a
 * net.Socket from a net.Server, any Duplex, backpressure both ways,
 * level-triggered write interest, errors, hangups, deferred close,
 * stealSocket; native and stream sockets in one loop.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { Duplex, type Writable } from 'node:stream';
import { DangaSocket, socketPair, type Sock } from 'danga-socket';
import { StreamSock, WHOLE_WRITE_MAX } from '../../../src/engines/node/stream-sock.js';
import { runUntil, Recorder, Collector, Echo, onEpoll } from '../../helpers.js';

/** What a test opened with Node directly, closed after it whatever happened. */
const opened: Array<net.Server | net.Socket> = [];

afterEach(() => {
  DangaSocket.reset();
  for (const x of opened.splice(0)) {
    if (x instanceof net.Server) x.close();
    else x.destroy();
  }
});

/** Streams are not Socks, but the constructor takes them: the subclasses here are typed for Socks. */
const asSock = (stream: Duplex): Sock => stream as unknown as Sock;

/** A Node server and client over loopback; resolves with both ends once connected. */
async function nodePair(serverOptions: net.ServerOpts = {}): Promise<{ server: net.Server; accepted: net.Socket; client: net.Socket }> {
  const server = net.createServer(serverOptions);
  opened.push(server);
  const acceptedP = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const accepted = await acceptedP;
  opened.push(client, accepted);
  return { server, accepted, client };
}

test('a net.Socket from a net.Server connection, driven by DangaSocket: echo, sock(), descriptorMap, half-close', async () => {
  const { server, accepted, client } = await nodePair();
  const echo = new Echo<net.Socket>(accepted);
  assert.equal(echo.sock(), accepted, 'sock() is the stream itself');
  assert.equal(DangaSocket.descriptorMap().get(echo.fd), echo);
  assert.ok(echo.fd < 0, 'a stream is filed under a negative id');
  assert.equal(echo.peerIpString(), '127.0.0.1');
  assert.equal(echo.localAddrString(), `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  let got = '';
  let ended = false;
  client.setEncoding('utf8');
  client.on('data', (d: string) => {
    got += d;
  });
  client.on('end', () => {
    ended = true;
  });
  client.write('hello ');
  client.end('stream'); // half-close: the echo still answers, then closes
  await runUntil(() => ended);
  assert.equal(got, 'hello stream');
  assert.ok(echo.closed);
  server.close();
});

test('any Duplex: read(n) at most n, empty Buffer when nothing, null at the end; writes, markers and hangup', async () => {
  const written: string[] = [];
  const d = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk.toString());
      cb();
    },
  });
  const r = new Recorder(asSock(d));
  assert.equal(r.sock(), d);
  assert.deepEqual(r.read(10), Buffer.alloc(0));
  const reads: Array<string | null> = [];
  r.onRead = (self) => {
    for (;;) {
      const b = self.read(3);
      reads.push(b === null ? null : b.toString());
      if (b === null || b.length === 0) return;
    }
  };
  r.watchRead(true);
  d.push('abcdefg');
  await runUntil(() => reads.includes(''));
  assert.deepEqual(reads, ['abc', 'def', 'g', '']);
  const order: string[] = [];
  assert.equal(r.write('one '), true);
  assert.equal(
    r.write(() => order.push('marker')),
    true,
  );
  assert.equal(r.write(Buffer.from('two')), true);
  assert.deepEqual(written, ['one ', 'two']);
  assert.deepEqual(order, ['marker']);
  d.push(null);
  await runUntil(() => reads.includes(null as unknown as string));
  assert.deepEqual(reads.slice(-2), ['', null]);
  d.destroy();
  await runUntil(() => r.closed);
  assert.ok(r.log.includes('hup'), 'destroyed stream: eventHup');
});

test('a Duplex that errors reaches eventErr with its Error, then eventHup; data before the error is still read', async () => {
  const d = new Duplex({
    read() {},
    write(_c, _e, cb) {
      cb();
    },
  });
  const events: string[] = [];
  let error: Error | null = null;
  let data = '';
  class W extends DangaSocket<Duplex> {
    override eventRead(): void {
      const b = this.read(100);
      events.push(b === null ? 'read:null' : `read:${b.toString()}`);
      if (b !== null) data += b.toString();
    }
    override eventErr(): void {
      events.push('err');
      error = (this.sock() as Duplex).errored;
    }
    override eventHup(): void {
      events.push('hup');
      this.close('hup');
    }
  }
  const w = new W(d);
  w.watchRead(true);
  d.push('last words');
  d.destroy(new Error('boom'));
  await runUntil(() => w.closed);
  assert.equal(data, 'last words');
  assert.deepEqual(events, ['read:last words', 'err', 'hup']);
  assert.equal((error as Error | null)?.message, 'boom');
});

test('watchRead(false) stops reading from the OS: TCP backpressure reaches the peer; nothing is lost', { timeout: 60_000 }, async () => {
  const { server, accepted, client } = await nodePair({ pauseOnConnect: true });
  const reader = new Collector(asSock(accepted), 256 * 1024);
  reader.watchRead(false);
  const data = randomBytes(64 * 1024 * 1024);
  let all = true;
  for (let off = 0; off < data.length; off += 65536) all = client.write(data.subarray(off, off + 65536));
  assert.equal(all, false, 'the client has to wait');
  client.end();
  const hwm = accepted.readableHighWaterMark;
  // Node fills the reader's stream buffer, then stops reading the socket.
  await runUntil(() => accepted.readableLength >= hwm);
  let stable = 0;
  let last = -1;
  await runUntil(() => {
    stable = client.writableLength === last ? stable + 1 : 0;
    last = client.writableLength;
    return stable >= 20;
  }, 5);
  assert.ok(accepted.readableLength <= hwm + 64 * 1024, `Node stopped reading at ${accepted.readableLength} bytes`);
  assert.ok(client.writableLength > 0, "the client's writes are blocked");
  assert.ok(client.writableLength < data.length, 'what the kernel buffers did go out');
  reader.watchRead(true);
  await runUntil(() => reader.eof);
  assert.equal(reader.bytes, data.length);
  assert.equal(createHash('sha256').update(Buffer.concat(reader.chunks)).digest('hex'), createHash('sha256').update(data).digest('hex'));
  server.close();
});

test('writes to a slow Duplex: false and queued when its buffer is full, write interest on until drained, markers in order', async () => {
  let release: (() => void) | null = null;
  const received: Buffer[] = [];
  const d = new Duplex({
    read() {},
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, cb) {
      received.push(Buffer.from(chunk));
      release = cb; // completes when the test says so
    },
  });
  const w = new Recorder(asSock(d));
  const order: string[] = [];
  assert.equal(w.write(Buffer.alloc(4000, 1)), false, 'more than the stream buffers');
  assert.match(w.asString(), /\(W\)/, 'write() turned write interest on');
  w.write(() => order.push('after 4000'));
  w.write('tail');
  w.write(() => order.push('after tail'));
  let iterations = 0;
  await runUntil(() => {
    iterations++;
    if (release !== null) {
      const cb = release;
      release = null;
      cb();
    }
    return order.length === 2;
  }, 0);
  assert.deepEqual(order, ['after 4000', 'after tail']);
  assert.equal(Buffer.concat(received).length, 4004);
  assert.equal(Buffer.concat(received).subarray(4000).toString(), 'tail');
  assert.match(w.asString(), /\(\)/, 'write interest off again');
  assert.ok(iterations > 1);
});

test('eventWrite is level-triggered while write interest is on and the stream can take data', async () => {
  const d = new Duplex({
    read() {},
    write(_c, _e, cb) {
      cb();
    },
  });
  const w = new Recorder(asSock(d));
  w.onWrite = () => {};
  w.watchWrite(true);
  let iterations = 0;
  await runUntil(() => ++iterations >= 10, 0);
  const writes = w.log.filter((e) => e === 'write').length;
  assert.ok(writes >= iterations - 1, `${writes} write events in ${iterations} iterations`);
  w.watchWrite(false);
  const before = w.log.length;
  iterations = 0;
  await runUntil(() => ++iterations >= 5, 0);
  assert.equal(w.log.length, before, 'no write events once interest is off');
});

test('close() is deferred to the end of the iteration; then the stream is closed', async () => {
  const { server, accepted, client } = await nodePair();
  let destroyedInside: boolean | null = null;
  const r = new Recorder(asSock(accepted));
  r.onRead = (self) => {
    self.read(100);
    self.close('done');
    destroyedInside = accepted.destroyed;
    assert.ok(DangaSocket.toClose().length === 1);
  };
  r.watchRead(true);
  client.write('x');
  let clientEnded = false;
  client.on('end', () => {
    clientEnded = true;
  });
  client.resume();
  await runUntil(() => r.closed && DangaSocket.toClose().length === 0 && clientEnded);
  assert.equal(destroyedInside, false, 'not closed inside the handler');
  assert.ok(accepted.destroyed || accepted.writableEnded, 'closed at the end of the iteration');
  server.close();
});

test('stealSocket() hands the stream back, unread data intact and without our listeners', async () => {
  const { server, accepted, client } = await nodePair();
  const listenersBefore = accepted.listenerCount('readable');
  const r = new Recorder(asSock(accepted));
  let first = '';
  r.onRead = (self) => {
    first = (self.read(5) as Buffer).toString();
    self.watchRead(false);
  };
  r.watchRead(true);
  client.write('hello world');
  await runUntil(() => first !== '' && accepted.readableLength === 6);
  const stolen = r.stealSocket();
  assert.equal(stolen, accepted);
  assert.ok(r.closed);
  await runUntil(() => DangaSocket.toClose().length === 0);
  assert.ok(!accepted.destroyed, 'the stream stays open');
  assert.equal(accepted.listenerCount('readable'), listenersBefore, 'our listeners are gone');
  assert.equal(first, 'hello');
  assert.equal(String(accepted.read()), ' world');
  // And it can be wrapped again.
  const again = new Collector(asSock(accepted));
  client.end('!');
  await runUntil(() => again.eof);
  assert.equal(again.text(), '!');
  server.close();
});

test('native and stream sockets in one loop and one descriptorMap; a stream made ready inside a nextTick wakes an idle loop', { timeout: 20_000 }, async () => {
  // A Duplex that answers each write on the next tick, as streams in Node
  // often do: it becomes readable in a nextTick that runs right after the
  // iteration that wrote to it.
  const d = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      process.nextTick(() => this.push(Buffer.concat([Buffer.from('re:'), chunk])));
      cb();
    },
  });
  const stream = new Collector(asSock(d));
  // A native socket (under epoll) whose input is forwarded to the stream.
  const [a, b] = socketPair();
  const native = new Recorder(a);
  native.onRead = (self) => {
    const buf = self.read(100);
    if (buf !== null && buf.length > 0) stream.write(buf);
  };
  native.watchRead(true);
  const map = DangaSocket.descriptorMap();
  assert.equal(map.get(native.fd), native);
  assert.equal(map.get(stream.fd), stream);
  assert.equal(map.size, 2);
  if (onEpoll()) assert.ok(native.fd >= 0 && stream.fd < 0, 'a native fd and a stream id');
  new Recorder(b).write('ping');
  // No loop timeout and no timers: only the stream's readiness can wake the loop.
  DangaSocket.setLoopTimeout(-1);
  DangaSocket.setPostLoopCallback(() => stream.text() !== 're:ping');
  await DangaSocket.eventLoop();
  DangaSocket.setPostLoopCallback(null);
  assert.equal(stream.text(), 're:ping');
});

test('startTls() that fails once the stream was handed over closes the object: no half-alive object over a released stream', async () => {
  const { server, accepted, client } = await nodePair();
  const obj = new Echo<net.Socket>(accepted);
  // createSecureContext() accepts this; tls.connect(), which runs after the
  // stream was released to TLS, throws. A released stream cannot be taken back.
  assert.throws(() => obj.startTls({ servername: 5 }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(obj.closed, true);
  await runUntil(() => DangaSocket.descriptorMap().size === 0);
  client.destroy();
  server.close();
});

/**
 * Counts the write requests a net.Socket hands its handle: the calls of its
 * `_write` and `_writev` (the Writable implementation methods Node calls
 * with what the stream buffered; each is one write or writev of the socket).
 */
function countWrites(socket: net.Socket): { calls: number; chunks: number } {
  const counter = { calls: 0, chunks: 0 };
  const target = socket as net.Socket & Pick<Required<Writable>, '_write' | '_writev'>;
  const write = target._write.bind(socket);
  const writev = target._writev.bind(socket);
  target._write = (...args: Parameters<typeof write>): void => {
    counter.calls++;
    counter.chunks++;
    write(...args);
  };
  target._writev = (...args: Parameters<typeof writev>): void => {
    counter.calls++;
    counter.chunks += args[0].length;
    writev(...args);
  };
  return counter;
}

/** Reads everything `client` receives until `bytes` have arrived; resolves with its SHA-256. */
function digestOf(client: net.Socket, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  let got = 0;
  return new Promise((resolve) => {
    client.on('data', (d: Buffer) => {
      hash.update(d);
      got += d.length;
      if (got === bytes) resolve(hash.digest('hex'));
    });
  });
}

test('a 1 MiB write with the stream buffer empty goes to the socket whole: one write call, not 16 KiB pieces', async () => {
  const { accepted, client } = await nodePair();
  const data = randomBytes(1024 * 1024);
  const digest = digestOf(client, data.length);
  const writes = countWrites(accepted);
  const w = new Recorder(asSock(accepted));
  assert.equal(accepted.writableLength, 0);
  assert.equal(w.write(data), true, 'taken whole');
  assert.deepEqual(writes, { calls: 1, chunks: 1 });
  assert.equal(w.writeBufSize, 0);
  let done = false;
  void digest.then(() => (done = true));
  await runUntil(() => done);
  assert.equal(await digest, createHash('sha256').update(data).digest('hex'));
});

test('writev with the socket buffer empty hands its buffers to the socket whole: one writev', async () => {
  const { accepted, client } = await nodePair();
  const header = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n');
  const body = randomBytes(1024 * 1024);
  const digest = digestOf(client, header.length - 10 + body.length);
  const writes = countWrites(accepted);
  const s = new StreamSock(accepted);
  // From an offset into the first buffer, as the core's queue does.
  assert.equal(s.writev([header, body], 0, 2, 10), header.length - 10 + body.length);
  assert.deepEqual(writes, { calls: 1, chunks: 2 });
  let done = false;
  void digest.then(() => (done = true));
  await runUntil(() => done);
  assert.equal(await digest, createHash('sha256').update(header.subarray(10)).update(body).digest('hex'));
  s.close();
});

test("other streams keep their high-water mark as send buffer (the pair's, a user's Duplex): a large write is taken in part", () => {
  const d = new Duplex({
    read() {},
    highWaterMark: 1024,
    write(_chunk: Buffer, _enc, cb) {
      cb();
    },
  });
  const s = new StreamSock(d);
  assert.equal(s.write(Buffer.alloc(4000), 0, 4000), 4000, 'a stream that flushes at once takes it all, 1 KiB at a time');
  const slow = new Duplex({ read() {}, highWaterMark: 1024, write() {} });
  assert.equal(new StreamSock(slow).write(Buffer.alloc(4000), 0, 4000), 1024, 'a stream that holds what it is given takes its high-water mark');
  s.close();
});

test(
  `large writes: the stream holds at most ${WHOLE_WRITE_MAX / 1024 / 1024} MiB (one whole write); beyond that writes queue, write interest waits, and backpressure reaches the peer`,
  { timeout: 60_000 },
  async () => {
    const { accepted, client } = await nodePair();
    client.pause(); // a peer that does not read
    const w = new Recorder(asSock(accepted));
    const chunk = randomBytes(3 * 1024 * 1024);
    const sent = createHash('sha256');
    let total = 0;
    let held = 0;
    // Until the writer has to wait: the kernel's buffers fill, then the stream's, then the object's queue.
    while (w.writeBufSize === 0) {
      assert.ok(total < 512 * 1024 * 1024, 'backpressure never reached the writer');
      w.write(chunk);
      sent.update(chunk);
      total += chunk.length;
      held = Math.max(held, accepted.writableLength);
    }
    assert.ok(held <= WHOLE_WRITE_MAX, `the stream held ${held} bytes`);
    assert.match(w.asString(), /\(W\)/, 'write interest on');
    w.write(() => w.close('done'));
    const digest = digestOf(client, total);
    client.resume();
    let done = false;
    void digest.then(() => (done = true));
    await runUntil(() => {
      held = Math.max(held, accepted.writableLength);
      return done;
    });
    assert.ok(held <= WHOLE_WRITE_MAX, `the stream held ${held} bytes`);
    assert.equal(await digest, sent.digest('hex'));
  },
);
