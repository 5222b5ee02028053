/**
 * TLS: listenTls/connectTls, STARTTLS, certificate and handshake failures,
 * a real client (openssl s_client), and a proxy between a native socket and
 * a TLS stream socket in one loop. Certificates are made at test time with
 * openssl (a throwaway self-signed one, valid for a day).
 */
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DangaSocket, listenTls, connectTls, listenTcp, connectTcp, socketPair, type Sock, type StreamSock } from 'danga-socket';
import { runUntil, Echo, Listener, haveOpenssl, selfSignedCert } from './helpers.js';

afterEach(() => DangaSocket.reset());

const NO_OPENSSL = 'openssl is needed to make the test certificate (.ci/run installs it)';
let dir = '';
let key = '';
let cert = '';

before(() => {
  if (!haveOpenssl) return;
  ({ key, cert } = selfSignedCert());
  dir = mkdtempSync(join(tmpdir(), 'danga-tls-')); // the certificate as a file, for openssl s_client
  writeFileSync(join(dir, 'cert.pem'), cert);
});

after(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

const opts = { skip: haveOpenssl ? false : NO_OPENSSL };

/** Sends data in random-sized writes and hashes what comes back. */
class Source extends DangaSocket {
  received = 0;
  readonly hash = createHash('sha256');
  err: Error | null = null;

  constructor(sock: Sock) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    for (;;) {
      const buf = this.read(256 * 1024);
      if (buf === null) return this.close('eof');
      if (buf.length === 0) return;
      this.hash.update(buf);
      this.received += buf.length;
    }
  }

  override eventErr(err?: Error): void {
    this.err = err ?? null;
    this.close('err');
  }

  override eventHup(): void {
    this.close('hup');
  }

  send(data: Buffer): void {
    for (let off = 0; off < data.length;) {
      const len = Math.min(data.length - off, 1 + Math.floor(Math.random() * 100_000));
      this.write(data.subarray(off, off + len));
      off += len;
    }
  }
}

/** Records errors and hangups, with the Error the stream reported. */
class Watcher extends DangaSocket {
  readonly events: string[] = [];
  error: (Error & { code?: string }) | null = null;
  text = '';

  constructor(sock: Sock) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    const buf = this.read(65536);
    if (buf === null) {
      this.events.push('eof');
      this.close('eof');
      return;
    }
    this.text += buf.toString();
  }

  override eventErr(err?: Error): void {
    this.events.push('err');
    this.error = err ?? null;
    this.close('err');
  }

  override eventHup(): void {
    this.events.push('hup');
    this.close('hup');
  }
}

function tlsEchoServer(): number {
  const l = new Listener(listenTls({ host: '127.0.0.1', port: 0, key, cert }), (s) => new Echo(s));
  return (l.sock()!.localAddress() as { port: number }).port;
}

test('16 MiB echoed byte-exact over TLS (listenTls + connectTls)', { ...opts, timeout: 60_000 }, async () => {
  const port = tlsEchoServer();
  const data = randomBytes(16 * 1024 * 1024);
  const client = new Source(connectTls({ host: '127.0.0.1', port, ca: cert }));
  client.send(data);
  await runUntil(() => client.received >= data.length || client.closed);
  assert.equal(client.err, null);
  assert.equal(client.received, data.length);
  assert.equal(client.hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
});

test('openssl s_client talks to a DangaSocket TLS server', { ...opts, timeout: 30_000 }, async () => {
  const echoes: Echo[] = [];
  const l = new Listener(listenTls({ host: '127.0.0.1', port: 0, key, cert }), (s) => echoes.push(new Echo(s)));
  const port = (l.sock()!.localAddress() as { port: number }).port;
  const proc = spawn(
    'openssl',
    [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-quiet',
      '-no_ign_eof',
      '-CAfile',
      join(dir, 'cert.pem'),
      '-verify_return_error',
      '-servername',
      'localhost',
    ],
    { stdio: 'pipe' },
  );
  let out = '';
  let err = '';
  let exit: number | null | undefined;
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  proc.on('exit', (code) => {
    exit = code;
  });
  proc.stdin.write('hello over tls\n');
  await runUntil(() => out.includes('hello over tls\n') || exit !== undefined);
  proc.stdin.write('and goodbye\n');
  await runUntil(() => out.includes('goodbye\n') || exit !== undefined);
  // End of input: s_client closes the connection and exits.
  proc.stdin.end();
  await runUntil(() => exit !== undefined && echoes.length === 1 && echoes[0]!.closed);
  assert.equal(out, 'hello over tls\nand goodbye\n', err);
  assert.equal(exit, 0, err);
});

/**
 * STARTTLS: the client says "STARTTLS\r\n" in plain text and starts TLS at
 * once, without waiting (so its ClientHello may arrive in the same read as
 * the command); the server switches when it has read the line. Then a
 * megabyte goes through TLS and back.
 */
class StartTlsServer extends DangaSocket {
  line = '';
  switched = false;
  constructor(
    sock: Sock,
    private readonly byteByByte: boolean,
  ) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    if (this.switched) return this.echo();
    for (;;) {
      const buf = this.read(this.byteByByte ? 1 : 4096);
      if (buf === null) return this.close('eof');
      if (buf.length === 0) return;
      const text = buf.toString('latin1');
      const nl = text.indexOf('\n');
      if (nl < 0) {
        this.line += text;
        continue;
      }
      this.line += text.slice(0, nl + 1);
      // Whatever followed the line is TLS: give it back before switching.
      if (nl + 1 < buf.length) this.pushBackRead(buf.subarray(nl + 1));
      this.switched = true;
      this.startTls({ isServer: true, key, cert });
      return;
    }
  }

  private echo(): void {
    const buf = this.read(65536);
    if (buf === null) {
      this.write(() => this.close('eof'));
      return;
    }
    if (buf.length > 0) this.write(buf);
  }

  override eventErr(): void {
    this.close('err');
  }

  override eventHup(): void {
    this.close('hup');
  }
}

