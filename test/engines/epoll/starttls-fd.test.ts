/**
 * STARTTLS on a native socket whose handshake fails: the descriptor number
 * stays reserved until the object's own (deferred) close.
 *
 * Node drives TLS over a dup of the native fd. When the handshake fails,
 * Node closes its dup at once; the object is still filed under the original
 * number in the descriptor map until its close. Were that number freed with
 * Node's close (as when Node was handed the fd itself), the kernel would give
 * it to the next accepted connection while the old object is still in the
 * map: a DANGA_FD_REGISTERED_TWICE warning, and later the old object's close
 * deleting the new object's state.
 *
 * Every wait is on a condition (runUntil); nothing depends on timing.
 */
import { test, before, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { DangaSocket, listenTcp, socketPair, type Sock } from 'danga-socket';
import { runUntil, Collector, Echo, Listener, haveOpenssl, selfSignedCert } from '../../helpers.js';

afterEach(() => DangaSocket.reset());

const skip =
  DangaSocket.engine() !== 'epoll'
    ? 'the native epoll engine only: stream sockets get negative ids, never fd numbers'
    : haveOpenssl
      ? false
      : 'openssl is needed to make the test certificate (.ci/run installs it)';

let key = '';
let cert = '';

before(() => {
  if (skip !== false) return;
  ({ key, cert } = selfSignedCert());
});

/**
 * The open socket fds ('12 -> socket:[12345]'). Only sockets: Node may open
 * other files lazily (under valgrind, /dev/null).
 */
const openSockets = (): string[] =>
  readdirSync('/proc/self/fd')
    .map((fd) => `${fd} -> ${fdTarget(Number(fd)) ?? ''}`)
    .filter((line) => line.includes(' -> socket:'));

/** The fds in `now` that were not in `before`. */
const added = (before: string[], now: string[]): string[] => now.filter((line) => !before.includes(line));

/** What fd `fd` refers to ('socket:[12345]'), or null when it is not open. */
function fdTarget(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/**
 * Server side of one connection: says GO in plain text, then switches to
 * TLS (the client answers with garbage, so the handshake fails). When the
 * failure arrives (eventErr or eventHup), it first accepts a plain
 * connection waiting on `plain` (while this object is still open and in the
 * descriptor map), then closes.
 */
class FailingTls extends DangaSocket {
  readonly number: number;
  /** What the number referred to when accepted. */
  readonly target: string | null;
  ended: 'err' | 'hup' | null = null;
  /** Did the number still refer to this connection's socket when the failure arrived? */
  stillReserved: boolean | null = null;

  constructor(
    sock: Sock,
    private readonly plain: Sock,
    private readonly onPlain: (s: Sock) => void,
  ) {
    super(sock);
    this.number = this.fd;
    this.target = fdTarget(this.number);
    this.write('GO\n');
    this.write(() => this.startTls({ isServer: true, key, cert }));
  }

  private failed(how: 'err' | 'hup'): void {
    if (this.ended === null) {
      this.ended = how;
      this.stillReserved = fdTarget(this.number) === this.target;
      const s = this.plain.accept();
      if (s !== null) this.onPlain(s);
    }
    this.close(how);
  }

  override eventErr(): void {
    this.failed('err');
  }

  override eventHup(): void {
    this.failed('hup');
  }
}

test(
  'STARTTLS handshakes that fail on native sockets keep their fd numbers reserved until close: no fd registered twice, plain connections unharmed, no fd leaked',
  { skip, timeout: 60_000 },
  async () => {
    const N = 150;
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      // The loop's own fds (epoll) exist before counting.
      const warm = listenTcp({ host: '127.0.0.1', port: 0 });
      new Echo(warm).close('warm-up');
      await runUntil(() => DangaSocket.descriptorMap().size === 0);
      const before = openSockets();

      // Plain connections wait in this listener's backlog until a failing TLS
      // object accepts one; it is not watched until the failures are over.
      const plainListener = listenTcp({ host: '127.0.0.1', port: 0 });
      const plainPort = (plainListener.localAddress() as { port: number }).port;
      const plains: Echo[] = [];
      const tlsObjects: FailingTls[] = [];
      const tlsListener = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) =>
        tlsObjects.push(new FailingTls(s, plainListener, (p) => plains.push(new Echo(p)))),
      );
      const tlsPort = (tlsListener.sock()!.localAddress() as { port: number }).port;

      let clientsClosed = 0;
      let echoed = 0;
      const track = (c: net.Socket): net.Socket => {
        c.on('error', () => {}); // resets are expected on the TLS side
        c.on('close', () => clientsClosed++);
        return c;
      };
      for (let i = 0; i < N; i++) {
        const t = track(net.connect(tlsPort, '127.0.0.1'));
        let said = '';
        t.on('data', (d: Buffer) => {
          if (said.endsWith('\n')) return; // (a TLS alert may follow)
          said += d.toString('latin1');
          if (!said.endsWith('\n')) return;
          // A plain connection first, so one is waiting when the handshake
          // fails; then garbage instead of a ClientHello.
          const p = track(net.connect(plainPort, '127.0.0.1', () => t.write('this is not a TLS ClientHello\r\n\r\n')));
          const msg = `ping ${i}\n`;
          let got = '';
          p.on('data', (e: Buffer) => {
            got += e.toString('latin1');
            if (got === msg) {
              echoed++;
              p.end();
            }
          });
          p.write(msg);
        });
      }

      await runUntil(() => tlsObjects.length === N && tlsObjects.every((o) => o.closed));
      assert.deepEqual(
        tlsObjects.filter((o) => o.ended === null).map((o) => o.number),
        [],
        'every TLS object got eventErr or eventHup',
      );
      assert.deepEqual(
        tlsObjects.filter((o) => o.stillReserved !== true).map((o) => o.number),
        [],
        'each number still referred to its own connection when the handshake failure arrived',
      );

      // Those the failures did not take (had one not reached the backlog yet).
      const plainAcceptor = new Listener(plainListener, (p) => plains.push(new Echo(p)));
      await runUntil(() => echoed === N && clientsClosed === 2 * N && plains.length === N && plains.every((p) => p.closed));
      assert.equal(echoed, N, 'the plain connections echo');
      assert.deepEqual(
        warnings.filter((w) => (w as Error & { code?: string }).code === 'DANGA_FD_REGISTERED_TWICE').map((w) => w.message),
        [],
        'no fd was registered twice',
      );

      tlsListener.close('done');
      plainAcceptor.close('done');
      await runUntil(() => DangaSocket.descriptorMap().size === 0);
      assert.deepEqual(added(before, openSockets()), [], 'no fd leaked');
    } finally {
      process.off('warning', onWarning);
    }
  },
);

test(
  'startTls() with an option tls.connect rejects once the fd was handed out: the error is thrown, the plain connection goes on, no fd leaked',
  { skip },
  async () => {
    const [warmA, warmB] = socketPair();
    new Collector(warmA).close('warm-up');
    warmB.close();
    await runUntil(() => DangaSocket.descriptorMap().size === 0);
    const before = openSockets();

    const [a, b] = socketPair();
    const w = new Collector(a);
    const peer = new Collector(b);
    // createSecureContext() accepts this; tls.connect(), which runs after
    // Node was given its dup of the fd, throws.
    assert.throws(() => w.startTls({ servername: 5 }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.ok(!w.closed);
    assert.equal(a.closed, false, 'the Sock is open again');
    assert.equal(a.fd, w.fd);
    w.write('still plain');
    peer.write('both ways');
    await runUntil(() => peer.text() === 'still plain' && w.text() === 'both ways');
    w.close('done');
    peer.close('done');
    await runUntil(() => DangaSocket.descriptorMap().size === 0);
    assert.deepEqual(added(before, openSockets()), [], 'the dup was closed');
  },
);
