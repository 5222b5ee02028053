/**
 * Outbound: a DangaSocket's write queue, the one place that writes it out.
 *
 * It owns what sits between `write()` and the socket once something could
 * not go out at once: the queued Buffers, write callbacks and file ranges,
 * their size in memory (the original's write_buf_size) and on disk, the
 * watermarks and the cap. It is made on the first write that queues (most
 * writes go straight to the socket and never need it), and dropped when the
 * object closes.
 *
 * It owns no socket. What it needs of its object (a write, the transport
 * for writev and sendfile, what to do when a write fails, the overridable
 * handlers) it asks through the Symbol-keyed `OutboundHost` interface, as
 * the loop asks through `LoopObject`: the object alone flips write interest
 * and closes.
 */
// Buffer imported, not the global: Node's global Buffer is a getter, called on each use.
import { Buffer } from 'node:buffer';
import { EMPTY } from './constants.js';
import type { Transport } from './contract.js';
import { errno, outOfRange, stateError, systemError, validateInteger } from './errors.js';
import { FILE_SHORT, FileRange, SENDFILE_MAX } from './file-range.js';

/** Host hook: one write through the writer function or the transport; bytes written or -errno. */
export const kWriteOne = Symbol('danga.writeOne');
/** Host hook: the transport when writes go straight to it (writev, sendfile), null when a writer function replaces them. */
export const kDirect = Symbol('danga.direct');
/** Host hook: `n` bytes went out (counters, idle activity). */
export const kWrote = Symbol('danga.wrote');
/** Host hook: a write failed with -errno `n`: wait for writability (EAGAIN) or close. Returns false. */
export const kWriteFailed = Symbol('danga.writeFailed');
/** Host hook: runs a write callback (in the host's callback scope, so that what it queues waits for it to return). */
export const kRunCallback = Symbol('danga.runCallback');
/** Host hook: the queue is empty now (write interest off if the queue turned it on; what end() waits for). */
export const kDrained = Symbol('danga.drained');
/** Host hook: a queued file range cannot be sent; `err` says why (eventErr, then close). */
export const kFileFailed = Symbol('danga.fileFailed');
/** Host hook: writes are held (inside a write callback or a batch): queued, and pushed when that ends. */
export const kHeld = Symbol('danga.held');

/** What an Outbound needs of the object that owns it. */
export interface OutboundHost {
  readonly closed: boolean;
  [kWriteOne](buf: Buffer, offset: number, length: number): number;
  [kDirect](): Transport | null;
  [kWrote](n: number): void;
  [kWriteFailed](n: number): false;
  [kRunCallback](fn: () => void): void;
  [kDrained](): void;
  [kFileFailed](err: Error): void;
  [kHeld](): boolean;
  onIncompleteWrite(): void;
  onWriteHigh(): void;
  onWriteLow(): void;
  close(reason?: string): void;
  asString(): string;
}

/** What `flush()` ends with. */
export const DRAINED = 0;
/** The socket took what it could; write interest is on. */
export const BLOCKED = 1;
/** A write failed: the object is closing (or waits for writability after EAGAIN). */
export const FAILED = 2;
/** DRAINED, BLOCKED or FAILED. */
export type FlushResult = typeof DRAINED | typeof BLOCKED | typeof FAILED;

/** A queue entry: bytes, a callback, or a range of a file. */
export type Queued = Buffer | (() => void) | FileRange;

/** Most Buffers handed to one writev (the kernel's IOV_MAX). */
const IOV_MAX = 1024;
/** A written-out head of the queue is cut off once it is this long (and half the queue). */
const COMPACT_AFTER = 1024;
/**
 * Buffers gathered for one write go out copied into one Buffer, with one
 * write, when they are small: at most GATHER_MAX bytes in all and
 * GATHER_AVG bytes a piece on average. Copying a few hundred bytes costs
 * less than handing the kernel (and the addon, or Node's stream) one piece
 * each: pipelined answers of a few dozen bytes cost about a third less to
 * write. Bigger pieces go out with writev, never copied.
 */
