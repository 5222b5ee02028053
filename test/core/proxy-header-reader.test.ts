/**
 * The PROXY protocol on a Listener (src/core/proxy-header-reader.ts and the
 * `proxyProtocol` option of src/core/listener.ts), on real sockets (and the
 * simulated network in the sim pass): the factory is called once the header
 * is in, with the header's addresses; the header's bytes never reach the
 * connection and the bytes after it all do; a header split into single
 * bytes; each kind of bad input, an untrusted source and a header that
 * never completes close that connection only, with the reason, counted in
 * stats(), within the header's bound in memory and without leaking an fd.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, DangaSocket, Listener, connectTcp, connectUnix, listenTcp, listenUnix, proxyInfo, type Sock, type SockAddress } from 'danga-socket';
import net from 'node:net';
import fc from 'fast-check';
import { ProxyTrust } from '../../src/core/proxy-header-reader.js';
import { encode } from './fixtures/proxy-encode.js';
import { onSim, runUntil, simSeed } from '../helpers.js';

afterEach(() => DangaSocket.reset());

/** Echoes, and remembers what it saw first: its addresses and the first bytes. */
class Server extends Connection {
  static made: Server[] = [];
  readonly peer: string | null;
  readonly local: string | null;
  received = Buffer.alloc(0);
  shutdownSeen = false;
  constructor(sock: Sock) {
    super(sock);
    this.peer = this.peerAddrString();
    this.local = this.localAddrString();
    Server.made.push(this);
  }
  override eventRead(): void {
    const buf = this.read(65536);
    if (buf === null) {
      this.write(() => this.close('eof'));
      return;
    }
    this.received = Buffer.concat([this.received, buf]);
    this.write(buf);
  }
  /** Protocol code's way: note it, and let the client finish (it closes at end of stream). */
  override onShutdown(): void {
    this.shutdownSeen = true;
  }
}

/** A client: writes what it is told, collects what comes back, notes the end. */
class Client extends Connection {
  got = Buffer.alloc(0);
  ended = false;
  override eventRead(): void {
    const buf = this.read(65536);
    if (buf === null) {
      this.ended = true;
      this.close('eof');
      return;
    }
    this.got = Buffer.concat([this.got, buf]);
  }
  override eventHup(): void {
    this.ended = true;
    this.close('hup');
  }
  override eventErr(): void {
    this.ended = true;
    this.close('err');
  }
}

/** Notes the connections its PROXY stage closed. */
class ProxyListener extends Listener {
  readonly rejected: Array<[string, string | null]> = [];
  override onProxyReject(reason: string, peer: SockAddress | null): void {
    this.rejected.push([reason, peer === null || peer.family === 'unix' ? null : `${peer.address}:${peer.port}`]);
  }
}

function serve(options: { trusted?: string[]; timeout?: number; maxHeaderBytes?: number } = {}): { listener: ProxyListener; port: number } {
  Server.made = [];
  const listener = new ProxyListener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => new Server(s), {
    proxyProtocol: { trusted: options.trusted ?? ['127.0.0.0/8'], timeout: options.timeout, maxHeaderBytes: options.maxHeaderBytes },
  });
  const a = listener.sock()?.localAddress();
  assert.ok(a && a.family !== 'unix');
  return { listener, port: a.port };
}

function connect(port: number): Client {
  return new Client(connectTcp({ host: '127.0.0.1', port }));
}

/** The ProxyHeaderReader objects open now (the stage before the factory). */
const readers = (): DangaSocket<object>[] => Array.from(DangaSocket.descriptorMap().values()).filter((o) => o.constructor.name === 'ProxyHeaderReader');

const openFds = (): number => (onSim() ? 0 : readdirSync('/proc/self/fd').length);
const closedBy = (reason: string): number => DangaSocket.stats().closed[reason] ?? 0;

