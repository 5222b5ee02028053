/**
 * The job-server scenarios' protocol, shared by the DangaSocket server
 * (danga-job.ts: framing by the library's helpers) and the Node `net` one
 * (net-job.ts: the same framing written by hand). Gearman-shaped: on one
 * connection, binary packets and text lines.
 *
 * - A binary request is a 12-byte head, "\0REQ", a 4-byte big-endian type
 *   and a 4-byte big-endian payload length, then the payload. SUBMIT_JOB (7)
 *   is answered JOB_CREATED (8), "\0RES" + type + length + a job handle
 *   "H:bench:<n>"; another type is a protocol error (the server closes).
 * - A text line (the first byte is not 0) is an admin command: `status`
 *   (answered by status lines and a line "."), `version` ("OK …"), or the
 *   store command `set <key> <bytes>` followed by that many bytes and CRLF:
 *   the server keeps the value as it read it (a view of the received bytes,
 *   which is what the memory scenario measures) and answers "STORED".
 */

/** "\0REQ" as a big-endian 32-bit number. */
export const REQ_MAGIC = 0x00524551;
export const HEADER_BYTES = 12;
export const SUBMIT_JOB = 7;
export const JOB_CREATED = 8;
/** the longest packet payload or stored value accepted */
export const MAX_PAYLOAD = 1 << 20;
/** the longest text line accepted */
export const MAX_LINE = 1024;

const STATUS = Buffer.from('bench\t0\t0\t1\n.\n');
const VERSION = Buffer.from('OK danga-bench 1\n');
/** The answer to a stored value. */
export const STORED = Buffer.from('STORED\r\n');

/** What a text line asks: an answer to write, a value to read next, or an error (close). */
export type LineResult = { answer: Buffer } | { key: string; bytes: number } | { error: string };

/** The server's state: the jobs created and the values kept. */
export class JobState {
  jobs = 0;
  readonly values = new Map<string, Buffer>();
  valueBytes = 0;

  /** The answer to a binary request, or null when the type is not SUBMIT_JOB. */
  packet(type: number, payload: Buffer): Buffer | null {
    if (type !== SUBMIT_JOB || payload.indexOf(0) < 0) return null;
    const handle = `H:bench:${++this.jobs}`;
    const out = Buffer.allocUnsafe(HEADER_BYTES + handle.length);
    out.writeUInt32BE(0x00524553, 0); // "\0RES"
    out.writeUInt32BE(JOB_CREATED, 4);
    out.writeUInt32BE(handle.length, 8);
    out.write(handle, HEADER_BYTES, 'latin1');
    return out;
  }

  /** The meaning of a text line (without its line end). */
  line(line: Buffer): LineResult {
    const text = line.toString('latin1');
    if (text === 'status') return { answer: STATUS };
    if (text === 'version') return { answer: VERSION };
    const m = /^set (\S+) (\d+)$/.exec(text);
    if (m) {
      const bytes = Number(m[2]);
      if (bytes > MAX_PAYLOAD) return { error: 'value too long' };
      return { key: m[1]!, bytes };
    }
    return { error: `unknown command ${JSON.stringify(text.slice(0, 40))}` };
  }

  /** Keeps `value` (as read) under `key`. */
  keep(key: string, value: Buffer): void {
    const old = this.values.get(key);
    if (old) this.valueBytes -= old.length;
    this.values.set(key, value);
    this.valueBytes += value.length;
  }

  /** The control channel's `jobstats` answer. */
  stats(): { jobs: number; keys: number; valueBytes: number } {
    return { jobs: this.jobs, keys: this.values.size, valueBytes: this.valueBytes };
  }
}