const GATHER_MAX = 16 * 1024;
const GATHER_AVG = 512;

/** The write queue of one object. */
export class Outbound {
  /** Buffers, callbacks and file ranges; `head` is the first live entry. */
  q: Queued[] = [];
  head = 0;
  /** Bytes of the head Buffer already written. */
  offset = 0;
  /**
   * Queued bytes plus one per queued callback (the original's
   * write_buf_size), file ranges apart: this is what sits in memory, which
   * the watermarks and the cap watch.
   */
  size = 0;
  /** Bytes of queued file ranges not sent yet (on disk, not in memory). */
  fileBytes = 0;
  /** Write watermarks (bytes); high 0 = none. */
  high = 0;
  low = 0;
  /** Most bytes the queue may hold; 0 = no cap. */
  cap = 0;
  /** The queue is above the high watermark (onWriteHigh told, onWriteLow not yet). */
  aboveHigh = false;
  /** A file range was queued since the queue was last empty (dropping it releases them). */
  hasFiles = false;

  /** True when nothing is queued. */
  get empty(): boolean {
    return this.head >= this.q.length;
  }

  // ---------------------------------------------------------------- queuing: the one enqueue step

  /** Room for `bytes` more under the cap; else the host is closed (reason 'write_cap') and nothing is queued. */
  #fits(host: OutboundHost, bytes: number): boolean {
    if (this.cap !== 0 && this.size + bytes > this.cap) {
      host.close('write_cap');
      return false;
    }
    return true;
  }

  /** write() with something queued, or held: a callback (it counts one byte) or a non-empty Buffer goes behind the rest. */
  queue(host: OutboundHost, item: Buffer | (() => void)): false {
    if (typeof item === 'function') {
      this.q.push(item);
      this.size += 1;
    } else if (this.#fits(host, item.length)) {
      this.q.push(item);
      this.size += item.length;
      this.checkHigh(host);
    }
    return false;
  }

  /**
   * write() on an empty queue wrote `n` bytes of `buf` at once (n >= 0; the
   * socket took no more), or none (n = -EAGAIN): the rest is queued, and
   * write interest goes on (onIncompleteWrite, or the EAGAIN path).
   */
  rest(host: OutboundHost, buf: Buffer, n: number): false {
    const bytes = n >= 0 ? buf.length - n : buf.length;
    if (!this.#fits(host, bytes)) return false;
    this.q.push(buf);
    if (n > 0) this.offset = n;
    this.size += bytes;
    if (n >= 0) host.onIncompleteWrite();
    else host[kWriteFailed](n);
    this.checkHigh(host);
    return false;
  }

  /** write([a, b, …]): non-empty pieces queued together; written at once when the queue was empty and writes are not held. */
  pieces(host: OutboundHost, bufs: readonly Buffer[]): boolean {
    const wasEmpty = this.empty;
    let total = 0;
    for (const b of bufs) total += b.length;
    if (!this.#fits(host, total)) return false;
    for (const b of bufs) this.q.push(b);
    this.size += total;
    if (wasEmpty && !host[kHeld]() && this.flush(host) === DRAINED) return true;
    if (!host.closed) this.checkHigh(host);
    return false;
  }

  /** writeFile(): a file range (its bytes count apart: they are on disk), in order; sent at once as pieces() are. */
  file(host: OutboundHost, range: FileRange): boolean {
    const wasEmpty = this.empty;
    this.q.push(range);
    this.fileBytes += range.end - range.pos;
    this.hasFiles = true;
    return wasEmpty && !host[kHeld]() ? this.flush(host) === DRAINED : false;
  }

  /** Sets the watermarks (checked: integers, low <= high); tells onWriteHigh at once if the queue is above the new high. */
  setWatermarks(host: OutboundHost, high: number, low: number): void {
    validateInteger('high', high, 0, Number.MAX_SAFE_INTEGER);
    validateInteger('low', low, 0, Number.MAX_SAFE_INTEGER);
    if (low > high) throw outOfRange('low', `an integer <= high (${high})`, low);
    this.high = high;
    this.low = low;
    if (high === 0) this.aboveHigh = false;
    else if (!host.closed) this.checkHigh(host);
  }

  /** Sets the cap (checked: an integer, 0 = none). */
  setCap(bytes: number): void {
    this.cap = validateInteger('bytes', bytes, 0, Number.MAX_SAFE_INTEGER);
  }

  /** After queuing: tell onWriteHigh once the queue rises above the high watermark. */
  checkHigh(host: OutboundHost): void {
    const high = this.high;
    if (high === 0 || this.aboveHigh || this.size <= high) return;
    this.aboveHigh = true;
    host.onWriteHigh();
  }

  /** The object closes: the queue goes, and the files handed over with it are closed. */
  drop(): void {
    if (this.hasFiles) {
      const q = this.q;
      for (let i = this.head; i < q.length; i++) {
        const item = q[i];
        if (item instanceof FileRange) item.release();
      }
    }
    this.q = [];
    this.head = 0;
    this.offset = 0;
    this.size = 0;
    this.fileBytes = 0;
  }

  /** Writes as much of the queue as the socket takes, running the callbacks whose turn comes. */
  flush(host: OutboundHost): FlushResult {
    for (;;) {
      if (host.closed) return DRAINED;
      const q = this.q;
      const head = this.head;
      if (head >= q.length) {
        if (head > 0) {
          this.q = [];
          this.head = 0;
        }
        this.hasFiles = false;
        host[kDrained]();
        return DRAINED;
      }
      const item = q[head] as Queued;
      if (typeof item === 'function') {
        this.head = head + 1;
        this.size -= 1;
        // Taking a callback off is progress too: with low 0 it is what empties the queue.
        if (this.aboveHigh && !this.#checkLow(host)) return DRAINED;
        host[kRunCallback](item);
        continue;
      }
      if (item instanceof FileRange) {
        const r = this.#sendFile(host, item);
        if (r !== DRAINED) return r;
        q[head] = EMPTY;
        this.head = head + 1;
        item.release();
        continue;
      }
      // Gather the Buffers up to the next callback into one write (a writev, or a copy when they are small).
      const t = host[kDirect]();
      let count = 1;
      let want = item.length - this.offset;
      let detached = item.length === 0;
      if (t !== null) {
        const end = Math.min(q.length, head + IOV_MAX);
        for (let i = head + 1; i < end; i++) {
          const next = q[i] as Queued;
          if (typeof next === 'function' || next instanceof FileRange) break;
          if (next.length === 0) detached = true;
          want += next.length;
          count++;
        }
      }
      // Only non-empty Buffers are queued: an empty one is a view whose
      // ArrayBuffer was detached (transferred) since.
      if (detached) return detachedBuffer(host);
      const offset = this.offset;
      const n =
        count === 1 || t === null
          ? host[kWriteOne](item, offset, want)
          : want <= GATHER_MAX && want <= count * GATHER_AVG
            ? t.write(gather(q, head, count, offset, want), 0, want)
            : t.writev(q, head, count, offset);
      if (n < 0) {
        host[kWriteFailed](n);
        return FAILED;
      }
      if (n > 0) host[kWrote](n);
      this.size -= n;
      // Consume n bytes from the front of the queue.
      let left = n + offset;
      let i = head;
      while (i < head + count) {
        const len = (q[i] as Buffer).length;
        if (left < len) break;
        left -= len;
        q[i] = EMPTY; // let the written Buffer be collected
        i++;
      }
      this.head = i;
      this.offset = i < head + count ? left : 0;
      if (i > COMPACT_AFTER && i * 2 > q.length) {
        // Compact a long-lived queue so written entries do not pile up.
        this.q = q.slice(i);
        this.head = 0;
      }
      if (this.aboveHigh && !this.#checkLow(host)) return DRAINED;
      if (n < want) {
        host.onIncompleteWrite();
        return BLOCKED;
      }
    }
  }

  /**
   * After the queue shrank (written bytes, a callback taken off): at the low
   * watermark or below, tell onWriteLow, before the callbacks queued behind.
   * False when the host closed meanwhile.
   */
  #checkLow(host: OutboundHost): boolean {
    if (this.size <= this.low) {
      this.aboveHigh = false;
      host.onWriteLow();
    }
    return !host.closed;
  }

  /**
   * Sends the file range at the head of the queue: DRAINED once all of it is
   * out; BLOCKED when the socket is full (write interest is then on); FAILED
   * when the write or the file failed.
   */
  #sendFile(host: OutboundHost, range: FileRange): FlushResult {
    const t = host[kDirect]();
    if (t !== null && t.sendFile !== undefined) {
      for (;;) {
        const left = range.end - range.pos;
        const ask = left < SENDFILE_MAX ? left : SENDFILE_MAX;
        const n = t.sendFile(range.fd, range.pos, ask);
        if (n > 0) {
          range.pos += n;
          this.fileBytes -= n;
          host[kWrote](n);
          if (range.pos === range.end) return DRAINED;
          if (n < ask) {
            // The socket is full (or the file ended: the next call says so).
            host.onIncompleteWrite();
            return BLOCKED;
          }
          continue;
        }
        // 0: the file ends before the range does.
        if (n === 0) return fileFailed(host, range, 0, 'sendfile');
        if (n === -errno.EAGAIN || n === -errno.EPIPE || n === -errno.ECONNRESET) {
          host[kWriteFailed](n);
          return FAILED;
        }
        // Anything else is the file's (EIO, EBADF: closed under us, EINVAL).
        return fileFailed(host, range, n, 'sendfile');
      }
    }
    // No sendfile here: read the range in pieces and write them.
    for (;;) {
      if (range.chunk === null) {
        const rc = range.readChunk();
        if (rc !== 0) return fileFailed(host, range, rc < 0 ? rc : 0, 'read');
      }
      const chunk = range.chunk as Buffer;
      const off = range.chunkOffset;
      const len = chunk.length - off;
      const n = host[kWriteOne](chunk, off, len);
      if (n < 0) {
        host[kWriteFailed](n);
        return FAILED;
      }
      if (n > 0) {
        this.fileBytes -= n;
        host[kWrote](n);
      }
      if (n < len) {
        range.chunkOffset = off + n;
        host.onIncompleteWrite();
        return BLOCKED;
      }
      range.chunk = null;
      if (range.pos === range.end) return DRAINED;
    }
  }
}

/** The `want` bytes of the `count` Buffers of `q` from `head` (the first from `offset`), copied into one new Buffer. */
function gather(q: readonly Queued[], head: number, count: number, offset: number, want: number): Buffer {
  // A new Buffer each time: a stream transport (the node engine) keeps what it is given until it is written.
  const out = Buffer.allocUnsafe(want);
  const first = q[head] as Buffer;
  let at = first.copy(out, 0, offset);
  for (let i = head + 1; i < head + count; i++) {
    const b = q[i] as Buffer;
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * A file range cannot be sent (the file ended early, or an error `n`): the
 * bytes promised cannot follow, so the host hears why (eventErr) and closes.
 */
function fileFailed(host: OutboundHost, range: FileRange, n: number, syscall: string): FlushResult {
  let err: Error;
  if (n < 0) {
    err = systemError(n, syscall, `(file fd ${range.fd})`);
  } else {
    err = stateError(
      FILE_SHORT,
      `file fd ${range.fd} ended at byte ${range.pos}, before the end of its queued range (${range.end}): truncated after writeFile()?`,
    );
  }
  host[kFileFailed](err);
  return FAILED;
}

/** A queued view lost its memory: this connection's bytes cannot be sent in order any more. */
function detachedBuffer(host: OutboundHost): FlushResult {
  process.emitWarning(`${host.asString()}: a queued Uint8Array's ArrayBuffer was detached (transferred) before it was written; closing the connection`, {
    code: 'DANGA_DETACHED_BUFFER',
  });
  host.close('write_error');
  return FAILED;
}
