/**
 * Inbound: a DangaSocket's read side beyond the socket itself: the bytes it
 * holds (pushed back, or read by the framing helpers and not yet part of a
 * frame, in arrival order), the frame scanner of `readLine`, `readUntil`,
 * `readExact`, `readFrame`, `peek` and `peekByte`, and what the loop's
 * pushed-back phase needs to see progress. It is made on the first
 * push-back, peek or framing call: most objects never need it.
 *
 * Its rules are pure: it does no I/O and knows no socket, loop or interest
 * mask. What it needs of its object (one socket read, counted; being filed
 * for the pushed-back phase, or not) it asks through the Symbol-keyed
 * `InboundHost` interface, as the loop asks through `LoopObject`. So its
 * rules are tested over Buffers (test/core/inbound.test.ts).
 */
// Buffer imported, not the global: Node's global Buffer is a getter, called on each use.
import { Buffer } from 'node:buffer';
import { frameTooLong, stateError } from './errors.js';
import type { FrameFormat } from './socket-types.js';
import { type FrameSpec, frameLength } from './frame-spec.js';
import { byteAt, dropFront, indexOfChunks, KEEP_EXACT, keepable, takeFront } from './chunks.js';
import { EMPTY } from './constants.js';

/** Host hook: one socket read of at most `max` bytes (counted, activity, end of stream noted): bytes, empty when none now, null at the end or on error. */
export const kReadSocket = Symbol('danga.readSocket');
/** Host hook: what is held is owed to a reader now (`owed`), or not: the host files itself for the pushed-back phase while its read interest is on. */
export const kOwed = Symbol('danga.owed');

/** What an Inbound needs of the object that owns it. */
export interface InboundHost {
  [kReadSocket](max: number): Buffer | null;
  [kOwed](owed: boolean): void;
}

/** What one socket read of the framing helpers asks for (the native slab's full-read size). */
const FRAME_READ = 64 * 1024;
/** Bytes one framing call reads at most before "not yet" (as read()): a big frame cannot hold the loop; level-triggered readiness brings the rest. */
const FRAME_READ_BUDGET = 1024 * 1024;
const CR = 13;
const LF = Buffer.from('\n');

/** What `Inbound.scan()` returns when no delimiter can come within the limit. */
export const TOO_LONG = Symbol('danga.frameTooLong');

/** An object's bytes not handed out yet, and the state of its frame scanner. */
export class Inbound {
  /**
   * Non-empty Buffers, in order: the bytes not yet handed out, except the
   * first `#off` bytes of the first Buffer, which are. A frame taken off the
   * first Buffer moves `#off` rather than cutting a view of what is left:
   * pipelined small frames cost one view each, not two. The general
   * operations (chunks.ts) see the list cut (`#settle()`).
   */
  readonly #list: Buffer[] = [];
  /** Bytes of `#list[0]` already handed out (0 when the list is empty). */
  #off = 0;
  /** The Buffer whose memory `#ab` and `#base` say, for `#view()`; forgotten once nothing is held (an idle object pins no memory). */
  #viewOf: Buffer | null = null;
  #ab: ArrayBufferLike | null = null;
  #base = 0;
  bytes = 0;
  /** The handler left it as it found it: delivered with the socket's next data. */
  parked = false;
  /** Bytes read from the socket (not from pushed-back data) since it was made. */
  socketBytes = 0;
  /** Frames handed out: progress too, also an empty one that consumed nothing (readExact(0)). */
  frames = 0;
  /** No occurrence of `scanFor` starts before this offset (so a search resumes there). */
  scanned = 0;
  /** The delimiter `scanned` is for. */
  scanFor: Buffer | null = null;
  /** The last string delimiter given to readUntil() and its bytes, so a repeated one is not converted each call. */
  delimText: string | null = null;
  delimBytes: Buffer | null = null;
  /** The last format given to readFrame() and its checked form. */
  format: FrameFormat | null = null;
  spec: FrameSpec | null = null;

  /** Non-empty Buffers, in order: exactly the bytes not yet handed out. */
  get chunks(): Buffer[] {
    this.#settle();
    return this.#list;
  }