for (const transport of ['tcp', 'socketpair'] as const) {
  for (const byteByByte of [false, true]) {
    test(
      `STARTTLS over ${transport}: plain command, then TLS on the same connection, no byte lost (${byteByByte ? 'server reads the command a byte at a time' : 'server pushes back what follows the command'})`,
      { ...opts, timeout: 30_000 },
      async () => {
        let serverSock: Sock;
        let clientSock: Sock;
        if (transport === 'tcp') {
          const accepted: Sock[] = [];
          const l = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => accepted.push(s));
          clientSock = connectTcp({ host: '127.0.0.1', port: (l.sock()!.localAddress() as { port: number }).port });
          await runUntil(() => accepted.length === 1);
          serverSock = accepted[0] as Sock;
        } else {
          [serverSock, clientSock] = socketPair();
        }
        const server = new StartTlsServer(serverSock, byteByByte);
        const client = new Source(clientSock);
        client.write('STARTTLS\r\n');
        client.write(() => {
          client.startTls({ ca: cert, servername: 'localhost' });
          // The old Sock gave its socket away: it counts as closed, and closing
          // it must not close the connection TLS now runs on.
          assert.ok(clientSock.closed);
          clientSock.close();
        });
        const data = randomBytes(1024 * 1024);
        client.send(data);
        await runUntil(() => client.received >= data.length || client.closed);
        assert.equal(server.line, 'STARTTLS\r\n');
        assert.equal(client.err, null);
        assert.equal(client.received, data.length);
        assert.equal(client.hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
        assert.equal((client.sock() as StreamSock).stream.constructor.name, 'TLSSocket');
        assert.equal(DangaSocket.descriptorMap().get(client.fd), client, 'same descriptor-map entry after the switch');
      },
    );
  }
}

test('startTls() with data still queued is refused; on a closed object too', opts, () => {
  const [a, b] = socketPair();
  const w = new Watcher(a);
  w.watchRead(false);
  new Watcher(b).watchRead(false);
  let queuedAll = true;
  for (let i = 0; i < 64 && queuedAll; i++) queuedAll = w.write(Buffer.alloc(64 * 1024));
  assert.equal(queuedAll, false, 'the queue is not empty');
  assert.throws(() => w.startTls({}), { code: 'ERR_WRITE_QUEUE_NOT_EMPTY' });
  w.close();
  assert.throws(() => w.startTls({}), { code: 'ERR_SOCKET_CLOSED' });
});

test('startTls() with a bad key throws and leaves the plain connection working', opts, async () => {
  const [a, b] = socketPair();
  const w = new Watcher(a);
  const peer = new Watcher(b);
  assert.throws(() => w.startTls({ isServer: true, key: 'not a key', cert: 'not a cert' }));
  assert.ok(!w.closed);
  w.write('still plain');
  peer.write('both ways');
  await runUntil(() => peer.text === 'still plain' && w.text === 'both ways');
});

