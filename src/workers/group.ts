/**
 * WorkerGroup: one loop per core on the same ports. The supervisor (the
 * thread that made the group) owns the listening sockets and never closes
 * them while the group runs; each worker thread listens on dups of them in
 * its own loop. A worker that dies, or is replaced, leaves the sockets (and
 * the connections waiting in them) to its successor: nginx's model.
 */
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { DangaStats } from '../core/socket-types.js';
import type { SockAddress } from '../core/contract.js';
import { invalidArgType, invalidArgValue, outOfRange, stateError, systemError, validateInteger, validateObject } from '../core/errors.js';
import { DangaSocket } from '../core/danga-socket.js';
import { reactor } from '../core/loop.js';
import { loadBinding, type NativeBinding } from '../engines/epoll/binding.js';
import { CLAIM_TABLE_SIZE, HandoffAcceptor } from './handoff.js';
import { validateHost } from '../socket-args.js';
import { deserializeError, type FromWorker, type ToWorker, type WorkerMode, type WorkerStart } from './protocol.js';

/**
 * Where a group listens: a TCP address the supervisor binds, or listening
 * sockets this process inherited (`inheritedFds()`: systemd socket
 * activation, or a predecessor's `spawnSuccessor`).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export type WorkerListen =
  | {
      /** IP literal or "localhost"; default "::" (IPv4 and IPv6), falling back to "0.0.0.0". */
      readonly host?: string;
      /** 0 picks a free port (the same one for every slot: see `addresses()`). */
      readonly port: number;
      /** Default 511. */
      readonly backlog?: number;
    }
  | {
      /**
       * Listening sockets the process already has. In 'reuseport' mode they
       * are the slots' sockets (more are bound to the same address when
       * there are fewer than workers; with more, a worker serves several);
       * in 'shared' mode, exactly one.
       */
      readonly fds: readonly number[];
    };

/**
 * Options of a WorkerGroup.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface WorkerGroupOptions {
  /** The module each worker imports: a URL (`import.meta.resolve('./server.js')`, `new URL(…)`) or a file path. */
  readonly module: string | URL;
  /** The name of its exported setup function (default 'setup'), called with a `WorkerContext`. */
  readonly setup?: string;
  /** How many workers (default `os.availableParallelism()`), 1 to 1024. */
  readonly workers?: number;
  /** The addresses (or inherited sockets) the group serves, in the order of `WorkerContext#sockets`. */
  readonly listen: readonly WorkerListen[];
  /** How workers share the sockets (default 'reuseport'). */
  readonly mode?: WorkerMode;
  /** The engine of the workers' loops (DANGA_ENGINE in each worker); default: what the process chose. */
  readonly engine?: 'epoll' | 'node';
  /** Given to every worker as `WorkerContext#data` (structured-cloned). */
  readonly data?: unknown;
  /** Each worker thread's resource limits (`worker_threads`): a worker past them dies and is respawned. */
  readonly resourceLimits?: ResourceLimits;
  /**
   * Seconds before respawning a worker that failed fast (died in its setup,
   * or within `stableAfter` of its start); it doubles with each such death
   * in a row, up to 30 s. Default 0.1. A worker that had run longer is
   * replaced at once.
   */
  readonly respawnDelay?: number;
  /**
   * Seconds a worker must have run after its start for its death to count as
   * a crash of a working worker, replaced at once (default 1). Dying sooner
   * (or in its setup) counts as failing fast, and delays the respawn.
   */
  readonly stableAfter?: number;
  /** Seconds a worker retired by `reload()` has to drain before it is stopped (default 30). */
  readonly drainTimeout?: number;
}

/**
 * A worker's end, as the group's 'exit' event reports it.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface WorkerExit {
  /** The slot it served. */
  readonly slot: number;
  /** Its `threadId`. */
  readonly threadId: number;
  /** Its exit code. */
  readonly code: number;
  /** The uncaught exception (or setup failure) that ended it, if any. */
  readonly error: Error | null;
  /** True when the group ended it (reload, shutdown); false for a crash. */
  readonly expected: boolean;
  /** Seconds until its slot's respawn (a crash while the group runs); null when none follows. */
  readonly respawnIn: number | null;
}