  /** Cuts off what was handed out of the first Buffer, so that `#list` is exactly the bytes held. */
  #settle(): void {
    const off = this.#off;
    if (off !== 0) {
      const list = this.#list;
      list[0] = (list[0] as Buffer).subarray(off);
      this.#off = 0;
    }
  }

  /** The bytes `start` to `end` of `head`, a new view (its ArrayBuffer asked once per Buffer: subarray asks C++ each time). */
  #view(head: Buffer, start: number, end: number): Buffer {
    if (head !== this.#viewOf) {
      this.#viewOf = head;
      this.#ab = head.buffer;
      this.#base = head.byteOffset;
    }
    return Buffer.from(this.#ab as ArrayBuffer, this.#base + start, end - start);
  }

  /** Nothing is held: the memory of the last Buffer held is not kept for `#view()`. */
  #forget(): void {
    this.#viewOf = null;
    this.#ab = null;
  }

  /** Drops the first `n` bytes held (which holds at least `n`) without handing them out. */
  #drop(n: number): void {
    const list = this.#list;
    const head = list[0] as Buffer;
    const end = this.#off + n;
    if (end < head.length) this.#off = end;
    else if (end === head.length) {
      list.shift();
      this.#off = 0;
    } else {
      this.#settle();
      dropFront(list, n);
    }
    this.bytes -= n;
    this.scanned = this.scanned > n ? this.scanned - n : 0;
  }

  // ---------------------------------------------------------------- the rules, over Buffers

  /** Bytes put back by the user (pushBackRead): they wait for a reader again. */
  push(b: Buffer): void {
    this.#list.push(b);
    this.bytes += b.length;
    this.parked = false;
  }

  /** Bytes put back in front of everything held (unshiftRead). */
  unshift(b: Buffer): void {
    this.#settle();
    this.#list.unshift(b);
    this.bytes += b.length;
    // Positions moved: the delimiter search starts over.
    this.scanned = 0;
    this.parked = false;
  }

  /** The first `n` bytes held (at most), not consumed: a view inside the first Buffer, else a copy. */
  peekHeld(n: number): Buffer {
    const off = this.#off;
    const head = this.#list[0] as Buffer;
    const avail = head.length - off;
    if (avail >= n) return this.#view(head, off, off + n);
    const len = n < this.bytes ? n : this.bytes;
    if (avail === len) return off === 0 ? head : head.subarray(off);
    const chunks = this.#list;
    const out = Buffer.allocUnsafe(len);
    head.copy(out, 0, off);
    let at = avail;
    for (let i = 1; at < len; i++) {
      const c = chunks[i] as Buffer;
      const k = c.length < len - at ? c.length : len - at;
      c.copy(out, at, 0, k);
      at += k;
    }
    return out;
  }

  /** The byte at `offset` of the bytes held (which holds more than `offset`): no view made. */
  byteHeld(offset: number): number {
    const at = this.#off + offset;
    const head = this.#list[0] as Buffer;
    return at < head.length ? (head[at] as number) : byteAt(this.chunks, offset);
  }

  /** Bytes the framing helpers read from the socket (non-empty). */
  append(b: Buffer): void {
    this.#list.push(b);
    this.bytes += b.length;
    this.socketBytes += b.length;
  }

  /** For read(): the first Buffer held, or its first `maxBytes` bytes (it holds some). */
  takeSome(maxBytes: number): Buffer {
    const chunks = this.#list;
    const buf = chunks[0] as Buffer;
    const off = this.#off;
    const avail = buf.length - off;
    let out: Buffer;
    if (avail > maxBytes) {
      out = buf.subarray(off, off + maxBytes);
      this.#off = off + maxBytes;
    } else {
      out = off === 0 ? buf : buf.subarray(off);
      chunks.shift();
      this.#off = 0;
    }
    const n = out.length;
    this.bytes -= n;
    // The search resumes after what was searched, which moved to the front by as much as was taken.
    this.scanned = this.scanned > n ? this.scanned - n : 0;
    return out;
  }

  /** A frame was handed out: progress, and what is left is owed to the reader again. */
  taken(): void {
    this.frames++;
    this.parked = false;
  }

  /** The first `n` bytes as a frame (it holds at least `n`). */
  take(n: number): Buffer {
    const list = this.#list;
    const off = this.#off;
    const head = list[0] as Buffer;
    const end = off + n;
    let frame: Buffer;
    if (n === 0) frame = EMPTY;
    else if (end < head.length) {
      // Inside the first Buffer, with more after it: one view, and the offset moves.
      frame = this.#view(head, off, end);
      this.#off = end;
    } else if (end === head.length) {
      frame = off === 0 ? head : this.#view(head, off, end);
      list.shift();
      this.#off = 0;
    } else {
      this.#settle();
      frame = takeFront(list, n);
    }
    // (A long frame that is a small part of a large read is copied: keepable.)
    if (n >= KEEP_EXACT) frame = keepable(frame);
    this.bytes -= n;
    this.scanned = this.scanned > n ? this.scanned - n : 0;
    this.taken();
    return frame;
  }

  /**
   * The frame up to the first `delim` (which is consumed; for a `line`, a CR
   * before it too), or undefined when none is held yet, or TOO_LONG when no
   * delimiter can start within `maxBytes` any more (nothing is consumed).
   */
  scan(delim: Buffer, maxBytes: number, line: boolean): Buffer | undefined | typeof TOO_LONG {
    if (this.scanFor !== delim) {
      if (this.scanFor === null || !this.scanFor.equals(delim)) this.scanned = 0;
      this.scanFor = delim;
    }
    const dlen = delim.length;
    if (this.bytes - this.scanned >= dlen) {
      // A delimiter inside the first Buffer: found and taken with the offset, no cut.
      const off = this.#off;
      const head = this.#list[0] as Buffer;
      const from = off + this.scanned;
      const q = dlen === 1 ? head.indexOf(delim[0] as number, from) : head.indexOf(delim, from);
      if (q >= 0) {
        let len = q - off;
        let skip = dlen;
        if (line && len > 0 && head[q - 1] === CR) {
          len--;
          skip++;
        }
        if (len > maxBytes) {
          this.scanned = q - off;
          return TOO_LONG;
        }
        let frame = len === 0 ? EMPTY : this.#view(head, off, off + len);
        if (len >= KEEP_EXACT) frame = keepable(frame);
        this.#drop(len + skip);
        this.scanned = 0;
        this.taken();
        return frame;
      }
      this.#settle();
    }
    const chunks = this.#list;
    if (this.bytes - this.scanned >= dlen) {
      const at = indexOfChunks(chunks, this.bytes, delim, this.scanned);
      if (at >= 0) {
        let len = at;
        let skip = dlen;
        if (line && at > 0 && byteAt(chunks, at - 1) === CR) {
          len--;
          skip++;
        }
        if (len > maxBytes) {
          this.scanned = at;
          return TOO_LONG;
        }
        let frame = takeFront(chunks, len, skip);
        if (len >= KEEP_EXACT) frame = keepable(frame);
        this.bytes -= len + skip;
        this.scanned = 0;
        this.taken();
        return frame;
      }
      // A delimiter may start in the last dlen - 1 bytes and end in bytes still to come.
      this.scanned = this.bytes - dlen + 1;
    }
    // The last position where the delimiter may start for the frame to fit
    // (a line's LF may come one later, after a CR). Every place it could
    // start in has been searched (for a line, one byte short when that byte
    // is not the CR of a CRLF): too long.
    const lastStart = line ? maxBytes + 1 : maxBytes;
    if (this.bytes >= lastStart + dlen || (line && this.bytes === lastStart && byteAt(this.chunks, maxBytes) !== CR)) return TOO_LONG;
    return undefined;
  }

  /**
   * A length-prefixed frame (its payload, or with `keepHeader` header and
   * payload; consumed), or undefined when not all of it is held, or TOO_LONG
   * when its payload length is above `maxBytes` (nothing consumed). A
   * negative length (the header's length field below -adjust) throws.
   */
  scanFrame(spec: FrameSpec, maxBytes: number): Buffer | undefined | typeof TOO_LONG {
    const hlen = spec.headerBytes;
    if (this.bytes < hlen) return undefined;
    const off = this.#off;
    const head = this.#list[0] as Buffer;
    // The header read where it lies when it is inside the first Buffer (no view made for it).
    const len = head.length - off >= hlen ? frameLength(head, spec, off) : frameLength(this.peekHeld(hlen), spec);
    if (len > maxBytes) return TOO_LONG;
    if (len < 0) throw stateError('ERR_DANGA_FRAME_INVALID', `the frame header gives a payload of ${len} bytes`);
    if (this.bytes < hlen + len) return undefined;
    if (spec.keepHeader) return this.take(hlen + len);
    this.#drop(hlen);
    return this.take(len);
  }

  // ---------------------------------------------------------------- the read calls, through the host

  /** Files the host for the pushed-back phase while it holds bytes owed to a reader. */
  update(host: InboundHost): void {
    if (this.bytes === 0) {
      if (this.#viewOf !== null) this.#forget();
      host[kOwed](false);
      return;
    }
    host[kOwed](!this.parked);
  }

  /** read(): held bytes first (a parked remainder with what the socket has now), else the socket. */
  read(host: InboundHost, maxBytes: number): Buffer | null {
    if (this.bytes === 0) {
      const buf = host[kReadSocket](maxBytes);
      if (buf !== null) this.socketBytes += buf.length;
      return buf;
    }
    let buf = this.takeSome(maxBytes);
    if (this.parked && this.bytes === 0 && buf.length < maxBytes) {
      // Parked data is handed out with what the socket has now, so that a
      // reader keeping a partial line sees the rest of it.
      const more = host[kReadSocket](maxBytes - buf.length);
      if (more !== null && more.length > 0) {
        this.socketBytes += more.length;
        buf = Buffer.concat([buf, more], buf.length + more.length);
      }
    }
    if (this.bytes === 0) {
      this.parked = false;
      if (this.#viewOf !== null) this.#forget();
      host[kOwed](false);
    }
    return buf;
  }

  /** peek(): held bytes, with one socket read when fewer than `maxBytes` are held; null at the end with none held. */
  peek(host: InboundHost, maxBytes: number): Buffer | null {
    if (this.bytes < maxBytes && this.#fill(host) < 0 && this.bytes === 0) return null;
    if (this.bytes === 0) return EMPTY;
    // Held now: owed to a reader (the pushed-back phase delivers it while read interest is on).
    this.parked = false;
    this.update(host);
    return this.peekHeld(maxBytes);
  }

  /** peekByte(offset): the byte there, with one socket read when not held; undefined until it is there (what is held waits), null at the end. */
  peekByte(host: InboundHost, offset: number): number | undefined | null {
    if (this.bytes <= offset) {
      const got = this.#fill(host);
      if (this.bytes <= offset) return this.#wait(host, got < 0 ? null : undefined);
    }
    this.parked = false;
    this.update(host);
    return this.byteHeld(offset);
  }

  /** readExact(n): n bytes, reading the socket (within the budget) until they are held. */
  readExact(host: InboundHost, n: number): Buffer | undefined | null {
    let budget = FRAME_READ_BUDGET;
    while (this.bytes < n) {
      const got = budget > 0 ? this.#fill(host) : 0;
      if (got <= 0) return this.#wait(host, got < 0 ? null : undefined);
      budget -= got;
    }
    const frame = this.take(n);
    this.update(host);
    return frame;
  }

  /** readLine (`line`: LF, a CR before it dropped too) and readUntil: the search, then the socket, until a frame, nothing, or the end. */
  readUntil(host: InboundHost, delim: Buffer, maxBytes: number, line: boolean): Buffer | undefined | null {
    return this.#scanning(host, delim, null, maxBytes, line);
  }

  /** readLine(maxBytes). */
  readLine(host: InboundHost, maxBytes: number): Buffer | undefined | null {
    return this.#scanning(host, LF, null, maxBytes, true);
  }

  /** readFrame(format, maxBytes): a length-prefixed frame, reading the socket until it is held. */
  readFrame(host: InboundHost, spec: FrameSpec, maxBytes: number): Buffer | undefined | null {
    return this.#scanning(host, null, spec, maxBytes, false);
  }

  /** The scanners' fill loop: scan (for `delim`, or a frame of `spec`), then read the socket (within the budget), until a frame, nothing, or the end. */
  #scanning(host: InboundHost, delim: Buffer | null, spec: FrameSpec | null, maxBytes: number, line: boolean): Buffer | undefined | null {
    let budget = FRAME_READ_BUDGET;
    for (;;) {
      const frame = spec === null ? this.scan(delim as Buffer, maxBytes, line) : this.scanFrame(spec, maxBytes);
      if (frame === TOO_LONG) {
        this.#wait(host, undefined);
        throw frameTooLong(line ? 'line' : 'frame', maxBytes);
      }
      if (frame !== undefined) {
        this.update(host);
        return frame;
      }
      const got = budget > 0 ? this.#fill(host) : 0;
      if (got <= 0) return this.#wait(host, got < 0 ? null : undefined);
      budget -= got;
    }
  }

  /** One socket read appended: the bytes read, 0 when none is there now, -1 at end of stream or on error. */
  #fill(host: InboundHost): number {
    const buf = host[kReadSocket](FRAME_READ);
    if (buf === null) return -1;
    const n = buf.length;
    // Progress for the post-loop phase, as read()'s socket bytes are.
    if (n > 0) this.append(buf);
    return n;
  }

  /** No complete frame: what is held waits for the socket's next data (parked), so the loop does not re-fire for it. */
  #wait<R extends undefined | null>(host: InboundHost, result: R): R {
    this.parked = true;
    host[kOwed](false);
    return result;
  }
}