test('v1 and v2 headers: the factory sees the client addresses, the data after the header arrives whole, the header never does', async () => {
  const { port } = serve();
  const cases = [
    {
      header: encode({
        version: 1,
        command: 'PROXY',
        transport: 'TCP4',
        src: { address: '203.0.113.7', port: 51000 },
        dst: { address: '198.51.100.1', port: 443 },
      }),
      peer: '203.0.113.7:51000',
      local: '198.51.100.1:443',
    },
    {
      header: encode({
        version: 2,
        command: 'PROXY',
        transport: 'TCP6',
        src: { address: '2001:db8::7', port: 52000 },
        dst: { address: '2001:db8::1', port: 80 },
      }),
      peer: '[2001:db8::7]:52000',
      local: '[2001:db8::1]:80',
    },
    {
      header: encode({
        version: 2,
        command: 'PROXY',
        transport: 'TCP4',
        src: { address: '192.0.2.9', port: 1 },
        dst: { address: '192.0.2.1', port: 2 },
        tlvs: [
          { type: 0x01, value: Buffer.from('h2') },
          { type: 0x05, value: Buffer.from('id-42') },
        ],
        crc: true,
      }),
      peer: '192.0.2.9:1',
      local: '192.0.2.1:2',
    },
  ];
  for (const c of cases) {
    const body = Buffer.from(`hello after ${c.peer}\n`.repeat(50));
    const client = connect(port);
    client.write(Buffer.concat([c.header, body]));
    await runUntil(() => client.got.length >= body.length);
    assert.deepEqual(client.got, body, 'the bytes after the header, all of them, and not the header');
    const server = Server.made.at(-1) as Server;
    assert.equal(server.peer, c.peer);
    assert.equal(server.local, c.local);
    assert.equal(server.peerIpString(), c.peer.replace(/^\[?([^\]]*)\]?:\d+$/, '$1'));
    assert.deepEqual(server.received, body);
    const info = proxyInfo(server);
    assert.ok(info !== null);
    assert.equal(info.header.version, c.header[0] === 0x50 ? 1 : 2);
    // The balancer's own addresses: this test's client, and the listener.
    assert.deepEqual(info.peer, client.sock()?.localAddress());
    assert.deepEqual(info.local, { address: '127.0.0.1', port, family: 'IPv4' });
    client.close('done');
  }
  const tlvs = proxyInfo(Server.made[2] as Server)?.header.tlvs;
  assert.equal(tlvs?.alpn, 'h2');
  assert.deepEqual(tlvs?.uniqueId, Buffer.from('id-42'));
  assert.equal(proxyInfo(Server.made[0] as Server)?.header.tlvs, null);
});

test('LOCAL (a health check from the balancer) and PROXY UNKNOWN: the connection keeps its own addresses', async () => {
  const { port } = serve();
  for (const header of [encode({ version: 2, command: 'LOCAL', transport: 'UNKNOWN' }), encode({ version: 1, command: 'PROXY', transport: 'UNKNOWN' })]) {
    const client = connect(port);
    client.write(Buffer.concat([header, Buffer.from('ping')]));
    await runUntil(() => client.got.length >= 4);
    const server = Server.made.at(-1) as Server;
    const mine = client.sock()?.localAddress();
    assert.ok(mine && mine.family !== 'unix');
    assert.equal(server.peer, `${mine.address}:${mine.port}`);
    assert.equal(proxyInfo(server)?.header.command, header[0] === 0x50 ? 'PROXY' : 'LOCAL');
    assert.equal(proxyInfo(server)?.header.source, null);
    client.close('done');
  }
});

test('a header split into single bytes: no connection object until the last byte, then the same result', async () => {
  const { listener, port } = serve();
  for (const header of [
    encode({ version: 1, command: 'PROXY', transport: 'TCP4', src: { address: '10.9.8.7', port: 6543 }, dst: { address: '10.0.0.1', port: 80 } }),
    encode({
      version: 2,
      command: 'PROXY',
      transport: 'TCP4',
      src: { address: '10.9.8.7', port: 6543 },
      dst: { address: '10.0.0.1', port: 80 },
      tlvs: [{ type: 0x02, value: Buffer.from('example.com') }],
    }),
  ]) {
    Server.made = [];
    const client = connect(port);
    for (let i = 0; i < header.length; i++) {
      const before = DangaSocket.stats().bytesIn;
      client.write(header.subarray(i, i + 1));
      // Each byte read on its own before the next is sent.
      await runUntil(() => DangaSocket.stats().bytesIn > before);
      if (i < header.length - 1) {
        assert.equal(Server.made.length, 0, `no connection after ${i + 1} of ${header.length} bytes`);
        assert.equal(listener.connections(), 1, 'the connection counts while its header is read');
      }
    }
    await runUntil(() => Server.made.length === 1);
    client.write('x');
    await runUntil(() => client.got.length === 1);
    assert.equal((Server.made[0] as Server).peer, '10.9.8.7:6543');
    assert.equal(listener.connections(), 1);
    client.close('done');
    await runUntil(() => listener.connections() === 0);
  }
});

