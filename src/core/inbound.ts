/**
 * Inbound: a DangaSocket's read side beyond the socket itself, the bytes it
 * holds and the frame scanner of the framing helpers (`readLine`,
 * `readUntil`, `readExact` on DangaSocket). Pure: it does no I/O; the object
 * reads the socket and appends what it got.
 *
 * It holds, in arrival order, the Buffers not handed out yet (pushed back
 * with `pushBackRead()`, or read by the helpers and not yet part of a
 * frame), and what the loop's pushed-back phase needs to see progress. It
 * is made on the first push-back or framing call: most objects never need it.
 *
 * Nothing here joins the list: a frame that lies inside one Buffer is a view
 * of it, and one that spans several is copied once, straight into the frame.
 * So a 1 MiB frame arriving in 64 KiB reads costs one 1 MiB copy, not the
 * 16 growing concatenations of a reader that joins as it goes.
 */

const EMPTY = Buffer.alloc(0);

/**
 * Bytes copied into frames that spanned more than one Buffer, since the
 * process started. A diagnostic (tests check with it that a frame costs one
 * copy of its bytes); nothing reads it on the hot path.
 */
export const framingCopies = { bytes: 0 };

/**
 * Where `delim` first starts in the bytes of `chunks` (`total` of them), at
 * or after `from`; -1 when it does not occur there in full. A match may
 * straddle Buffers.
 *
 * The caller keeps `from` as the offset up to which it has searched before
 * (less `delim.length - 1`, since a delimiter may start in the last bytes
 * searched and end in bytes still to come), so each byte is searched about
 * once however many reads a frame takes. The Buffer holding `from` is
 * found from the end of the list, which is where `from` usually is: that
 * costs the Buffers that arrived since the last search, not the whole list.
 *
 * @param chunks non-empty Buffers
 * @param total the sum of their lengths
 * @param delim a non-empty delimiter
 * @param from the first position where a match may start
 */
export function indexOfChunks(chunks: readonly Buffer[], total: number, delim: Buffer, from: number): number {
  const dlen = delim.length;
  if (from < 0) from = 0;
  if (total - from < dlen) return -1;
  let i = chunks.length - 1;
  let base = total - (chunks[i] as Buffer).length;
  while (base > from) {
    i--;
    base -= (chunks[i] as Buffer).length;
  }
  const first = delim[0] as number;
  for (; i < chunks.length; i++) {
    const chunk = chunks[i] as Buffer;
    const local = from > base ? from - base : 0;
    // A one-byte delimiter is searched as a number: V8's memchr path.
    const q = dlen === 1 ? chunk.indexOf(first, local) : chunk.indexOf(delim, local);
    if (q >= 0) return base + q;
    if (dlen > 1) {
      // indexOf finds only matches inside the chunk; those that start in its
      // last dlen - 1 bytes run into the next chunks and are checked here.
      let s = chunk.length - dlen + 1;
      if (s < local) s = local;
      for (; s < chunk.length; s++) {
        if (chunk[s] === first && matchesAt(chunks, i, s, delim)) return base + s;
      }
    }
    base += chunk.length;
  }
  return -1;
}

/** True when `delim` occurs in `chunks` at offset `at` of chunk `i`, possibly running across the next chunks. */
function matchesAt(chunks: readonly Buffer[], i: number, at: number, delim: Buffer): boolean {
  let chunk = chunks[i] as Buffer;
  let pos = at;
  for (let k = 0; k < delim.length; k++, pos++) {
    while (pos >= chunk.length) {
      i++;
      if (i >= chunks.length) return false;
      chunk = chunks[i] as Buffer;
      pos = 0;
    }
    if (chunk[pos] !== delim[k]) return false;
  }
  return true;
}

/** The byte at position `pos` of the bytes of `chunks` (which has it). */
export function byteAt(chunks: readonly Buffer[], pos: number): number {
  for (const chunk of chunks) {
    if (pos < chunk.length) return chunk[pos] as number;
    pos -= chunk.length;
  }
  return -1;
}

/**
 * Removes the first `n` bytes of `chunks` and returns them, and removes the
 * `skip` bytes after them too (a delimiter), `chunks` holding at least
 * `n + skip`. The frame is a view when it lies in the first Buffer, else a
 * new Buffer it is copied into once. The list keeps only non-empty Buffers.
 * Taking a frame and its delimiter in one call costs one view for what
 * stays of the first Buffer, not one per step.
 */
