/**
 * Error construction: argument errors in Node's style (TypeError / RangeError
 * with a `code` and a message naming the argument) and system errors built
 * from a negative errno the way Node's own `net` builds them.
 */
import { getSystemErrorName } from 'node:util';
import { constants as osConstants } from 'node:os';
import type { Transport } from './contract.js';

/** An Error carrying the fields Node puts on system errors. */
export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  /** The address of a TCP socket call (with `port`). */
  address?: string;
  port?: number;
  /** The path of a Unix socket call. */
  path?: string;
}

/** Where a failed socket call was going: a TCP address and port, or a Unix socket path. */
export type SystemErrorWhere = { readonly address: string; readonly port: number } | { readonly path: string };

/** errno numbers (positive) for the names the core tests for. */
export const errno = {
  EAGAIN: osConstants.errno.EAGAIN,
  EPIPE: osConstants.errno.EPIPE,
  ECONNRESET: osConstants.errno.ECONNRESET,
  EBADF: osConstants.errno.EBADF,
  ENOTSOCK: osConstants.errno.ENOTSOCK,
  ENOPROTOOPT: osConstants.errno.ENOPROTOOPT,
  EOPNOTSUPP: osConstants.errno.EOPNOTSUPP,
  EEXIST: osConstants.errno.EEXIST,
  ENOENT: osConstants.errno.ENOENT,
  EINVAL: osConstants.errno.EINVAL,
  ENOTCONN: osConstants.errno.ENOTCONN,
} as const;