test('bad input: each closes its connection only, with the reason (closeReason, stats), reading no more than the bound, leaking no fd', async () => {
  const { listener, port } = serve({ maxHeaderBytes: 512 });
  const good = encode({ version: 2, command: 'PROXY', transport: 'TCP4', src: { address: '1.2.3.4', port: 5 }, dst: { address: '5.6.7.8', port: 9 } });
  const mutate = (at: number, v: number): Buffer => {
    const b = Buffer.from(good);
    b[at] = v;
    return b;
  };
  const tooLongV2 = Buffer.from(good);
  tooLongV2.writeUInt16BE(1000, 14);
  const truncated = Buffer.from(good.subarray(0, 16));
  truncated.writeUInt16BE(6, 14);
  const cases: Array<[string, Buffer]> = [
    ['proxy_signature', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['proxy_v1_malformed', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n')],
    ['proxy_v1_malformed', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n')],
    ['proxy_v1_too_long', Buffer.from('PROXY UNKNOWN ' + 'x'.repeat(100_000))],
    ['proxy_signature', mutate(6, 0x0b)],
    ['proxy_v2_version', mutate(12, 0x11)],
    ['proxy_v2_family', mutate(13, 0x51)],
    ['proxy_v2_too_long', Buffer.concat([tooLongV2, Buffer.alloc(100_000)])],
    ['proxy_v2_truncated', Buffer.concat([truncated, Buffer.alloc(6)])],
    ['proxy_eof', Buffer.from('PROXY TCP4 1.2.3.4')], // then the client closes
  ];
  // A good connection beside them, served before and after.
  const bystander = connect(port);
  bystander.write(Buffer.concat([good, Buffer.from('a')]));
  await runUntil(() => bystander.got.length === 1);
  const fdsBefore = openFds();
  for (const [reason, bytes] of cases) {
    const count = closedBy(reason);
    const client = connect(port);
    // Its address, once connected (the node engine knows it only then).
    let mine = client.sock()?.localAddress() ?? null;
    client.write(bytes);
    if (reason === 'proxy_eof') client.write(() => client.sock()?.shutdown('write'));
    const inBefore = DangaSocket.stats().bytesIn;
    await runUntil(() => {
      mine ??= client.sock()?.localAddress() ?? null;
      return closedBy(reason) > count;
    });
    await runUntil(() => client.ended);
    assert.equal(closedBy(reason), count + 1, reason);
    assert.deepEqual(listener.rejected.pop(), [reason, mine === null || mine.family === 'unix' ? null : `${mine.address}:${mine.port}`]);
    assert.ok(DangaSocket.stats().bytesIn - inBefore <= 512, `${reason}: read ${DangaSocket.stats().bytesIn - inBefore} bytes, more than the bound`);
    assert.equal(client.got.length, 0, 'nothing reached a connection object, so nothing came back');
  }
  assert.equal(Server.made.length, 1, 'the factory saw only the good connection');
  bystander.write('b');
  await runUntil(() => bystander.got.length === 2);
  assert.equal(bystander.got.toString(), 'ab');
  assert.equal(readers().length, 0);
  if (!onSim()) {
    await runUntil(() => openFds() <= fdsBefore);
    assert.equal(openFds(), fdsBefore, 'no fd leaked');
  }
});

test('a header that never completes is closed by the deadline; an untrusted source is closed at once, whatever it sends', async () => {
  const { listener, port } = serve({ timeout: 0.2 });
  const timeouts = closedBy('proxy_timeout');
  const untrusted = closedBy('proxy_untrusted');
  const slow = connect(port);
  slow.write('PROXY TCP4 1.2.3.4 ');
  await runUntil(() => slow.ended);
  assert.equal(closedBy('proxy_timeout'), timeouts + 1);
  assert.equal(listener.rejected[0]?.[0], 'proxy_timeout');
  DangaSocket.reset();

  const far = serve({ trusted: ['10.0.0.0/8', 'fd00::/8', '192.0.2.1'] });
  const intruder = connect(far.port);
  intruder.write(encode({ version: 1, command: 'PROXY', transport: 'TCP4', src: { address: '8.8.8.8', port: 1 }, dst: { address: '1.1.1.1', port: 2 } }));
  await runUntil(() => intruder.ended);
  assert.equal(closedBy('proxy_untrusted'), untrusted + 1);
  assert.equal(far.listener.rejected[0]?.[0], 'proxy_untrusted');
  assert.equal(Server.made.length, 0);
  assert.equal(far.listener.connections(), 0);
});

test('a Unix domain listener trusts its peers with "unix"; a v2 UNIX header gives paths', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'danga-proxy-'));
  try {
    const path = join(dir, 's.sock');
    Server.made = [];
    new Listener(listenUnix(path), (s) => new Server(s), { proxyProtocol: { trusted: ['unix'] } });
    const client = new Client(connectUnix(path));
    client.write(
      Buffer.concat([
        encode({ version: 2, command: 'PROXY', transport: 'UNIX', src: { path: '/run/app/client' }, dst: { path: '/run/lb.sock' } }),
        Buffer.from('hi'),
      ]),
    );
    await runUntil(() => client.got.length === 2);
    const server = Server.made[0] as Server;
    assert.deepEqual(server.sock()?.remoteAddress(), { path: '/run/app/client', family: 'unix' });
    assert.equal(server.peerIpString(), null);
    client.close('done');
    // Without 'unix', a Unix peer is untrusted.
    DangaSocket.reset();
    rmSync(path, { force: true });
    const untrusted = closedBy('proxy_untrusted');
    new Listener(listenUnix(path), (s) => new Server(s), { proxyProtocol: { trusted: ['127.0.0.1'] } });
    const other = new Client(connectUnix(path));
    other.write('PROXY UNKNOWN\r\n');
    await runUntil(() => other.ended);
    assert.equal(closedBy('proxy_untrusted'), untrusted + 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a graceful shutdown while a header is awaited: the connection is still made, and gets onShutdown()', async () => {
  const { port } = serve();
  const client = connect(port);
  client.write('PROXY TCP4 1.2.3.4 ');
  await runUntil(() => readers().length === 1 && DangaSocket.stats().bytesIn > 0);
  let done: Promise<void> | undefined;
  DangaSocket.addTimer(0, () => {
    // The rest of the header goes out, and the shutdown begins before the server reads it.
    client.write('5.6.7.8 1000 80\r\nlast words');
    done = DangaSocket.shutdown({ timeout: 30 });
  });
  // The shutdown ends the loop once everything is closed.
  await DangaSocket.eventLoop();
  await done;
  assert.equal(Server.made.length, 1);
  const server = Server.made[0] as Server;
  assert.equal(server.shutdownSeen, true);
  assert.equal(server.received.toString(), 'last words');
  assert.equal(server.peer, '1.2.3.4:1000');
});

test('the option is validated: TypeError / RangeError with a code, naming it', () => {
  const sock = listenTcp({ host: '127.0.0.1', port: 0 });
  const make = (proxyProtocol: unknown): unknown => new Listener(sock, (s) => new Server(s), { proxyProtocol } as never);
  const codes: Array<[unknown, string, RegExp]> = [
    [null, 'ERR_INVALID_ARG_TYPE', /options\.proxyProtocol/],
    [{}, 'ERR_INVALID_ARG_TYPE', /options\.proxyProtocol\.trusted/],
    [{ trusted: [] }, 'ERR_INVALID_ARG_VALUE', /is empty/],
    [{ trusted: [7] }, 'ERR_INVALID_ARG_TYPE', /trusted\[0\]/],
    [{ trusted: ['10.0.0.0/33'] }, 'ERR_INVALID_ARG_VALUE', /trusted\[0\]/],
    [{ trusted: ['example.com'] }, 'ERR_INVALID_ARG_VALUE', /trusted\[0\]/],
    [{ trusted: ['::1/x'] }, 'ERR_INVALID_ARG_VALUE', /trusted\[0\]/],
    [{ trusted: ['::1'], timeout: '5' }, 'ERR_INVALID_ARG_TYPE', /timeout/],
    [{ trusted: ['::1'], timeout: 0 }, 'ERR_OUT_OF_RANGE', /timeout/],
    [{ trusted: ['::1'], maxHeaderBytes: 100 }, 'ERR_OUT_OF_RANGE', /maxHeaderBytes/],
    [{ trusted: ['::1'], maxHeaderBytes: 70000 }, 'ERR_OUT_OF_RANGE', /maxHeaderBytes/],
  ];
  for (const [value, code, pattern] of codes) {
    assert.throws(
      () => make(value),
      (err: Error & { code?: string }) => err.code === code && pattern.test(err.message),
      JSON.stringify(value),
    );
  }
  assert.equal(DangaSocket.watchedSockets(), 0, 'nothing registered by a failed constructor');
  sock.close();
});

test("property: trusted networks match as Node's BlockList does (IPv4, IPv6, IPv4-mapped peers, any prefix)", () => {
  const v4net = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 }));
  const v6net = fc.tuple(
    fc.ipV6().filter((a) => !a.includes('.')),
    fc.integer({ min: 0, max: 128 }),
  );
  fc.assert(
    fc.property(
      fc.oneof(
        v4net.map(([a, p]) => ({ a, p, v: 4 as const })),
        v6net.map(([a, p]) => ({ a, p, v: 6 as const })),
      ),
      fc.oneof(
        fc.ipV4(),
        fc.ipV6().filter((a) => !a.includes('.')),
        fc.ipV4().map((a) => `::ffff:${a}`),
      ),
      fc.boolean(),
      ({ a, p, v }, peer0, same) => {
        // Half the time the peer is the network's own address: the prefix then decides.
        const peer = same ? a : peer0;
        const trust = new ProxyTrust({ trusted: [`${a}/${p}`] });
        const family = net.isIPv4(peer) ? 'IPv4' : 'IPv6';
        const list = new net.BlockList();
        list.addSubnet(a, p, v === 4 ? 'ipv4' : 'ipv6');
        const expected = list.check(peer, family === 'IPv4' ? 'ipv4' : 'ipv6');
        assert.equal(trust.allows({ address: peer, port: 1, family }), expected, `${peer} in ${a}/${p}`);
      },
    ),
    { seed: simSeed(), numRuns: 2000 },
  );
});