export function takeFront(chunks: Buffer[], n: number, skip = 0): Buffer {
  const end = n + skip;
  if (end === 0) return EMPTY;
  const head = chunks[0] as Buffer;
  if (head.length > end) {
    chunks[0] = head.subarray(end);
    return n === 0 ? EMPTY : head.subarray(0, n);
  }
  if (head.length === end) {
    chunks.shift();
    return n === 0 ? EMPTY : skip === 0 ? head : head.subarray(0, n);
  }
  if (n <= head.length) {
    // The frame is in the first Buffer; only its delimiter runs on.
    const frame = n === 0 ? EMPTY : head.subarray(0, n);
    dropFront(chunks, end);
    return frame;
  }
  const out = Buffer.allocUnsafe(n);
  let off = 0;
  let i = 0;
  while (off < n) {
    const chunk = chunks[i] as Buffer;
    const want = n - off;
    if (chunk.length <= want) {
      chunk.copy(out, off);
      off += chunk.length;
      i++;
    } else {
      chunk.copy(out, off, 0, want);
      chunks[i] = chunk.subarray(want);
      off = n;
    }
  }
  // One splice for all the consumed Buffers: shifting them one by one would
  // cost the length of the list for each.
  chunks.splice(0, i);
  framingCopies.bytes += n;
  if (skip > 0) dropFront(chunks, skip);
  return out;
}

/** Removes the first `n` bytes of `chunks` (which holds at least `n`) without copying them. */
export function dropFront(chunks: Buffer[], n: number): void {
  let i = 0;
  while (n > 0) {
    const chunk = chunks[i] as Buffer;
    if (chunk.length <= n) {
      n -= chunk.length;
      i++;
    } else {
      chunks[i] = chunk.subarray(n);
      n = 0;
    }
  }
  if (i === 1) chunks.shift();
  else if (i > 1) chunks.splice(0, i);
}

const CR = 13;

/** What `Inbound.scan()` returns when no delimiter can come within the limit. */
export const TOO_LONG = Symbol('danga.frameTooLong');

/** An object's bytes not handed out yet, and the state of its frame scanner. */
export class Inbound {
  /** Non-empty Buffers, in order: exactly the bytes not yet handed out. */
  readonly chunks: Buffer[] = [];
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

  /** Bytes put back by the user (pushBackRead): they wait for a reader again. */
  push(b: Buffer): void {
    this.chunks.push(b);
    this.bytes += b.length;
    this.parked = false;
  }

  /** Bytes put back in front of everything held (unshiftRead). */
  unshift(b: Buffer): void {
    this.chunks.unshift(b);
    this.bytes += b.length;
    // Positions moved: the delimiter search starts over.
    this.scanned = 0;
    this.parked = false;
  }

  /** The first `n` bytes held (at most), not consumed: a view inside the first Buffer, else a copy. */
  peek(n: number): Buffer {
    const chunks = this.chunks;
    const head = chunks[0] as Buffer;
    if (head.length >= n) return head.subarray(0, n);
    const len = n < this.bytes ? n : this.bytes;
    if (head.length === len) return head;
    const out = Buffer.allocUnsafe(len);
    let off = 0;
    for (let i = 0; off < len; i++) {
      const c = chunks[i] as Buffer;
      const k = c.length < len - off ? c.length : len - off;
      c.copy(out, off, 0, k);
      off += k;
    }
    return out;
  }

  /** Bytes the framing helpers read from the socket (non-empty). */
  append(b: Buffer): void {
    this.chunks.push(b);
    this.bytes += b.length;
    this.socketBytes += b.length;
  }

  /** For read(): the first Buffer held, or its first `maxBytes` bytes (it holds some). */
  takeSome(maxBytes: number): Buffer {
    const chunks = this.chunks;
    const buf = chunks[0] as Buffer;
    if (buf.length > maxBytes) {
      chunks[0] = buf.subarray(maxBytes);
      this.bytes -= maxBytes;
      this.scanned = this.scanned > maxBytes ? this.scanned - maxBytes : 0;
      return buf.subarray(0, maxBytes);
    }
    chunks.shift();
    this.bytes -= buf.length;
    // The search resumes after what was searched, which moved to the front by as much as was taken.
    this.scanned = this.scanned > buf.length ? this.scanned - buf.length : 0;
    return buf;
  }

  /** A frame was handed out: progress, and what is left is owed to the reader again. */
  taken(): void {
    this.frames++;
    this.parked = false;
  }

  /** The first `n` bytes as a frame (it holds at least `n`). */
  take(n: number): Buffer {
    const frame = takeFront(this.chunks, n);
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
    const chunks = this.chunks;
    const dlen = delim.length;
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
        const frame = takeFront(chunks, len, skip);
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
    if (this.bytes >= lastStart + dlen || (line && this.bytes === lastStart && byteAt(chunks, maxBytes) !== CR)) return TOO_LONG;
    return undefined;
  }
}
