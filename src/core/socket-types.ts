/**
 * The types DangaSocket's methods take and give (its options, what write()
 * takes, the logger, the stats snapshot), beside the class so that its file
 * holds the class. The package exports them from src/index.ts.
 */
/**
 * What `write()` takes: bytes, a string (UTF-8), a callback to run once
 * everything before it is out, nothing (kick the queue), or an array of
 * byte pieces, queued together and written with one system call.
 *
 * @original the `$data` of `$obj->write($data)` (a scalar, a scalar ref or a code ref); arrays are new
 */
export type WriteData = Buffer | Uint8Array | string | WriteCallback | ReadonlyArray<Buffer | Uint8Array | string> | undefined | null;

/**
 * Options of the constructor. All are off by default (the 1.62 behaviour).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface DangaSocketOptions {
  /**
   * Deliver end of stream once: after a read returned null, read interest
   * goes off (and stays off), so a handler that queued its last reply is
   * not re-fired every pass while it drains. `Connection` sets it.
   */
  eofOnce?: boolean;
}

/**
 * Options of `end()`.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface EndOptions {
  /**
   * Half-close instead: once everything queued is out, shut down the
   * writing side (the peer sees end of stream) and go on reading; close
   * when you see the peer's end of stream.
   */
  halfClose?: boolean;
}

/**
 * Options of `DangaSocket.shutdown()`.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface ShutdownOptions {
  /** Seconds to let connections finish before the rest are closed (default 30). */
  timeout?: number;
}

/**
 * Where the library's diagnostic output goes (see `DangaSocket.setLogger`).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export type Logger = (level: 'debug' | 'error', message: string) => void;

/**
 * A snapshot of the loop's counters (see `DangaSocket.stats()`).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface DangaStats {
  /** Objects open now (registered and not closed), listeners included. */
  readonly open: number;
  /** Objects registered since the process started. */
  readonly opened: number;
  /** Connections accepted by `Listener` objects. */
  readonly accepted: number;
  /** Bytes read from sockets. */
  readonly bytesIn: number;
  /** Bytes written to sockets. */
  readonly bytesOut: number;
  /** Closes by reason ('' when close() got none; 'stolen' for stealSocket()). */
  readonly closed: Readonly<Record<string, number>>;
}

/**
 * A callback in the write queue.
 *
 * Its exception propagates to whoever ran the queue (the handler, or the loop's error handling).
 *
 * @original a code ref given to `$obj->write($code)`
 */
export type WriteCallback = () => void;

/**
 * Replaces the write syscall (`setWriterFunc`). Gets the Buffer, the number of
 * bytes to write and the offset to start at; returns the number of bytes it
 * wrote (0 when it can take nothing now). To report a failure it throws an
 * Error whose `code` is the errno name ('EPIPE', 'EAGAIN', …).
 *
 * @original the `$code` of `$obj->set_writer_func($code)`
 */
export type WriterFunc = (data: Buffer, length: number, offset: number) => number;

/**
 * The layout of a length-prefixed frame, for `readFrame()`: a header of
 * `headerBytes` bytes holding the payload's length at `lengthOffset`, then
 * the payload. A plain 4-byte big-endian length prefix is
 * `{ lengthBytes: 4 }`; a Gearman binary packet (4 bytes of magic, 4 of
 * type, 4 of length) is `{ lengthBytes: 4, lengthOffset: 8, keepHeader: true }`.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface FrameFormat {
  /** Width of the length field in bytes. */
  readonly lengthBytes: 1 | 2 | 4;
  /** Byte order of the length field: 'be' (network order, the default) or 'le'. */
  readonly endian?: 'be' | 'le';
  /** Where the length field starts in the header (default 0). */
  readonly lengthOffset?: number;
  /** Bytes of header before the payload (default `lengthOffset + lengthBytes`; at least that). */
  readonly headerBytes?: number;
  /** Added to the length field to get the payload's length (default 0; -4 when a 4-byte length counts itself). */
  readonly adjust?: number;
  /** Hand out the header with the payload (default false: the payload only). */
  readonly keepHeader?: boolean;
}
