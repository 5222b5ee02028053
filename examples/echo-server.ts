/**
 * An echo server: every byte a client sends comes back. Written with the
 * Danga::Socket 1.62 API only (compare shout-server.ts, which uses the
 * helpers).
 *
 *   node dist/examples/echo-server.js [port]      then: nc 127.0.0.1 7000
 */
import { DangaSocket, listenTcp, type Sock } from 'danga-socket';

/** One client: read what is there, write it back. */
export class EchoClient extends DangaSocket {
  constructor(sock: Sock) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    const buf = this.read(64 * 1024);
    if (buf === null) {
      // End of stream: close once what is queued has gone out. (In 1.62 end of stream stays
      // readable, so reading goes off first, or eventRead would fire every pass until then.
      // A Connection's end() does both.)
      this.watchRead(false);
      this.write(() => this.close('eof'));
      return;
    }
    if (buf.length === 0) return;
    if (!this.write(buf)) {
      // Backpressure: stop reading until the client has taken what we owe it.
      this.watchRead(false);
      this.write(() => this.watchRead(true));
    }
  }

  override eventHup(): void {
    this.close('hup');
  }

  override eventErr(): void {
    this.close('err');
  }
}

/** The listening socket: readable means connections are waiting. */
export class EchoListener extends DangaSocket {
  constructor(sock: Sock) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    let client: Sock | null;
    while ((client = this.sock()!.accept()) !== null) new EchoClient(client);
  }
}

/** Starts listening; returns the listener (the loop must run to serve). */
export function startEchoServer(port: number, host = '127.0.0.1'): EchoListener {
  return new EchoListener(listenTcp({ host, port }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const listener = startEchoServer(Number(process.argv[2] ?? 7000));
  console.log(`echo server listening on ${listener.localAddrString()}`);
  process.once('SIGINT', () => DangaSocket.stop());
  await DangaSocket.eventLoop();
  DangaSocket.reset();
}
