/**
 * DangaSocket: the echo and sink servers, written the way a Danga::Socket user
 * writes them.  The engine comes from the environment (DANGA_ENGINE=node picks
 * the stream engine); the first stdout line is `<port> engine=<name>` so the
 * runner can check it got the engine it asked for.  DANGA_IDLE_TIMEOUT=<seconds>
 * gives every connection that idle timeout (setIdleTimeout; the idle-timeout
 * scenarios).
 */
import { DangaSocket, listenTcp, type Sock } from 'danga-socket';
import { parseServerArgs, serveControl } from './control.js';
import { Echo, Sink } from './danga-conns.js';

const { port, mode } = parseServerArgs(process.argv.slice(2));
const idleTimeout = Number(process.env.DANGA_IDLE_TIMEOUT ?? 0);

const Conn = mode === 'sink' ? Sink : Echo;

class Listener extends DangaSocket {
  override eventRead(): void {
    let s: Sock | null;
    while ((s = this.sock()!.accept()) !== null) {
      const c = new Conn(s);
      c.watchRead(true);
      if (idleTimeout > 0) c.setIdleTimeout(idleTimeout);
    }
  }
}

const listener = new Listener(listenTcp({ host: '127.0.0.1', port, backlog: 1024 }));
listener.watchRead(true);
const engineOf = (DangaSocket as unknown as { engine?: () => string }).engine;
const engine = typeof engineOf === 'function' ? engineOf.call(DangaSocket) : 'unknown';
const addr = listener.sock()!.localAddress();
process.stdout.write(`${addr && 'port' in addr ? addr.port : 0} engine=${engine}\n`);
serveControl();
await DangaSocket.eventLoop();