/** Describes a value for an error message, the way Node's ERR_INVALID_ARG_TYPE does. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const ctor = (value as { constructor?: { name?: string } }).constructor;
    return ctor?.name ? `an instance of ${ctor.name}` : 'an object';
  }
  if (typeof value === 'string') return `type string (${JSON.stringify(value.length > 28 ? value.slice(0, 25) + '...' : value)})`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || typeof value === 'symbol') {
    return `type ${typeof value} (${String(value)})`;
  }
  return `type ${typeof value}`;
}

/** TypeError with code ERR_INVALID_ARG_TYPE. */
export function invalidArgType(name: string, expected: string, actual: unknown): TypeError {
  const err = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`);
  (err as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

/** RangeError with code ERR_OUT_OF_RANGE. */
export function outOfRange(name: string, expected: string, actual: unknown): RangeError {
  const err = new RangeError(`The value of "${name}" is out of range. It must be ${expected}. Received ${String(actual)}`);
  (err as RangeError & { code: string }).code = 'ERR_OUT_OF_RANGE';
  return err;
}

/** TypeError with code ERR_INVALID_ARG_VALUE, for a value of the right type that cannot be used. */
export function invalidArgValue(name: string, reason: string, cause?: unknown): TypeError {
  const err = new TypeError(`The argument "${name}" ${reason}`, cause === undefined ? undefined : { cause });
  (err as TypeError & { code: string }).code = 'ERR_INVALID_ARG_VALUE';
  return err;
}

/** Error with a custom code for misuse of the API's state (e.g. a loop that already runs). */
export function stateError(code: string, message: string): Error {
  const err = new Error(message);
  (err as Error & { code: string }).code = code;
  return err;
}

/** An Error of the framing helpers: no delimiter within the `maxBytes` they were given. */
export interface FrameTooLongError extends Error {
  code: 'ERR_DANGA_FRAME_TOO_LONG';
  /** The limit that was exceeded. */
  maxBytes: number;
}

/**
 * Error with code ERR_DANGA_FRAME_TOO_LONG: a line (or frame) runs past the
 * `maxBytes` a framing helper was given, e.g. "line longer than maxBytes
 * (262144 bytes)". It is not a TypeError: the caller's arguments were fine,
 * the peer's data was not.
 */
export function frameTooLong(what: 'line' | 'frame', maxBytes: number): FrameTooLongError {
  const err = new Error(`${what} longer than maxBytes (${maxBytes} bytes)`) as FrameTooLongError;
  err.code = 'ERR_DANGA_FRAME_TOO_LONG';
  err.maxBytes = maxBytes;
  return err;
}

/**
 * A Node-style system error from a negative errno: `code` 'ECONNRESET',
 * `errno` -104, `syscall` 'read', message "read ECONNRESET". `detail` adds
 * to the message: a string as it is, or where a socket call was going, as
 * Node's net words it, with the matching fields set:
 *
 *     "bind EADDRINUSE 127.0.0.1:8080"   { address, port }
 *     "connect ENOENT /tmp/s.sock"       { path } (a NUL byte, as in Linux
 *                                        abstract names, shows as '@')
 */
export function systemError(negErrno: number, syscall: string, detail?: string | SystemErrorWhere): SystemError {
  let code: string;
  try {
    code = getSystemErrorName(negErrno);
  } catch {
    code = `Unknown system error ${negErrno}`;
  }
  let message = `${syscall} ${code}`;
  if (typeof detail === 'string') {
    if (detail) message += ` ${detail}`;
  } else if (detail !== undefined) {
    message += 'path' in detail ? ` ${detail.path.replaceAll('\0', '@')}` : ` ${detail.address}:${detail.port}`;
  }
  const err = new Error(message) as SystemError;
  err.code = code;
  err.errno = negErrno;
  err.syscall = syscall;
  if (detail !== undefined && typeof detail !== 'string') {
    if ('path' in detail) {
      err.path = detail.path;
    } else {
      err.address = detail.address;
      err.port = detail.port;
    }
  }
  return err;
}

/**
 * The negative errno for an error: from its `code` ('EPIPE') when that is an
 * OS error name, else its negative `errno`, else `fallback`. Used where user
 * code or Node reports failures as Error objects (writer functions, streams).
 */
export function errnoOf(err: unknown, fallback: number): number {
  const code = (err as { code?: unknown } | null)?.code;
  const names = osConstants.errno as Record<string, number>;
  if (typeof code === 'string' && Object.hasOwn(names, code)) return -(names[code] as number);
  const n = (err as { errno?: unknown } | null)?.errno;
  if (typeof n === 'number' && n < 0) return n;
  return fallback;
}

/** Validates an integer argument, throwing TypeError (not a number) or RangeError (not in range). */
export function validateInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(name, `an integer >= ${min} and <= ${max}`, value);
  }
  return value;
}

/** Validates an options argument: an object (null is not one); returns it as a record. */
export function validateObject(name: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object') throw invalidArgType(name, 'an object', value);
  return value as Record<string, unknown>;
}

/** Validates a duration in seconds: a number from 0 to 2^31-1 ms (fractions allowed). */
export function validateSeconds(name: string, value: unknown): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!(value >= 0 && value <= 0x7fffffff / 1000)) throw outOfRange(name, 'a number of seconds >= 0', value);
  return value;
}

/**
 * The error for a `maxBytes` that is not an integer from 1 to 2^53-1:
 * read() and peek() check it inline (their fast path makes no call) and
 * build the error here.
 */
export function badMaxBytes(value: unknown): TypeError | RangeError {
  return typeof value !== 'number' ? invalidArgType('maxBytes', 'of type number', value) : outOfRange('maxBytes', 'an integer >= 1', value);
}

/** Validates a function argument. */
export function validateFunction<T extends (...args: never[]) => unknown>(name: string, value: unknown): T {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value);
  return value as T;
}

/**
 * What eventErr(err) is told: the transport's own Error (the node engine's
 * stream error, TLS errors included), else, when `pending` (an eventErr
 * that declares the parameter), the socket's pending error; undefined when none.
 */
export function transportError(t: Transport, pending: boolean): Error | undefined {
  const own = t.error;
  if (own !== undefined && own !== null) return own;
  return pending ? pendingError(t) : undefined;
}

/** The socket's pending error (SO_ERROR, which reading clears), else the error of the read that failed; undefined when none. */
export function pendingError(t: Transport): Error | undefined {
  const n = t.socketError();
  if (n > 0) return systemError(-n, 'getsockopt', 'SO_ERROR');
  const last = t.lastError;
  return last < 0 ? systemError(last, 'read') : undefined;
}