test('a certificate the client cannot verify reaches eventErr with the TLS error code', { ...opts, timeout: 30_000 }, async () => {
  const servers: Watcher[] = [];
  const l = new Listener(listenTls({ host: '127.0.0.1', port: 0, key, cert }), (s) => servers.push(new Watcher(s)));
  const port = (l.sock()!.localAddress() as { port: number }).port;

  // Self-signed and not trusted.
  const untrusted = new Watcher(connectTls({ host: '127.0.0.1', port }));
  untrusted.write('never sent in clear');
  // Trusted, but the name does not match.
  const wrongName = new Watcher(connectTls({ host: '127.0.0.1', port, ca: cert, servername: 'example.com' }));
  await runUntil(() => untrusted.closed && wrongName.closed && servers.length === 2 && servers.every((s) => s.closed));

  assert.deepEqual(untrusted.events.slice(0, 1), ['err']);
  assert.equal(untrusted.error?.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  assert.match(untrusted.error?.message ?? '', /self.signed certificate/);
  assert.deepEqual(wrongName.events.slice(0, 1), ['err']);
  assert.equal(wrongName.error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  assert.match(wrongName.error?.message ?? '', /example\.com/);
  for (const s of servers) {
    assert.ok(s.events.includes('err') || s.events.includes('hup') || s.events.includes('eof'), s.events.join());
    assert.equal(s.text, '', 'nothing reached the server in clear');
  }
});

test('a client certificate the server does not accept (requestCert) reaches the server side eventErr', { ...opts, timeout: 30_000 }, async () => {
  const servers: Watcher[] = [];
  const l = new Listener(listenTls({ host: '127.0.0.1', port: 0, key, cert, requestCert: true, ca: [] }), (s) => servers.push(new Watcher(s)));
  const port = (l.sock()!.localAddress() as { port: number }).port;
  const client = new Watcher(connectTls({ host: '127.0.0.1', port, ca: cert, key, cert }));
  client.write('hello');
  await runUntil(() => client.closed && servers.length === 1 && servers[0]!.closed);
  const server = servers[0] as Watcher;
  assert.equal(server.events[0], 'err');
  assert.equal(server.error?.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  assert.equal(server.text, '');
});

test('a peer that resets mid-handshake reaches eventErr or eventHup, on both sides', { ...opts, timeout: 30_000 }, async () => {
  // A client that sends half a ClientHello, then resets.
  const servers: Watcher[] = [];
  const l = new Listener(listenTls({ host: '127.0.0.1', port: 0, key, cert }), (s) => servers.push(new Watcher(s)));
  const port = (l.sock()!.localAddress() as { port: number }).port;
  const raw = net.connect(port, '127.0.0.1', () => {
    raw.write(Buffer.from('16030100c4010000c00303', 'hex'), () => raw.resetAndDestroy());
  });
  raw.on('error', () => {});
  await runUntil(() => servers.length === 1 && servers[0]!.closed);
  const server = servers[0] as Watcher;
  assert.ok(server.events.includes('err') || server.events.includes('hup'), server.events.join());
  if (server.events.includes('err')) assert.equal(server.error?.code, 'ECONNRESET');

  // A server that resets as soon as the ClientHello arrives.
  const resetter = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  await new Promise<void>((resolve) => resetter.listen(0, '127.0.0.1', resolve));
  const client = new Watcher(connectTls({ host: '127.0.0.1', port: (resetter.address() as net.AddressInfo).port, ca: cert }));
  await runUntil(() => client.closed);
  resetter.close();
  assert.ok(client.events.includes('err') || client.events.includes('hup'), client.events.join());
  if (client.events.includes('err')) assert.equal(client.error?.code, 'ECONNRESET');
});

test(
  'a client that never says hello: the handshake timeout reaches the server side eventErr (ERR_TLS_HANDSHAKE_TIMEOUT)',
  { ...opts, timeout: 30_000 },
  async () => {
    const servers: Watcher[] = [];
    const l = new Listener(listenTls({ host: '127.0.0.1', port: 0, key, cert, handshakeTimeout: 50 }), (s) => servers.push(new Watcher(s)));
    const port = (l.sock()!.localAddress() as { port: number }).port;
    const silent = net.connect(port, '127.0.0.1');
    silent.on('error', () => {});
    let silentClosed = false;
    silent.on('close', () => {
      silentClosed = true;
    });
    await runUntil(() => servers.length === 1 && servers[0]!.closed && silentClosed);
    const server = servers[0] as Watcher;
    assert.equal(server.events[0], 'err');
    assert.equal(server.error?.code, 'ERR_TLS_HANDSHAKE_TIMEOUT');
  },
);

/** Copies bytes between two objects, with backpressure both ways. */
class Pipe extends DangaSocket {
  peer: Pipe | null = null;

  constructor(sock: Sock) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    const peer = this.peer as Pipe;
    const buf = this.read(65536);
    if (buf === null) {
      peer.write(() => peer.close('eof'));
      this.close('eof');
      return;
    }
    if (buf.length === 0) return;
    if (!peer.write(buf)) {
      this.watchRead(false);
      peer.write(() => this.watchRead(true));
    }
  }

  override eventErr(): void {
    this.close('err');
    this.peer?.close('peer err');
  }

  override eventHup(): void {
    this.close('hup');
    this.peer?.close('peer hup');
  }
}

test('a proxy inside one loop between a native socket and a TLS stream socket', { ...opts, timeout: 60_000 }, async () => {
  const port = tlsEchoServer();
  const [outer, inner] = socketPair();
  const plainSide = new Pipe(inner);
  const tlsSide = new Pipe(connectTls({ host: '127.0.0.1', port, ca: cert }));
  plainSide.peer = tlsSide;
  tlsSide.peer = plainSide;
  const map = DangaSocket.descriptorMap();
  assert.equal(map.get(plainSide.fd), plainSide);
  assert.equal(map.get(tlsSide.fd), tlsSide);
  if (DangaSocket.engine() === 'epoll') {
    assert.ok(plainSide.fd >= 0, 'the plain side is a native fd');
    assert.equal((plainSide.sock() as Sock).engine, 'epoll');
  }
  assert.equal((tlsSide.sock() as Sock).engine, 'node');
  const client = new Source(outer);
  const data = randomBytes(8 * 1024 * 1024);
  client.send(data);
  await runUntil(() => client.received >= data.length || client.closed);
  assert.equal(client.received, data.length);
  assert.equal(client.hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
});
