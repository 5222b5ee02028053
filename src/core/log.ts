/**
 * Where the library's diagnostic output goes: `debugMsg()`, `dumpError()`
 * and DANGA_DEBUG's close messages (see `DangaSocket.setLogger`).
 */
import type { Logger } from './socket-types.js';

const defaultLogger: Logger = (_level, message) => {
  process.stderr.write(message);
};
let logger: Logger = defaultLogger;

/** Sets the logger; null restores the default, stderr. */
export function setLogger(fn: Logger | null): void {
  logger = fn ?? defaultLogger;
}

/** DANGA_DEBUG=1 prints each close and its reason (the original's DebugLevel). */
export const DEBUG_LEVEL = Number(process.env.DANGA_DEBUG ?? 0) || 0;

/** Writes `message` (newline included) through the logger. */
export function log(level: 'debug' | 'error', message: string): void {
  logger(level, message);
}

/** Text of a value for a message, whatever it is (a Symbol, an object without prototype). */
export function text(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
