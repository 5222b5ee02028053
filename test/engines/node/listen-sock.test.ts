/**
 * ListenSock: a listening socket of the node engine over a net.Server.
 * Connections wait, paused, until accept(); a server error (among them a
 * listen that failed where Node could not say why at once, before Node
 * 20.16) is reported through eventErr, with the Error in `error` and its
 * errno in socketError(), and the socket has no local address.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import { DangaSocket, type Sock } from 'danga-socket';
import { ListenSock } from '../../../src/engines/node/listen-sock.js';
import { listenTcp } from '../../../src/engines/node/sockets.js';
import { runUntil } from '../../helpers.js';

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
  const sock = new ListenSock(server, null);
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
