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

const { port, mode } = parseServerArgs(process.argv.slice(2));
const idleTimeout = Number(process.env.DANGA_IDLE_TIMEOUT ?? 0);

class Echo extends DangaSocket {
  override eventRead(): void {
    const buf = this.read(65536);
    if (buf === null) {
      this.close('eof');
      return;
    }
    if (buf.length > 0) this.write(buf);
  }
  override eventHup(): void {
    this.close('hup');
  }
  override eventErr(): void {
    this.close('err');
  }
}

class Sink extends DangaSocket {
  private count = 0;
  override eventRead(): void {
    const buf = this.read(65536);
    if (buf === null) {
      this.write(Buffer.from(`${this.count}\n`));
      this.close('eof');
      return;
    }
    this.count += buf.length;
  }
  override eventHup(): void {
    this.close('hup');
  }
  override eventErr(): void {
    this.close('err');
  }
}

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
