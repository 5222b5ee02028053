/**
 * A TCP proxy in the manner of Perlbal's: each client connection is paired
 * with a connection to the backend, bytes flow both ways, and memory stays
 * bounded whatever the speeds of the two sides: while one end's write queue
 * is above its high watermark, the other end is not read.
 *
 *   node dist/examples/proxy.js [listenPort] [backendHost] [backendPort]
 */
import { Connection, DangaSocket, Listener, connectTcp, listenTcp, type Sock } from 'danga-socket';

/** Above this many queued bytes an end stops reading its peer; at LOW it reads again. */
export const HIGH = 256 * 1024;
const LOW = 64 * 1024;
const READ_SIZE = 64 * 1024;

// README:BEGIN
/** One end of a proxied connection (the client's or the backend's). */
export class ProxyEnd extends Connection {
  #peer: ProxyEnd | null = null;
  #ended = false;

  constructor(sock: Sock) {
    super(sock);
    this.setWriteWatermarks(HIGH, LOW);
    this.setIdleTimeout(300);
  }

  /** Pairs two ends: what one reads, the other writes. */
  static pair(a: ProxyEnd, b: ProxyEnd): void {
    a.#peer = b;
    b.#peer = a;
  }

  override eventRead(): void {
    const peer = this.#peer;
    if (peer === null) return;
    const buf = this.readSome(READ_SIZE);
    if (buf === undefined) return;
    if (buf === null) {
      // This side is done sending: pass the end of stream on, and close once both sides are done.
      this.#ended = true;
      if (peer.#ended) {
        peer.end();
        this.end();
      } else {
        peer.end({ halfClose: true });
      }
      return;
    }
    peer.write(buf);
  }

  // The proxy idiom: stop reading the source while this destination holds more than HIGH.
  override onWriteHigh(): void {
    this.#peer?.watchRead(false);
  }

  override onWriteLow(): void {
    this.#peer?.watchRead(true);
  }

  /** When one end goes (error, hangup, idle), the other delivers what it holds and goes too. */
  override close(reason?: string): void {
    if (this.closed) return;
    super.close(reason);
    this.#peer?.end();
  }
}

/** Listens on `port` and proxies every connection to `backend`; returns the listener. */
export function startProxy(port: number, backend: { host: string; port: number }, host = '127.0.0.1'): Listener {
  return new Listener(listenTcp({ host, port }), (sock) => {
    const client = new ProxyEnd(sock);
    ProxyEnd.pair(client, new ProxyEnd(connectTcp(backend)));
    return client;
  });
}
// README:END

if (import.meta.url === `file://${process.argv[1]}`) {
  const listener = startProxy(Number(process.argv[2] ?? 7080), { host: process.argv[3] ?? '127.0.0.1', port: Number(process.argv[4] ?? 7000) });
  console.log(`proxy listening on ${listener.localAddrString()}`);
  process.once('SIGINT', () => void DangaSocket.shutdown({ timeout: 10 }));
  process.once('SIGTERM', () => void DangaSocket.shutdown({ timeout: 10 }));
  await DangaSocket.eventLoop();
}
