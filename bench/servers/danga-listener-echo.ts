/**
 * DangaSocket's own `Listener` in front of the echo connection of
 * danga-echo.ts (a Connection that echoes what it reads), for the cost of
 * the Listener's options on connection churn: DANGA_PROXY=1 turns on
 * `proxyProtocol` (trusting 127.0.0.1; the load generator's `--proxy 2`
 * sends a v2 header first), unset it runs without. First stdout line:
 * `<port> engine=<name>`, as the other servers.
 */
import { Connection, DangaSocket, Listener, listenTcp, type Sock } from 'danga-socket';
import { parseServerArgs, serveControl } from './control.js';

const { port } = parseServerArgs(process.argv.slice(2));
const proxy = process.env.DANGA_PROXY === '1';

class Echo extends Connection {
  override eventRead(): void {
    const buf = this.read(65536);
    if (buf === null) {
      this.close('eof');
      return;
    }
    if (buf.length > 0) this.write(buf);
  }
}

const listener = new Listener(
  listenTcp({ host: '127.0.0.1', port, backlog: 1024 }),
  (s: Sock) => new Echo(s),
  proxy ? { proxyProtocol: { trusted: ['127.0.0.1'] } } : {},
);
const addr = listener.sock()!.localAddress();
process.stdout.write(`${addr && 'port' in addr ? addr.port : 0} engine=${DangaSocket.engine()}\n`);
serveControl();
await DangaSocket.eventLoop();
