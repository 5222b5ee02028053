/**
 * The event test of the original distribution, in its shape: a listening
 * server, an outgoing client and the accepted client, driven by a 150 ms
 * loop timeout and a post-loop callback that counts iterations. It ends with
 * three watched sockets, and reset() empties the map returned earlier.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DangaSocket, listenTcp, connectTcp, POLLIN, POLLOUT, type Sock } from 'danga-socket';

test('listening server, outgoing client, accepted client: events, loop timeout, post-loop callback, reset', async () => {
  DangaSocket.reset();
  assert.equal(DangaSocket.watchedSockets(), 0, 'nothing watched at first');

  const events: string[] = [];
  let accepted: DangaSocket | null = null;

  class Server extends DangaSocket {
    constructor(sock: Sock) {
      super(sock);
      this.watchRead(true);
    }
    override eventRead(): void {
      events.push('server-read');
      const s = this.sock()!.accept();
      if (s !== null) accepted = new ServerSide(s);
    }
  }

  class ServerSide extends DangaSocket {
    constructor(sock: Sock) {
      super(sock);
      this.watchRead(true);
    }
    override eventRead(): void {
      const buf = this.read(1024);
      if (buf === null) return this.close('eof');
      if (buf.length > 0) {
        events.push(`accepted-read:${buf.toString()}`);
        this.write(`echo:${buf.toString()}`);
      }
    }
    override eventHup(): void {
      this.close('hup');
    }
  }

  class Client extends DangaSocket {
    connected = false;
    reply = '';
    constructor(sock: Sock) {
      super(sock);
      this.watchWrite(true); // writability means connected
    }
    override eventWrite(): void {
      if (!this.connected) {
        this.connected = true;
        events.push('client-connected');
        this.watchWrite(false);
        this.watchRead(true);
        this.write('hello');
      } else {
        super.eventWrite();
      }
    }
    override eventRead(): void {
      const buf = this.read(1024);
      if (buf === null) return this.close('eof');
      this.reply += buf.toString();
      if (this.reply.length > 0) events.push(`client-read:${this.reply}`);
    }
    override eventHup(): void {
      this.close('hup');
    }
  }

  const server = new Server(listenTcp({ host: '127.0.0.1', port: 0 }));
  const addr = server.sock()!.localAddress();
  assert.ok(addr && addr.family === 'IPv4');
  const client = new Client(connectTcp({ host: '127.0.0.1', port: addr.port }));
  assert.equal(DangaSocket.watchedSockets(), 2);

  assert.equal(DangaSocket.setLoopTimeout(150), 150);
  let iterations = 0;
  let quietIterations = 0;
  DangaSocket.setPostLoopCallback((dmap, otherFds) => {
    iterations++;
    assert.equal(dmap, DangaSocket.descriptorMap());
    assert.equal(otherFds, DangaSocket.otherFds());
    if (client.reply === 'echo:hello') quietIterations++;
    // After the exchange, let the 150 ms timeout drive a few empty iterations.
    return quietIterations < 3;
  });
  await DangaSocket.eventLoop();

  assert.deepEqual(events.filter((e) => e !== 'server-read' && !e.startsWith('client-read')).slice(0, 2), ['client-connected', 'accepted-read:hello']);
  assert.ok(events.includes('server-read'));
  assert.equal(client.reply, 'echo:hello');
  assert.ok(iterations >= 4, `iterations counted: ${iterations}`);
  assert.ok(accepted !== null);
  assert.equal(DangaSocket.watchedSockets(), 3, 'server, client and accepted client are watched');
  assert.ok(POLLIN && POLLOUT);

  const map = DangaSocket.descriptorMap();
  assert.equal(map.size, 3);
  DangaSocket.reset();
  assert.equal(map.size, 0, 'reset() empties the map returned earlier');
  assert.equal(DangaSocket.watchedSockets(), 0);
  assert.ok(client.closed && server.closed && (accepted as DangaSocket).closed);
});