/**
 * The group's counters: each worker's `DangaSocket.stats()`, and their sum.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface WorkerGroupStats {
  /** The sum over the workers that answered. */
  readonly total: DangaStats;
  /** Per worker, by slot. */
  readonly workers: readonly WorkerStats[];
}

/**
 * One worker's counters, in `WorkerGroupStats`.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface WorkerStats {
  /** Its slot. */
  readonly slot: number;
  /** Its `threadId`. */
  readonly threadId: number;
  /** Its `DangaSocket.stats()`. */
  readonly stats: DangaStats;
}

/**
 * What `WorkerGroup#shutdown` takes.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface WorkerGroupShutdownOptions {
  /** Seconds each worker's connections have to finish (its `DangaSocket.shutdown({ timeout })`); default 30. */
  readonly timeout?: number;
}

/** Most workers in a group. */
const MAX_WORKERS = 1024;
const MAX_RESPAWN_DELAY_S = 30;
/** Extra time (ms) a retired worker gets past its drain timeout before it is terminated. */
const TERMINATE_GRACE_MS = 5000;

type Role = 'current' | 'candidate' | 'retiring';

/** One worker thread. */
class Live {
  readonly worker: Worker;
  /** (worker.threadId turns -1 once it exited.) */
  readonly threadId: number;
  readonly slot: Slot;
  role: Role;
  ready = false;
  readonly startedAt = Date.now();
  error: Error | null = null;
  readonly whenReady: Promise<void>;
  readonly whenExited: Promise<number>;
  readonly pending = new Map<number, (s: DangaStats | null) => void>();
  /** 'handoff': its id in the claim table, its open-connection counter, and the fds handed to it (fd → listen entry). */
  readonly id: number;
  readonly load: Int32Array;
  readonly handed = new Map<number, number>();
  #ready!: () => void;
  #fail!: (err: Error) => void;
  #exited!: (code: number) => void;
  killTimer: NodeJS.Timeout | null = null;

