/**
 * The job-server scenarios' DangaSocket server (protocol: job-protocol.ts):
 * framing by the library's helpers, `peek(1)` to tell a binary packet from
 * a text line, `readExact` for packet heads, payloads and stored values,
 * `readLine` for the admin lines; the answers to what one event brought go
 * out in one writev (`batch`). With BENCH_JOB_PEEK=byte (`danga-job-byte`)
 * it looks at the first byte with `peekByte()`, which makes no Buffer, rather
 * than `peek(1)`; the framing decisions are the same. Engine from DANGA_ENGINE; the library from
 * ./lib.ts (this checkout's, or a baseline's with BENCH_DANGA_LIB). First
 * stdout line: `<port> engine=<name>`; the control channel (control.ts)
 * adds `jobstats`.
 */
import type { Sock } from 'danga-socket';
import { parseServerArgs, serveControl } from './control.js';
import { HEADER_BYTES, JobState, MAX_LINE, MAX_PAYLOAD, REQ_MAGIC, STORED } from './job-protocol.js';
import { danga } from './lib.js';

const { DangaSocket, listenTcp } = danga;
const { port } = parseServerArgs(process.argv.slice(2));
const state = new JobState();
const PEEK_BYTE = process.env.BENCH_JOB_PEEK === 'byte';

class JobConn extends DangaSocket {
  /** the packet whose payload comes next (-1: none) */
  #type = -1;
  #payload = 0;
  /** the stored value that comes next (null: none) */
  #key: string | null = null;
  #bytes = 0;

  override eventRead(): void {
    this.batch(() => this.#frames());
  }

  /** Every complete request there is; returns when one is incomplete, or the connection closed. */
  #frames(): void {
    for (;;) {
      if (this.#key !== null) {
        const v = this.readExact(this.#bytes + 2);
        if (v === undefined) return;
        if (v === null) return this.close('eof');
        state.keep(this.#key, v.subarray(0, this.#bytes));
        this.#key = null;
        this.write(STORED);
        continue;
      }
      if (this.#type >= 0) {
        const p = this.readExact(this.#payload);
        if (p === undefined) return;
        if (p === null) return this.close('eof');
        const answer = state.packet(this.#type, p);
        if (answer === null) return this.close('protocol');
        this.#type = -1;
        this.write(answer);
        continue;
      }
      let first: number | undefined | null;
      if (PEEK_BYTE) first = this.peekByte();
      else {
        const b = this.peek(1);
        first = b === null ? null : b[0];
      }
      if (first === null) return this.close('eof');
      if (first === undefined) return;
      if (first === 0) {
        const h = this.readExact(HEADER_BYTES);
        if (h === undefined) return;
        if (h === null) return this.close('eof');
        const len = h.readUInt32BE(8);
        if (h.readUInt32BE(0) !== REQ_MAGIC || len > MAX_PAYLOAD) return this.close('protocol');
        this.#type = h.readUInt32BE(4);
        this.#payload = len;
        continue;
      }
      const line = this.readLine(MAX_LINE);
      if (line === undefined) return;
      if (line === null) return this.close('eof');
      const r = state.line(line);
      if ('error' in r) return this.close('protocol');
      if ('answer' in r) this.write(r.answer);
      else {
        this.#key = r.key;
        this.#bytes = r.bytes;
      }
    }
  }

  override eventHup(): void {
    this.close('hup');
  }
  override eventErr(): void {
    this.close('err');
  }
}

class Listener extends DangaSocket {
  override eventRead(): void {
    let s: Sock | null;
    while ((s = this.requireSock().accept()) !== null) new JobConn(s).watchRead(true);
  }
}

const listener = new Listener(listenTcp({ host: '127.0.0.1', port, backlog: 1024 }));
listener.watchRead(true);
const addr = listener.requireSock().localAddress();
process.stdout.write(`${addr && 'port' in addr ? addr.port : 0} engine=${DangaSocket.engine()}\n`);
serveControl(undefined, { jobstats: () => state.stats() });
await DangaSocket.eventLoop();
