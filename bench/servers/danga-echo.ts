/**
 * DangaSocket: the echo and sink servers, written the way a Danga::Socket user
 * writes them.  The engine comes from the environment (DANGA_ENGINE=node picks
 * the stream engine); the first stdout line is `<port> engine=<name>` so the
 * runner can check it got the engine it asked for.  DANGA_IDLE_TIMEOUT=<seconds>
 * gives every connection that idle timeout (setIdleTimeout; the idle-timeout
 * scenarios). `--mode lines` echoes line by line through `readLine` (the
 * syscall counts of a line protocol). The library: ./lib.ts (this checkout's,
 * or a baseline's with BENCH_DANGA_LIB).
 */
import type { Sock } from 'danga-socket';
import { parseServerArgs, serveControl } from './control.js';
import { Echo, LineEcho, Sink } from './danga-conns.js';
import { danga } from './lib.js';

const { DangaSocket, listenTcp } = danga;

const { port, mode } = parseServerArgs(process.argv.slice(2));
const idleTimeout = Number(process.env.DANGA_IDLE_TIMEOUT ?? 0);

const Conn = mode === 'sink' ? Sink : mode === 'lines' ? LineEcho : Echo;

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
