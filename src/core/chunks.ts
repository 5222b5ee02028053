/**
 * Chunk lists: the bytes a reader holds as a list of non-empty Buffers, in
 * arrival order, and the pure operations the frame scanner of `Inbound`
 * needs on them: find a delimiter that may straddle Buffers, read one byte,
 * take bytes off the front.
 *
 * Nothing here joins the list: a frame that lies inside one Buffer is a view
 * of it, and one that spans several is copied once, straight into the frame.
 * So a 1 MiB frame arriving in 64 KiB reads costs one 1 MiB copy, not the
 * 16 growing concatenations of a reader that joins as it goes.
 */
// Buffer imported, not the global: Node's global Buffer is a getter, called on each use.
import { Buffer } from 'node:buffer';
import { EMPTY } from './constants.js';
import { invalidArgType, invalidArgValue } from './errors.js';

/**
 * `data` as a Buffer: a Buffer itself, a string as UTF-8, a Uint8Array as
 * a view of its memory (no copy). `name` is the argument's, for the error.
 */
export function toBuffer(data: Buffer | Uint8Array | string, name: string): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) {
    try {
      return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    } catch (err) {
      throw invalidArgValue(name, 'is a view of a detached ArrayBuffer', err);
    }
  }
  throw invalidArgType(name, 'a Buffer, Uint8Array or string', data);
}

/** The non-empty ones of `pieces` as Buffers (write([a, b, …])): every piece checked (as `name[i]`) before any is used. */
export function toBuffers(pieces: ReadonlyArray<Buffer | Uint8Array | string>, name: string): Buffer[] {
  const bufs: Buffer[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const b = toBuffer(pieces[i] as Buffer | Uint8Array | string, `${name}[${i}]`);
    if (b.length !== 0) bufs.push(b);
  }
  return bufs;
}

/**
 * Bytes copied into frames that spanned more than one Buffer (`bytes`), and
 * into frames of their own length that would have pinned a larger
 * ArrayBuffer (`kept`, see keepable), since the process started. A
 * diagnostic (tests check with it that a frame costs one copy of its bytes
 * at most); nothing reads it on the hot path.
 */
export const framingCopies = { bytes: 0, kept: 0 };

/**
 * Frames of KEEP_EXACT bytes or more pin at most PIN_FACTOR times their
 * length (`keepable`). A caller may keep a frame as it got it (a
 * memcached-style server keeps each value), and a view keeps its whole
 * ArrayBuffer alive: a 1 KiB value that arrived with three others in a 4 KiB
 * read was a view of the 64 KiB pool chunk the epoll engine copied the read
 * into (on the node engine, of the whole read). With keys overwritten at
 * random, each kept value held 1.7 KiB of ArrayBuffer memory; copied, 1 KiB
 * and an ArrayBuffer object (BENCHMARKS.md, "Where the memory goes"). Such
 * a frame is copied into a Buffer of its own length: one allocation and a
 * copy, which frames this long can afford. Shorter frames, the many small
 * messages of a job or line protocol, stay views, copied never.
 */
export const KEEP_EXACT = 512;
const PIN_FACTOR = 2;

/**
 * `frame` (KEEP_EXACT bytes or more), or a copy of it in a Buffer of its
 * own when it is a view of an ArrayBuffer more than PIN_FACTOR times its
 * length.
 */
export function keepable(frame: Buffer): Buffer {
  const n = frame.length;
  if (frame.buffer.byteLength <= PIN_FACTOR * n) return frame;
  const out = Buffer.allocUnsafeSlow(n);
  out.set(frame);
  framingCopies.kept += n;
  return out;
}

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
  // (Not from Node's shared pool when it is long enough to be kept: keepable.)
  const out = n >= KEEP_EXACT ? Buffer.allocUnsafeSlow(n) : Buffer.allocUnsafe(n);
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
