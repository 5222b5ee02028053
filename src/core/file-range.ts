/**
 * A range of an open file in a DangaSocket's write queue (`writeFile()`):
 * one more kind of queue entry, written when its turn comes, with the
 * callbacks behind it run once its last byte is out.
 *
 * An engine whose transport has `sendFile` (the epoll engine: sendfile(2))
 * moves the bytes from the page cache to the socket without them entering
 * user space. Any other transport (the node engine, TLS, a writer function)
 * gets them here: `readChunk()` reads the next piece of the range into a
 * fresh Buffer, which is written like any other. This file is the one place
 * where the core touches a file (fstat at queue time unless the caller
 * gives the size, pread, close).
 */
import { closeSync, fstatSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { noop } from './constants.js';
import { errnoOf, invalidArgType, invalidArgValue, outOfRange, validateInteger } from './errors.js';

/**
 * What `writeFile()` takes: an fd number or an open `FileHandle`.
 *
 * @original new in danga-socket
 */
export type FileSource = number | FileHandle;

/**
 * Options of `writeFile()`.
 *
 * @original new in danga-socket
 */
export interface WriteFileOptions {
  /** Close the file (fd or FileHandle) once the range is sent, or when the object closes first. Default false: the caller keeps ownership. */
  close?: boolean;
  /**
   * The file's size, when the caller has it already (a file server's own
   * fstat(2) of the file it opened): writeFile() then makes no fstat(2) of
   * its own, and takes the file for a regular file of this size (the range
   * is checked against it, and without a `length` runs to it). A file found
   * shorter when its turn comes is reported as a truncated one is
   * (ERR_DANGA_FILE_SHORT). Default: writeFile() measures the file.
   */
  size?: number;
}

/**
 * How much of a range the fallback reads per piece. A fresh Buffer each
 * time: the node engine's streams keep a written Buffer until it is out.
 */
const FILE_CHUNK = 128 * 1024;

/**
 * Most bytes one sendfile(2) call is asked for: Linux moves at most
 * 0x7ffff000 per call anyway, and a socket takes far less.
 */
export const SENDFILE_MAX = 0x7ffff000;

/** Error code of a file that ended before its range did (truncated after writeFile()). */
export const FILE_SHORT = 'ERR_DANGA_FILE_SHORT';

function isFileHandle(value: unknown): value is FileHandle {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { fd?: unknown }).fd === 'number' &&
    typeof (value as { close?: unknown }).close === 'function'
  );
}

/** A queued file range; `pos` moves from the range's start to `end` as bytes go out. */
export class FileRange {
  /** The file descriptor the bytes come from. */
  readonly fd: number;
  /** The next byte of the file to send (or, in the fallback, to read). */
  pos: number;
  /** One past the range's last byte. */
  readonly end: number;
  /** What to close once done: the fd itself, its FileHandle, or nothing (the caller's). */
  #owned: FileSource | null;
  /** The fallback's piece read but not all written yet, and how much of it is written. */
  chunk: Buffer | null = null;
  chunkOffset = 0;

  private constructor(fd: number, pos: number, end: number, owned: FileSource | null) {
    this.fd = fd;
    this.pos = pos;
    this.end = end;
    this.#owned = owned;
  }

  /**
   * Checks `writeFile()`'s arguments and measures the file (unless
   * `options.size` gives its size): a TypeError or RangeError naming the
   * argument for bad ones, the OS error of fstat(2) (EBADF) for an fd that
   * is not open. Nothing is taken over when it throws.
   */
  static from(file: unknown, offset: unknown, length: unknown, options: unknown): FileRange {
    let fd: number;
    if (typeof file === 'number') {
      validateInteger('file', file, 0, 0x7fffffff);
      fd = file;
    } else if (isFileHandle(file)) {
      fd = file.fd;
      if (fd < 0) throw invalidArgValue('file', 'is a closed FileHandle');
    } else {
      throw invalidArgType('file', 'an fd number or a FileHandle', file);
    }
    if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidArgType('options', 'an object', options);
    const close = (options as WriteFileOptions | undefined)?.close;
    if (close !== undefined && typeof close !== 'boolean') throw invalidArgType('options.close', 'a boolean', close);
    const start = validateInteger('offset', offset ?? 0, 0, Number.MAX_SAFE_INTEGER);
    const len = length === undefined || length === null ? null : validateInteger('length', length, 0, Number.MAX_SAFE_INTEGER);
    const known = (options as WriteFileOptions | undefined)?.size;
    let size: number;
    if (known !== undefined) {
      size = validateInteger('options.size', known, 0, Number.MAX_SAFE_INTEGER);
    } else {
      const st = fstatSync(fd);
      if (!st.isFile()) throw invalidArgValue('file', `must be a regular file (fd ${fd} is not one)`);
      size = st.size;
    }
    if (start > size) throw outOfRange('offset', `an integer <= the file's size (${size})`, start);
    if (len !== null && start + len > size) throw outOfRange('length', `an integer <= the file's size minus offset (${size - start})`, len);
    return new FileRange(fd, start, len === null ? size : start + len, close === true ? file : null);
  }

  /**
   * The fallback: reads the next piece of the range into `chunk`. 0 when
   * read, else a negative errno (-EIO…) or 1 when the file ended early.
   */
  readChunk(): number {
    const want = this.end - this.pos < FILE_CHUNK ? this.end - this.pos : FILE_CHUNK;
    const buf = Buffer.allocUnsafeSlow(want);
    let n: number;
    try {
      n = readSync(this.fd, buf, 0, want, this.pos);
    } catch (err) {
      return errnoOf(err, -5 /* EIO */);
    }
    if (n === 0) return 1;
    this.chunk = n === want ? buf : buf.subarray(0, n);
    this.chunkOffset = 0;
    this.pos += n;
    return 0;
  }

  /** Done with the range (sent, or dropped at close): closes the file when it was handed over. */
  release(): void {
    const owned = this.#owned;
    this.#owned = null;
    this.chunk = null;
    if (owned === null) return;
    if (typeof owned === 'number') {
      try {
        closeSync(owned);
      } catch {
        // closed already by someone else: nothing of ours leaks
      }
    } else {
      owned.close().catch(noop);
    }
  }
}
