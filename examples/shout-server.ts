/**
 * The README's first example: a line server (each line comes back
 * upper-cased; "quit" ends the session), written with the helpers and
 * correct under failure.
 *
 *   node dist/examples/shout-server.js [port]      then: nc 127.0.0.1 7000
 */
import { Connection, DangaSocket, Listener, listenTcp, type Sock } from 'danga-socket';

// README:BEGIN
/** Reads from the start (Connection); a hangup or an error closes it. */
class Shout extends Connection {
  constructor(sock: Sock) {
    super(sock);
    this.setIdleTimeout(60); // silent for 60 s: onIdle() closes it
    this.setWriteWatermarks(1 << 20, 64 << 10);
  }

  override eventRead(): void {
    // A line; undefined: not complete yet; null: end of stream. Over 64 KiB: it throws (the error handler closes).
    let line: Buffer | null | undefined;
    while ((line = this.readLine(64 * 1024)) !== undefined) {
      if (line === null || line.toString() === 'quit') return this.end(); // close once the replies are out
      this.write([line.toString('latin1').toUpperCase(), '\n']); // two pieces, one write
    }
  }

  // The client is not reading what we send: stop reading what it sends.
  override onWriteHigh(): void {
    this.watchRead(false);
  }

  override onWriteLow(): void {
    this.watchRead(true);
  }
}

const port = Number(process.env.PORT ?? 7000);
const listener = new Listener(listenTcp({ host: '127.0.0.1', port }), (sock) => new Shout(sock));
console.log(`listening on ${listener.localAddrString()}`);
DangaSocket.setErrorHandler((err, conn) => console.error(`${conn.asString()}: ${String(err)}`));
process.once('SIGTERM', () => void DangaSocket.shutdown({ timeout: 10 }));
await DangaSocket.eventLoop(); // ends once shutdown() has drained every connection
// README:END