  constructor(worker: Worker, slot: Slot, role: Role, id: number, load: Int32Array) {
    this.id = id;
    this.load = load;
    this.worker = worker;
    this.threadId = worker.threadId;
    this.slot = slot;
    this.role = role;
    this.whenReady = new Promise<void>((resolve, reject) => {
      this.#ready = resolve;
      this.#fail = reject;
    });
    this.whenReady.catch(() => {}); // (observed by whoever awaits it)
    this.whenExited = new Promise<number>((resolve) => (this.#exited = resolve));
  }

  markReady(): void {
    this.ready = true;
    this.#ready();
  }

  exited(code: number): void {
    if (this.killTimer !== null) clearTimeout(this.killTimer);
    for (const answer of this.pending.values()) answer(null);
    this.pending.clear();
    if (!this.ready) this.#fail(this.error ?? new Error(`the worker of slot ${this.slot.index} exited with code ${code} before it was ready`));
    this.#exited(code);
  }
}

/** One slot: the sockets its worker serves, and the worker serving them now. */
interface Slot {
  readonly index: number;
  /** Per listen entry, the supervisor's fds of this slot. */
  readonly fds: readonly (readonly number[])[];
  current: Live | null;
  /** Fast deaths in a row. */
  failures: number;
  respawn: NodeJS.Timeout | null;
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * A group of worker threads, each running its own loop on the same
 * listening sockets. Make it, `await start()`, and it serves until
 * `shutdown()`:
 *
 * ```ts
 * const group = new WorkerGroup({ module: import.meta.resolve('./server.js'), listen: [{ port: 8080 }] });
 * await group.start();
 * process.once('SIGTERM', () => void group.shutdown({ timeout: 10 }));
 * ```
 *
 * and in server.js, `export function setup(ctx) { ctx.serve(0, (sock) => new MyConnection(sock)); }`.
 *
 * A worker that dies (an uncaught exception, `process.exit()`, its isolate
 * out of memory) is replaced on its slot; the connections it had not
 * accepted wait in the kernel for its successor. `reload()` replaces the
 * workers one slot at a time, each new worker listening before the old one
 * stops accepting and drains. Events: 'ready' (`{ slot, threadId }`),
 * 'exit' (`WorkerExit`), 'message' (`(msg, slot)`), and in 'handoff' mode
 * 'error' when the main thread's loop that the group started ends with an
 * exception (without a listener: a `DANGA_HANDOFF_FAILED` warning).
 *
 * Needs the native addon (Linux), whose dup(2) lets each worker hold the
 * supervisor's sockets; the workers themselves may run either engine.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62): PublicInbox::DS's master, nginx's master process
 */
export class WorkerGroup extends EventEmitter {
  readonly #moduleUrl: string;
  readonly #setup: string;
  readonly #size: number;
  readonly #listen: readonly WorkerListen[];
  readonly #mode: WorkerMode;
  readonly #engine: 'epoll' | 'node' | undefined;
  readonly #data: unknown;
  readonly #limits: ResourceLimits | undefined;
  readonly #respawnDelay: number;
  readonly #drainTimeout: number;
  readonly #stableMs: number;
  #state: State = 'new';
  #slots: Slot[] = [];
  /** Every fd the supervisor holds (bound or inherited), closed at the end. */
  #fds: number[] = [];
  #reloading = false;
  #statsId = 0;
  #stopped: Promise<void> | null = null;
  #b: NativeBinding | null = null;
  /** 'handoff': the claim table (fd → id of the worker it is on its way to), the acceptors, connections waiting for a worker. */
  #table: Int32Array | null = null;
  #acceptors: HandoffAcceptor[] = [];
  #orphans: { fd: number; entry: number }[] = [];
  #nextId = 0;
  /** The start under way (or done). */
  #starting: Promise<void> | null = null;
  /** The main thread's loop, when the group started it ('handoff'). */
  #ownLoop: Promise<void> | null = null;

  /**
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) / RangeError (code `ERR_OUT_OF_RANGE`) / TypeError (code `ERR_INVALID_ARG_VALUE`) for bad options (a worker count that is not an integer from 1 to 1024, an unknown mode, an empty `listen`, …).
   */
  constructor(options: WorkerGroupOptions) {
    super();
    validateObject('options', options);
    this.#moduleUrl = moduleUrl(options.module);
    const setup = options.setup ?? 'setup';
    if (typeof setup !== 'string' || setup === '') throw invalidArgType('options.setup', 'a non-empty string', setup);
    this.#setup = setup;
    const workers = options.workers ?? availableParallelism();
    if (typeof workers !== 'number') throw invalidArgType('options.workers', 'of type number', workers);
    this.#size = validateInteger('options.workers', workers, 1, MAX_WORKERS);
    const mode = options.mode ?? 'reuseport';
    if (mode !== 'reuseport' && mode !== 'shared' && mode !== 'handoff') {
      throw invalidArgValue('options.mode', `must be 'reuseport', 'shared' or 'handoff'. Received ${JSON.stringify(mode)}`);
    }
    this.#mode = mode;
    if (options.engine !== undefined && options.engine !== 'epoll' && options.engine !== 'node') {
      throw invalidArgValue('options.engine', `must be 'epoll' or 'node'. Received ${JSON.stringify(options.engine)}`);
    }
    this.#engine = options.engine;
    if (!Array.isArray(options.listen)) throw invalidArgType('options.listen', 'an array', options.listen);
    if (options.listen.length === 0) throw invalidArgValue('options.listen', 'must name at least one address');
    this.#listen = options.listen.map((entry, i) => validateListen(`options.listen[${i}]`, entry, mode));
    this.#data = options.data;
    this.#limits = options.resourceLimits;
    this.#respawnDelay = seconds('options.respawnDelay', options.respawnDelay, 0.1);
    this.#drainTimeout = seconds('options.drainTimeout', options.drainTimeout, 30);
    this.#stableMs = seconds('options.stableAfter', options.stableAfter, 1) * 1000;
  }

  /** How many slots (workers) the group has. */
  get size(): number {
    return this.#size;
  }

  /** The threadId of each slot's current worker (-1 while a slot waits for its respawn). */
  threadIds(): number[] {
    return this.#slots.map((s) => (s.current?.ready ? s.current.threadId : -1));
  }

  /**
   * Binds (or takes over) the listening sockets, starts every worker and
   * resolves once all of them are ready. When one fails (its module cannot
   * be loaded, lacks the setup export, or the setup throws) it rejects with
   * that error, and nothing is left running or listening.
   *
   * @throws (rejects) the first worker's error; a system error (`EADDRINUSE`, …) when a socket cannot be bound; Error `ERR_DANGA_NO_EPOLL` without the native addon; Error `ERR_DANGA_GROUP_STARTED` on a second call.
   */
  start(): Promise<void> {
    if (this.#state !== 'new') return Promise.reject(stateError('ERR_DANGA_GROUP_STARTED', 'this WorkerGroup was started already'));
    this.#state = 'starting';
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    try {
      if (this.#mode === 'handoff' && reactor.engine.name !== 'epoll') {
        throw stateError('ERR_DANGA_NO_EPOLL', "'handoff' mode accepts in the main thread's loop, which must run on the epoll engine");
      }
      this.#bind();
      const lives = this.#slots.map((slot) => (slot.current = this.#spawn(slot, 'current')));
      const results = await Promise.allSettled(lives.map((l) => l.whenReady));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    } catch (err) {
      this.#state = 'stopping';
      await Promise.all(this.#slots.flatMap((s) => (s.current === null ? [] : [s.current.worker.terminate()])));
      this.#closeFds();
      this.#state = 'stopped';
      throw err;
    }
    this.#state = 'running';
    if (this.#mode === 'handoff') this.#startAccepting();
    for (const s of this.#slots) this.emit('ready', { slot: s.index, threadId: s.current!.threadId });
  }

  /** 'handoff': an acceptor per listen entry in the main thread's loop (started here if it is not running). */
  #startAccepting(): void {
    const b = this.#binding();
    this.#table ??= new Int32Array(new SharedArrayBuffer(4 * CLAIM_TABLE_SIZE));
    this.#acceptors = this.#slots[0]!.fds.map((entry, i) => {
      const dup = b.dup(entry[0]!);
      if (dup < 0) throw systemError(dup, 'dup');
      return new HandoffAcceptor(reactor.engine.listenFd(dup, false), b, CLAIM_TABLE_SIZE, i, (fd, e) => this.#handTo(fd, e));
    });
    if (!reactor.running) {
      this.#ownLoop = DangaSocket.eventLoop();
      // (A handler's exception ends the loop, as in 1.62: the 'error' event, else a warning rather than a crash.)
      this.#ownLoop.catch((err: unknown) => {
        if (this.listenerCount('error') > 0) this.emit('error', err);
        else process.emitWarning(`the WorkerGroup's accept loop ended: ${String(err)}`, { code: 'DANGA_HANDOFF_FAILED' });
      });
    }
  }

  /** 'handoff': gives `fd` to the less loaded of two ready workers picked at random, or keeps it until one is ready. */
  #handTo(fd: number, entry: number): void {
    const ready: Live[] = [];
    for (const s of this.#slots) if (s.current?.ready) ready.push(s.current);
    if (ready.length === 0 || this.#table === null) {
      this.#orphans.push({ fd, entry });
      return;
    }
    let pick = ready[Math.floor(Math.random() * ready.length)]!;
    if (ready.length > 1) {
      const other = ready[Math.floor(Math.random() * ready.length)]!;
      if (Atomics.load(other.load, 0) < Atomics.load(pick.load, 0)) pick = other;
    }
    const table = this.#table;
    Atomics.store(table, fd, pick.id);
    const handed = pick.handed;
    if (handed.size >= 4096) for (const k of handed.keys()) if (Atomics.load(table, k) !== pick.id) handed.delete(k);
    handed.set(fd, entry);
    // Counted now, not when the worker adopts it: a burst then spreads by what each worker was given.
    Atomics.add(pick.load, 0, 1);
    this.#post(pick, { t: 'conn', fd, entry });
  }

  /** 'handoff': what was on its way to a worker that is gone and that it never claimed goes to another. */
  #reclaim(live: Live): void {
    const table = this.#table;
    if (table === null) return;
    for (const [fd, entry] of live.handed) {
      if (Atomics.compareExchange(table, fd, live.id, 0) === live.id) this.#orphans.push({ fd, entry });
    }
    live.handed.clear();
    this.#flushOrphans();
  }

  #flushOrphans(): void {
    if (this.#orphans.length === 0 || this.#state !== 'running') return;
    if (!this.#slots.some((s) => s.current?.ready)) return;
    for (const { fd, entry } of this.#orphans.splice(0)) this.#handTo(fd, entry);
  }

  /**
   * The address of each listen entry (the port picked for `port: 0`).
   *
   * @throws Error `ERR_DANGA_GROUP_STOPPED` before `start()` or after `shutdown()`.
   */
  addresses(): SockAddress[] {
    const b = this.#binding();
    if (this.#slots.length === 0 || this.#state === 'stopped')
      throw stateError('ERR_DANGA_GROUP_STOPPED', 'the group has no sockets (not started, or shut down)');
    return this.#slots[0]!.fds.map((entry) => {
      const r = b.getsockname(entry[0]!);
      if (typeof r === 'number') throw systemError(r, 'getsockname');
      return r;
    });
  }

  /**
   * The supervisor's listening fds, per listen entry (the slots' sockets in
   * 'reuseport' mode): what a successor process inherits (`spawnSuccessor`).
   *
   * @throws Error `ERR_DANGA_GROUP_STOPPED` before `start()` or after `shutdown()`.
   */
  listenFds(): number[][] {
    if (this.#slots.length === 0 || this.#state === 'stopped')
      throw stateError('ERR_DANGA_GROUP_STOPPED', 'the group has no sockets (not started, or shut down)');
    return this.#listen.map((_, i) => [...new Set(this.#slots.flatMap((s) => s.fds[i]!))]);
  }

  /**
   * Each worker's `DangaSocket.stats()` and their sum (workers that exit meanwhile are left out).
   *
   * @throws Nothing (resolves with what the workers answered).
   */
  async stats(): Promise<WorkerGroupStats> {
    const asks = this.#slots.flatMap((s) => {
      const live = s.current;
      if (live === null || !live.ready) return [];
      const id = ++this.#statsId;
      const answer = new Promise<DangaStats | null>((resolve) => live.pending.set(id, resolve));
      this.#post(live, { t: 'stats', id });
      return [answer.then((stats) => (stats === null ? null : { slot: s.index, threadId: live.threadId, stats }))];
    });
    const workers = (await Promise.all(asks)).filter((w) => w !== null);
    return { total: sumStats(workers.map((w) => w.stats)), workers };
  }

  /**
   * Sends `msg` (structured-cloned) to the current worker of `slot` (its `WorkerContext#onMessage` handlers).
   *
   * @returns false when the slot has no running worker now.
   * @throws RangeError (code `ERR_OUT_OF_RANGE`) for a slot outside 0 to size - 1; DataCloneError for a value that cannot be cloned.
   */
  send(slot: number, msg: unknown): boolean {
    validateInteger('slot', slot, 0, this.#size - 1);
    const live = this.#slots[slot]?.current ?? null;
    if (live === null || !live.ready) return false;
    this.#post(live, { t: 'msg', data: msg });
    return true;
  }

  /**
   * Sends `msg` to every running worker; returns how many it reached.
   *
   * @throws DataCloneError for a value that cannot be cloned.
   */
  broadcast(msg: unknown): number {
    let n = 0;
    for (const s of this.#slots) if (s.current?.ready && this.#post(s.current, { t: 'msg', data: msg })) n++;
    return n;
  }

  /**
   * Replaces every worker, one slot at a time: the new worker (importing
   * the module afresh) listens on the slot's sockets, then the old one
   * stops accepting and drains (`drainTimeout`). Nothing waiting in the
   * kernel is refused or reset. Resolves once every old worker has exited.
   * When a new worker fails to start, the reload stops there (the old
   * worker keeps its slot) and rejects with that worker's error.
   *
   * @throws (rejects) Error `ERR_DANGA_RELOAD_RUNNING` while another reload runs; Error `ERR_DANGA_GROUP_STOPPED` when the group is not running; a new worker's error.
   */
  async reload(): Promise<void> {
    if (this.#state !== 'running') throw stateError('ERR_DANGA_GROUP_STOPPED', 'reload() needs a running group');
    if (this.#reloading) throw stateError('ERR_DANGA_RELOAD_RUNNING', 'a reload is running already');
    this.#reloading = true;
    const drains: Promise<number>[] = [];
    try {
      for (const slot of this.#slots) {
        if (this.#state !== 'running') throw stateError('ERR_DANGA_GROUP_STOPPED', 'the group was shut down during the reload');
        const next = this.#spawn(slot, 'candidate');
        try {
          await next.whenReady;
        } catch (err) {
          throw err instanceof Error ? err : new Error(String(err));
        }
        if (this.#state !== 'running') {
          drains.push(this.#retire(next, this.#drainTimeout));
          throw stateError('ERR_DANGA_GROUP_STOPPED', 'the group was shut down during the reload');
        }
        const old = slot.current;
        next.role = 'current';
        slot.current = next;
        slot.failures = 0;
        if (slot.respawn !== null) {
          clearTimeout(slot.respawn);
          slot.respawn = null;
        }
        this.emit('ready', { slot: slot.index, threadId: next.threadId });
        this.#flushOrphans();
        if (old !== null) drains.push(this.#retire(old, this.#drainTimeout));
      }
    } finally {
      this.#reloading = false;
      await Promise.all(drains);
    }
  }

  /**
   * Graceful shutdown: every worker runs `DangaSocket.shutdown({ timeout })`
   * (stops accepting, lets its connections finish, closes the rest at the
   * deadline) and exits; then the supervisor closes the listening sockets.
   * A worker still running 5 s past the deadline is terminated. Calling it
   * again returns the same promise.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) / RangeError (code `ERR_OUT_OF_RANGE`) for a bad timeout.
   */
  shutdown(options: WorkerGroupShutdownOptions = {}): Promise<void> {
    validateObject('options', options);
    const timeout = seconds('options.timeout', options.timeout, 30);
    if (this.#stopped !== null) return this.#stopped;
    this.#stopped = this.#stop(timeout);
    return this.#stopped;
  }

  async #stop(timeout: number): Promise<void> {
    if (this.#state === 'starting') {
      // Let the start settle first (it cleans up itself when it fails).
      await this.#starting?.catch(() => {});
    }
    if (this.#state === 'stopped' || this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    // 'handoff': stop accepting first (what waits stays in the kernel's queue, closed with the socket below).
    const own = this.#ownLoop !== null && DangaSocket.descriptorMap().size === this.#acceptors.length;
    for (const a of this.#acceptors) a.close('shutdown');
    this.#acceptors = [];
    if (own) DangaSocket.stop();
    const exits: Promise<number>[] = [];
    for (const s of this.#slots) {
      if (s.respawn !== null) clearTimeout(s.respawn);
      s.respawn = null;
    }
    for (const live of this.#lives) exits.push(live.role === 'retiring' ? live.whenExited : this.#retire(live, timeout));
    await Promise.all(exits);
    const b = this.#b;
    for (const { fd } of this.#orphans.splice(0)) b?.close(fd);
    this.#closeFds();
    this.#state = 'stopped';
  }

  /** Every worker thread alive now (current, candidates, retiring). */
  #lives = new Set<Live>();

  #binding(): NativeBinding {
    this.#b ??= loadBinding();
    if (this.#b === null) throw stateError('ERR_DANGA_NO_EPOLL', 'a WorkerGroup needs the native addon (Linux) to share listening sockets between its workers');
    return this.#b;
  }

  /** Makes the slots and their sockets. */
  #bind(): void {
    const b = this.#binding();
    const perEntry: number[][][] = []; // [entry][slot] -> fds
    for (const entry of this.#listen) {
      if ('fds' in entry) {
        for (const fd of entry.fds) {
          const rc = b.adopt(fd);
          if (rc < 0) throw systemError(rc, 'fcntl', `fd ${fd}`);
          this.#fds.push(fd);
        }
      }
      perEntry.push(this.#socketsFor(b, entry));
    }
    for (let i = 0; i < this.#size; i++) {
      this.#slots.push({ index: i, fds: perEntry.map((e) => e[i]!), current: null, failures: 0, respawn: null });
    }
  }

  /** The fds of each slot for one listen entry. */
  #socketsFor(b: NativeBinding, entry: WorkerListen): number[][] {
    const n = this.#size;
    if (this.#mode !== 'reuseport') {
      const fd = 'fds' in entry ? entry.fds[0]! : this.#listenTcp(b, entry.host, entry.port, entry.backlog ?? 511, false);
      return Array.from({ length: n }, () => [fd]);
    }
    const fds = 'fds' in entry ? [...entry.fds] : [];
    let host: string | undefined;
    let port: number;
    let backlog = 511;
    if ('fds' in entry) {
      const addr = b.getsockname(fds[0]!);
      if (typeof addr === 'number' || addr.family === 'unix') throw invalidArgValue('options.listen', `has fd ${fds[0]}, which is not a TCP socket`);
      host = addr.address;
      port = addr.port;
    } else {
      host = entry.host;
      port = entry.port;
      backlog = entry.backlog ?? 511;
    }
    while (fds.length < n) {
      const fd = this.#listenTcp(b, host, port, backlog, true);
      if (port === 0) {
        const addr = b.getsockname(fd);
        if (typeof addr !== 'number' && addr.family !== 'unix') {
          port = addr.port;
          host = addr.address;
        }
      }
      fds.push(fd);
    }
    // Slot i serves sockets i, i + n, i + 2n, …: every socket has a worker.
    return Array.from({ length: n }, (_, i) => fds.filter((_, k) => k % n === i));
  }

  #listenTcp(b: NativeBinding, host: string | undefined, port: number, backlog: number, reusePort: boolean): number {
    const bind = (h: string): number => {
      const r = b.listenTcp(h, port, backlog, reusePort);
      if (typeof r !== 'number') throw systemError(r.errno, r.syscall, { address: h, port });
      return r;
    };
    let fd: number;
    if (host !== undefined) fd = bind(validateHost('options.listen[].host', host));
    else {
      try {
        fd = bind('::');
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
        fd = bind('0.0.0.0');
      }
    }
    this.#fds.push(fd);
    return fd;
  }

  #closeFds(): void {
    const b = this.#b;
    if (b !== null) for (const fd of this.#fds) b.close(fd);
    this.#fds = [];
  }

  #spawn(slot: Slot, role: Role): Live {
    const id = ++this.#nextId;
    const load = new Int32Array(new SharedArrayBuffer(4));
    if (this.#mode === 'handoff') this.#table ??= new Int32Array(new SharedArrayBuffer(4 * CLAIM_TABLE_SIZE));
    const start: WorkerStart = {
      module: this.#moduleUrl,
      setup: this.#setup,
      slot: slot.index,
      workers: this.#size,
      mode: this.#mode,
      fds: slot.fds,
      data: this.#data,
      handoff: this.#table === null ? null : { id, table: this.#table, load },
    };
    const worker = new Worker(new URL('./worker-main.js', import.meta.url), {
      workerData: start,
      env: this.#engine === undefined ? process.env : { ...process.env, DANGA_ENGINE: this.#engine },
      ...(this.#limits === undefined ? {} : { resourceLimits: this.#limits }),
    });
    const live = new Live(worker, slot, role, id, load);
    this.#lives.add(live);
    worker.on('message', (m: FromWorker) => this.#onMessage(live, m));
    worker.on('error', (err) => {
      live.error ??= err;
    });
    worker.on('exit', (code) => this.#onExit(live, code));
    return live;
  }

  #onMessage(live: Live, m: FromWorker): void {
    switch (m.t) {
      case 'ready':
        live.markReady();
        break;
      case 'failed':
        live.error = deserializeError(m.error);
        break;
      case 'stats': {
        const answer = live.pending.get(m.id);
        live.pending.delete(m.id);
        answer?.(m.stats);
        break;
      }
      case 'msg':
        this.emit('message', m.data, live.slot.index);
        break;
    }
  }

  #onExit(live: Live, code: number): void {
    this.#lives.delete(live);
    const slot = live.slot;
    const crashed = live.role === 'current' && slot.current === live;
    let respawnIn: number | null = null;
    if (crashed) {
      slot.current = null;
      if (this.#state === 'running') {
        const fast = !live.ready || Date.now() - live.startedAt < this.#stableMs;
        slot.failures = fast ? slot.failures + 1 : 0;
        respawnIn = slot.failures === 0 ? 0 : Math.min(this.#respawnDelay * 2 ** (slot.failures - 1), MAX_RESPAWN_DELAY_S);
        this.#scheduleRespawn(slot, respawnIn);
      }
    }
    live.exited(code);
    // (After its slot forgot it: what it never claimed must not go back to it.)
    this.#reclaim(live);
    if (this.#state === 'starting' && !live.ready) return; // start() reports it
    const info: WorkerExit = { slot: slot.index, threadId: live.threadId, code, error: live.error, expected: !crashed, respawnIn };
    this.emit('exit', info);
  }

  #scheduleRespawn(slot: Slot, delayS: number): void {
    const run = (): void => {
      slot.respawn = null;
      if (this.#state !== 'running' || slot.current !== null) return;
      const live = (slot.current = this.#spawn(slot, 'current'));
      live.whenReady.then(
        () => {
          if (slot.current !== live) return;
          this.emit('ready', { slot: slot.index, threadId: live.threadId });
          this.#flushOrphans();
        },
        () => {}, // its exit reports it, and schedules the next try
      );
    };
    if (delayS === 0) run();
    else slot.respawn = setTimeout(run, delayS * 1000);
  }

  /** Asks a worker to shut down gracefully; terminates it if it is still there well past the deadline. */
  #retire(live: Live, timeoutS: number): Promise<number> {
    live.role = 'retiring';
    if (!live.ready) {
      void live.worker.terminate();
      return live.whenExited;
    }
    this.#post(live, { t: 'shutdown', timeout: timeoutS });
    live.killTimer = setTimeout(() => void live.worker.terminate(), timeoutS * 1000 + TERMINATE_GRACE_MS);
    return live.whenExited;
  }

  #post(live: Live, m: ToWorker): boolean {
    try {
      live.worker.postMessage(m);
      return true;
    } catch (err) {
      if ((err as { name?: string }).name === 'DataCloneError') throw err;
      return false; // (the thread is ending)
    }
  }
}

function moduleUrl(module: unknown): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== 'string' || module === '') throw invalidArgType('options.module', 'a URL or a non-empty string', module);
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) return module;
  return pathToFileURL(resolvePath(module)).href;
}

function seconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!(value >= 0 && value <= 0x7fffffff / 1000)) throw outOfRange(name, 'a number of seconds >= 0', value);
  return value;
}

function validateListen(name: string, entry: unknown, mode: WorkerMode): WorkerListen {
  validateObject(name, entry);
  const e = entry as Record<string, unknown>;
  if ('fds' in e) {
    if (!Array.isArray(e.fds) || e.fds.length === 0) throw invalidArgType(`${name}.fds`, 'a non-empty array of fds', e.fds);
    const fds = e.fds.map((fd, i) => validateInteger(`${name}.fds[${i}]`, fd, 0, 0x7fffffff));
    if (mode !== 'reuseport' && fds.length !== 1) throw invalidArgValue(`${name}.fds`, `must hold exactly one fd in '${mode}' mode`);
    return { fds };
  }
  const port = validateInteger(`${name}.port`, e.port, 0, 65535);
  const backlog = e.backlog === undefined ? undefined : validateInteger(`${name}.backlog`, e.backlog, 0, 0x7fffffff);
  const host = e.host === undefined ? undefined : validateHost(`${name}.host`, e.host);
  return { port, ...(host === undefined ? {} : { host }), ...(backlog === undefined ? {} : { backlog }) };
}

function sumStats(all: readonly DangaStats[]): DangaStats {
  const closed: Record<string, number> = {};
  let open = 0;
  let opened = 0;
  let accepted = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  for (const s of all) {
    open += s.open;
    opened += s.opened;
    accepted += s.accepted;
    bytesIn += s.bytesIn;
    bytesOut += s.bytesOut;
    for (const [k, v] of Object.entries(s.closed)) closed[k] = (closed[k] ?? 0) + v;
  }
  return { open, opened, accepted, bytesIn, bytesOut, closed };
}
