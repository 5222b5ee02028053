/**
 * A simulation's trace: every event, stamped with the virtual time, hashed
 * into one sha256 (the digest the same seed and code reproduce), its last
 * TRACE_TAIL events kept for a failure's report, and the whole of it on
 * request.
 */
import { createHash, type Hash } from 'node:crypto';

/** How many trace events a failure shows. */
export const TRACE_TAIL = 50;

/** The trace of one simulation. */
export class Trace {
  /** Events so far. */
  length = 0;
  /** Every event, when kept; else null. */
  readonly lines: string[] | null;
  readonly #hash: Hash = createHash('sha256');
  /** Text not hashed yet. */
  #pending = '';
  #stampAt = NaN;
  #stamp = '';
  readonly #tail: string[] = [];
  #tailAt = 0;

  constructor(keep: boolean) {
    this.lines = keep ? [] : null;
  }

  /** Adds `event`, which happened at virtual time `now` (ms). */
  log(now: number, event: string): void {
    if (now !== this.#stampAt) {
      this.#stampAt = now;
      this.#stamp = fmtTime(now);
    }
    const line = `${this.#stamp} ${event}`;
    // Hashed in chunks: one update per event cost more than the rest of the trace.
    this.#pending += line + '\n';
    if (this.#pending.length > 65536) {
      this.#hash.update(this.#pending);
      this.#pending = '';
    }
    this.lines?.push(line);
    if (this.#tail.length < TRACE_TAIL) this.#tail.push(line);
    else this.#tail[this.#tailAt] = line;
    this.#tailAt = (this.#tailAt + 1) % TRACE_TAIL;
    this.length++;
  }

  /** The last TRACE_TAIL events, oldest first. */
  tail(): string[] {
    if (this.#tail.length < TRACE_TAIL) return this.#tail.slice();
    return this.#tail.slice(this.#tailAt).concat(this.#tail.slice(0, this.#tailAt));
  }

  /** The sha256 of the trace (each event followed by a newline), hex. */
  digest(): string {
    this.#hash.update(this.#pending);
    this.#pending = '';
    return this.#hash.copy().digest('hex');
  }
}

/** Virtual ms as the trace shows them: up to 3 decimals. */
export function fmtTime(ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(3);
}
