/**
 * The messages between a worker group's supervisor (the main thread) and its
 * workers, and how an Error crosses between them. Internal: users see
 * `WorkerGroup` and `WorkerContext`.
 */
import type { DangaStats } from '../core/socket-types.js';

/**
 * How a group's workers get their connections.
 *
 * - `'reuseport'`: one SO_REUSEPORT listening socket per worker slot, made
 *   and kept open by the supervisor; the kernel spreads connections over
 *   the slots, and a slot's queue outlives its worker (nginx `reuseport`).
 * - `'shared'`: one listening socket per address, in every worker's loop,
 *   registered with EPOLLEXCLUSIVE on the epoll engine (nginx without
 *   `reuseport`, `accept_mutex off`).
 * - `'handoff'`: the supervisor accepts (in the main thread's loop, on the
 *   epoll engine) and hands each connection to the less loaded of two
 *   workers picked at random; the workers adopt the fd (either engine).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export type WorkerMode = 'reuseport' | 'shared' | 'handoff';

/** What the supervisor tells a worker at its start (its workerData). */
export interface WorkerStart {
  readonly module: string;
  readonly setup: string;
  readonly slot: number;
  readonly workers: number;
  readonly mode: WorkerMode;
  /** Per listen entry, the supervisor's fds this worker serves (the worker listens on dups of them). */
  readonly fds: readonly (readonly number[])[];
  readonly data: unknown;
  /** 'handoff': this worker's id in the claim table (see handoff.ts), the table, and its open-connection counter. */
  readonly handoff: { readonly id: number; readonly table: Int32Array; readonly load: Int32Array } | null;
}

/** Supervisor → worker. */
export type ToWorker =
  | { readonly t: 'stats'; readonly id: number }
  | { readonly t: 'msg'; readonly data: unknown }
  | { readonly t: 'shutdown'; readonly timeout: number }
  | { readonly t: 'conn'; readonly fd: number; readonly entry: number };

/** Worker → supervisor. */
export type FromWorker =
  | { readonly t: 'ready' }
  | { readonly t: 'failed'; readonly error: SerializedError }
  | { readonly t: 'stats'; readonly id: number; readonly stats: DangaStats }
  | { readonly t: 'msg'; readonly data: unknown };

/** An Error as it crosses threads with its name, code and stack. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
  readonly code?: string | undefined;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, stack: err.stack, code: typeof code === 'string' ? code : undefined };
  }
  return { name: 'Error', message: `a non-Error was thrown: ${String(err)}` };
}

export function deserializeError(e: SerializedError): Error {
  const Ctor = e.name === 'TypeError' ? TypeError : e.name === 'RangeError' ? RangeError : e.name === 'SyntaxError' ? SyntaxError : Error;
  const err = new Ctor(e.message);
  if (e.name !== err.name) Object.defineProperty(err, 'name', { value: e.name, configurable: true, writable: true });
  if (e.stack !== undefined) err.stack = e.stack;
  if (e.code !== undefined) (err as Error & { code: string }).code = e.code;
  return err;
}
