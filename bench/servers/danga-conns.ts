/**
 * The DangaSocket echo and sink connections of the bench servers (one loop:
 * danga-echo.ts; a worker group: danga-group-worker.ts), written the way a
 * Danga::Socket user writes them. The library: ./lib.ts (this checkout's, or
 * a baseline's).
 */
import { danga } from './lib.js';

const { DangaSocket } = danga;
const NL = Buffer.from('\n');

/** Writes back what it reads. */
export class Echo extends DangaSocket {
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

/** Reads and discards; at end of stream answers the byte count. */
export class Sink extends DangaSocket {
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

/** Line echo through the framing helpers: each line (`readLine`) written back with its newline, one writev per event (`batch`). */
export class LineEcho extends DangaSocket {
  override eventRead(): void {
    this.batch(() => {
      let line: Buffer | undefined | null;
      while ((line = this.readLine(65536)) !== undefined) {
        if (line === null) {
          this.close('eof');
          return;
        }
        this.write(line);
        this.write(NL);
      }
    });
  }
  override eventHup(): void {
    this.close('hup');
  }
  override eventErr(): void {
    this.close('err');
  }
}
