/**
 * The DangaSocket echo and sink connections of the bench servers (one loop:
 * danga-echo.ts; a worker group: danga-group-worker.ts), written the way a
 * Danga::Socket user writes them. The library: ./lib.ts (this checkout's, or
 * a baseline's).
 */
import { danga } from './lib.js';

const { DangaSocket } = danga;
const NL = Buffer.from('\n');

/**
 * The size the echo connection asks `read()` for: BENCH_READ_SIZE (a positive
 * integer; the `readsize` scenario runs the echo with 4096 and with 1 << 20),
 * 65536 by default.
 */
export const READ_SIZE = readSize(process.env.BENCH_READ_SIZE);

function readSize(v: string | undefined): number {
  if (v === undefined || v === '') return 65536;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`BENCH_READ_SIZE must be a positive integer, not ${JSON.stringify(v)}`);
  return n;
}

/** Writes back what it reads (`read(READ_SIZE)` per event). */
export class Echo extends DangaSocket {
  override eventRead(): void {
    const buf = this.read(READ_SIZE);
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
