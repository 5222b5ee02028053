/**
 * What a worker group's setup function receives in each worker thread.
 */
import type { Sock } from '../core/contract.js';
import type { DangaSocket } from '../core/danga-socket.js';
import type { Listener, ListenerOptions } from '../core/listener.js';
import type { WorkerMode } from './protocol.js';

/**
 * Makes the object serving one connection of a worker (see `WorkerContext#serve`); it must return it.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export type ServeFactory = (sock: Sock) => DangaSocket<object>;

/**
 * A worker's view of its group, given to the module's setup function
 * (`export function setup(ctx: WorkerContext)`), which creates the worker's
 * `Listener`s (usually with `serve`) and returns (or resolves); the worker
 * then runs `DangaSocket.eventLoop()` until the group shuts it down.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62): Perlbal and MogileFS ran one loop per process
 */
export interface WorkerContext {
  /** This worker's slot, 0 to `workers - 1` (a respawned or reloaded worker takes over its slot's number). */
  readonly slot: number;
  /** How many slots the group has. */
  readonly workers: number;
  /** How the group shares its listening sockets. */
  readonly mode: WorkerMode;
  /** The group's `data` option (structured-cloned). */
  readonly data: unknown;
  /**
   * Per entry of the group's `listen` option, the listening sockets this
   * worker serves (one, or more in 'reuseport' mode when the group
   * inherited more sockets than it has workers). They are this worker's
   * own dups of the supervisor's sockets: closing them (a `Listener`'s
   * close, the worker's exit) leaves the supervisor's open.
   */
  readonly sockets: readonly (readonly Sock[])[];
  /**
   * Serves the connections of listen entry `index` with `factory`: a
   * `Listener` on each of its sockets (see `sockets`), returned; in
   * 'handoff' mode the connections the supervisor hands this worker (no
   * Listener: `[]`; of the options only `noDelay` applies).
   *
   * @throws RangeError (code `ERR_OUT_OF_RANGE`) for an index with no entry; TypeError (code `ERR_INVALID_ARG_TYPE`) when `factory` is not a function; as the `Listener` constructor.
   */
  serve(index: number, factory: ServeFactory, options?: ListenerOptions): Listener[];
  /**
   * Calls `handler` with each message the supervisor sends (`WorkerGroup#send`, `broadcast`).
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `handler` is not a function.
   */
  onMessage(handler: (msg: unknown) => void): void;
  /**
   * Sends `msg` (structured-cloned) to the supervisor: the group's 'message' event.
   *
   * @throws DataCloneError for a value that cannot be cloned.
   */
  send(msg: unknown): void;
}
