/**
 * A server behind a load balancer (README, "Behind a load balancer"): it
 * takes connections from the balancer only, reads the PROXY protocol header
 * each starts with, and answers one line per connection with its name and
 * the client's address as the header gave it. An HTTP health check answers
 * on a port of its own; SIGTERM drains (the health check says "draining"
 * until the balancer has seen it), then shuts down gracefully: no request
 * is cut, no connection reset.
 *
 *   HOST=127.0.0.2 PORT=7000 HEALTH_PORT=7001 TRUSTED=127.0.0.1 NAME=s1 node dist/examples/lb-server.js
 *
 * then: printf 'PROXY TCP4 203.0.113.9 127.0.0.2 5555 7000\r\nhello\n' | nc 127.0.0.2 7000
 */
import { Connection, DangaSocket, HealthCheck, Listener, listenTcp, proxyInfo } from 'danga-socket';

const host = process.env.HOST ?? '127.0.0.1';
const name = process.env.NAME ?? 'server';
const trusted = (process.env.TRUSTED ?? '127.0.0.1').split(',');

// README:LB:BEGIN
/** One request per connection: a line in, a line out, then close. */
class Hello extends Connection {
  override eventRead(): void {
    const line = this.readLine(1024);
    if (line === undefined) return; // not complete yet
    if (line === null) return this.end(); // the client went away
    // peerAddrString(): the client's address from the PROXY header, not the balancer's.
    const local = proxyInfo(this)?.header.command === 'LOCAL' ? ' (the balancer itself)' : '';
    this.write(`${name} ${this.peerAddrString()}${local} ${line.toString('latin1')}\n`);
    this.end(); // close once the answer is out
  }

  // A graceful shutdown lets the request in hand finish: this connection
  // closes itself once it answered (the shutdown's timeout closes the rest).
  override onShutdown(): void {}
}

const service = new Listener(listenTcp({ host, port: Number(process.env.PORT ?? 7000) }), (sock) => new Hello(sock), {
  proxyProtocol: { trusted }, // e.g. ['10.0.0.0/8']: the balancers' addresses; anyone else is closed at once
});
const health = new HealthCheck(listenTcp({ host, port: Number(process.env.HEALTH_PORT ?? 7001) }));
DangaSocket.setErrorHandler((err, conn) => console.error(`${conn.asString()}: ${String(err)}`));
process.once('SIGTERM', () => {
  console.log('draining');
  // "draining" until the balancer asked 3 times (HAProxy: fall 2, + 1), then stop accepting and finish.
  void health.drainAndShutdown({ checks: 3, timeout: 10, shutdownTimeout: 10 });
});
// README:LB:END
console.log(`port ${(service.sock()?.localAddress() as { port: number }).port}`);
console.log(`health ${(health.sock()?.localAddress() as { port: number }).port}`);
await DangaSocket.eventLoop(); // ends once the shutdown has finished every connection
console.log(`stopped after ${health.drainedChecks} draining checks; closes: ${JSON.stringify(DangaSocket.stats().closed)}`);
