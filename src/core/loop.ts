/**
 * The class side of Danga::Socket: one event loop per process (per worker),
 * holding the installed engine and its driver, the descriptor map, the
 * objects waiting to be closed, pushed-back reads, foreign fds, timers,
 * post-loop callbacks and profiling data.
 *
 * It does not block: each iteration is run by the engine's LoopDriver from
 * inside Node's own loop, so everything else in Node keeps running beside it.
 *
 * The loop knows the objects it serves only through `LoopObject`: the four
 * handlers, `closed`, and two hooks under Symbols, so that the names a
 * subclass picks can never collide with what the loop needs.
 *
 * Its settings (error handler, loop timeout, post-loop callback, profiling)
 * and its running state are private: the class side of DangaSocket sets
 * them through methods. An embedder that runs the loop on an engine of its
 * own (the simulation: `danga-socket/sim`, `DANGA_ENGINE=sim`) goes through
 * the embedding port: `lend()` an engine, driver and clock and give them
 * back, `fail()` the running loop, `endWhen()` a condition holds,
 * `describeFd()` for its trace.
 */
import { POLLERR, POLLHUP, POLLIN, POLLOUT, WAIT_FOREVER } from './constants.js';
import type { Engine, LoopDriver, Transport } from './contract.js';
import { stateError } from './errors.js';
import { type Clock, type Timer, TimerQueue, currentClock, epochSeconds, monotonicMs, setClock } from './timers.js';

/** Hook: the readiness mask of an object whose engine computes readiness itself (0: not ready). */
export const kReadiness = Symbol('danga.readiness');
/**
 * Hook: deliver pushed-back data (fires eventRead). Returns true when the
 * handler made progress (read from the socket, or left less pushed back
 * than it found), so another pass may deliver more.
 */
export const kPushBackStep = Symbol('danga.pushBackStep');
/** Hook: the idle sweep looks at the object at `nowMs` (see Reactor.watchIdle). */
export const kIdleCheck = Symbol('danga.idleCheck');
/** Hook: the error event; the object reads its socket's error once and gives it to eventErr. */
export const kEventErr = Symbol('danga.eventErr');
/** Hook: `obj[kCloseHook](fn)` has `fn` called once when obj closes (a Listener counting its connections). */
export const kCloseHook = Symbol('danga.closeHook');

/** How often the idle sweep runs: an idle timeout fires between its time and this much later. */
export const IDLE_GRANULARITY_MS = 1000;

/** What the loop needs of an object in its descriptor map. */
export interface LoopObject {
  readonly closed: boolean;
  eventRead(): void;
  eventWrite(): void;
  eventErr(): void;
  [kEventErr](): unknown;
  eventHup(): void;
  close(reason?: string): void;
  [kReadiness](): number;
  [kPushBackStep](): boolean;
  [kIdleCheck](nowMs: number): void;
  /** A graceful shutdown began (see Reactor.shutdown). */
  onShutdown(): void;
}

/** Receives an exception thrown by an object's handler, once error isolation is on. */
export type LoopErrorHandler = (err: unknown, obj: LoopObject) => void;

/** The loop's counters (see DangaSocket.stats()). */
export class LoopStats {
  /** Objects registered since the process started. */
  opened = 0;
  /** Connections accepted by Listener objects. */
  accepted = 0;
  /** Bytes read from sockets (not counting pushed-back data read again). */
  bytesIn = 0;
  /** Bytes written to sockets. */
  bytesOut = 0;
  /** Objects closed (or whose socket was stolen). */
  closedTotal = 0;
  /** Closes by reason. */
  readonly closed = new Map<string, number>();

  /** Counts one close. */
  countClose(reason: string): void {
    this.closedTotal++;
    this.closed.set(reason, (this.closed.get(reason) ?? 0) + 1);
  }
}

/**
 * Callback for a foreign fd, given the event mask.
 *
 * @original the code refs of `Danga::Socket->OtherFds(%map)` (called with the event state)
 */
export type OtherFdCallback = (state: number) => void;

/** A post-loop callback as the loop calls it; return a falsy value to end the loop. */
export type LoopCallback = (descriptorMap: Map<number, LoopObject>, otherFds: Map<number, OtherFdCallback>) => unknown;

/**
 * Per-key profiling figures: [user CPU seconds, system CPU seconds, calls].
 *
 * @original what `Danga::Socket->ProfilingData()` returns
 */
export type ProfilingData = Record<string, [number, number, number]>;

/** A closed (or stolen) object waiting for the end of the iteration to leave the map. */
interface PendingClose {
  readonly obj: LoopObject;
  readonly key: number;
  /** Closed then; null when the socket was stolen. */
  readonly transport: Transport | null;
  /** A transport released for STARTTLS that keeps the number reserved; closed then. */
  readonly reserved: Transport | null;
}

type Step = (obj: LoopObject, mask: number) => void;

/**
 * What an embedder lends the loop for a while (a simulation: its engine, the
 * driver that engine's runner drives, and its virtual clock). See
 * Reactor.lend.
 */
export interface LoopLoan {
  readonly engine: Engine;
  readonly driver: LoopDriver;
  readonly clock: Clock;
}

/**
 * Delivers one readiness mask to one object: the only place where events
 * become handler calls (kernel events and computed readiness alike). A
 * handler that closes the object stops the rest, as in the original.
 */
function dispatch(obj: LoopObject, mask: number): unknown {
  // The last handler's return value: only the guarded step (one bit at a
  // time) looks at it, for the promise of an `async` handler.
  let result: unknown;
  if (mask & POLLIN && !obj.closed) result = obj.eventRead();
  if (mask & POLLOUT && !obj.closed) result = obj.eventWrite();
  if (mask & POLLERR && !obj.closed) result = obj[kEventErr]();
  if (mask & POLLHUP && !obj.closed) result = obj.eventHup();
  return result;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== undefined && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

const HANDLER_BITS: ReadonlyArray<readonly [number, string]> = [
  [POLLIN, 'read'],
  [POLLOUT, 'write'],
  [POLLERR, 'err'],
  [POLLHUP, 'hup'],
];

/** The loop's state and its iteration. One instance: `reactor`. */
export class Reactor {
  /** fd -> object. An fd stays here until the end of the iteration in which its object closed. */
  readonly descriptorMap = new Map<number, LoopObject>();
  /** Objects whose pushed-back data is owed to their eventRead (read interest on, not parked). */
  readonly pushBack = new Set<LoopObject>();
  /** Foreign fds watched for readability. */
  readonly otherFds = new Map<number, OtherFdCallback>();
  /** Per-object post-loop callbacks. */
  readonly plcMap = new Map<LoopObject, LoopCallback>();
  /** The timers (DangaSocket.addTimer), on the loop's clock. */
  readonly timers = new TimerQueue();
  /** The counters (DangaSocket.stats()). */
  readonly stats = new LoopStats();
  /** Objects with an idle timeout, looked at by the sweep. */
  readonly idle = new Set<LoopObject>();

  /** Objects whose engine says they may be ready (computed readiness: stream sockets). */
  readonly #softReady = new Set<LoopObject>();
  #pending: PendingClose[] = [];
  #postLoopCallback: LoopCallback | null = null;
  /** An embedder's end condition (endWhen), looked at after the post-loop callback. */
  #endWhen: (() => boolean) | null = null;
  /** fail() was called: the loop ends at the end of the iteration, rejecting with `err`. */
  #failure: { readonly err: unknown } | null = null;
  #loopTimeout = WAIT_FOREVER;
  #doProfile = false;
  #profiling: ProfilingData = {};
  /** Set: exceptions of an object's handlers go here and close that object only. */
  #errorHandler: LoopErrorHandler | null = null;
  /** The loop's coarse clock (ms), read once per iteration while objects have idle timeouts. */
  #now = 0;
  /** stop() was called: the loop ends at the end of the iteration. */
  #stopRequested = false;
  #running = false;
  /** True while the loop's own code runs: wake-ups are then folded into the wait it returns. */
  #inIteration = false;
  #engine: Engine | null = null;
  #driver: LoopDriver | null = null;
  #settle: ((err: unknown) => void) | null = null;
  readonly #iterate = (count: number): number => this.#iterateOnce(count);
  readonly #guardedStep: Step = (obj, mask) => this.#dispatchGuarded(obj, mask);
  #idleTimer: Timer | null = null;
  readonly #sweep = (): void => this.#sweepIdle();
  #shutdown: { done: Promise<void>; resolve: () => void; deadline: Timer | null } | null = null;

  // ---------------------------------------------------------------- settings (the class side's)

  /** True while DangaSocket.eventLoop() runs. */
  get running(): boolean {
    return this.#running;
  }

  /** The closed (or stolen) objects waiting for the end of the iteration (DangaSocket.toClose()). */
  get pending(): readonly PendingClose[] {
    return this.#pending;
  }

  /** The error handler in force; null: error isolation is off. */
  get errorHandler(): LoopErrorHandler | null {
    return this.#errorHandler;
  }

  /** Sets (null: clears) the error handler: an exception of an object's handler goes to it and closes that object only. */
  setErrorHandler(fn: LoopErrorHandler | null): void {
    this.#errorHandler = fn;
  }

  /** Sets (null: clears) the global post-loop callback. */
  setPostLoopCallback(fn: LoopCallback | null): void {
    this.#postLoopCallback = fn;
  }

  /** Sets the loop timeout (ms, or WAIT_FOREVER) and returns it. */
  setLoopTimeout(ms: number): number {
    this.#loopTimeout = ms;
    return ms;
  }

  /** The profiling figures gathered so far. */
  get profiling(): ProfilingData {
    return this.#profiling;
  }

  /** Turns profiling on (each handler call timed), clearing earlier figures. */
  enableProfiling(): void {
    this.#profiling = {};
    this.#doProfile = true;
  }

  /** Turns profiling off, keeping the figures. */
  disableProfiling(): void {
    this.#doProfile = false;
  }

  // ---------------------------------------------------------------- the engine

  /**
   * Installs the engine (once, from the composition root); its driver is
   * created now. With `clock`, the library reads time from it from now on
   * (the ambient simulation's virtual clock).
   */
  install(engine: Engine, clock: Clock | null = null): void {
    if (this.#engine !== null) throw stateError('ERR_DANGA_ENGINE_INSTALLED', `an engine (${this.#engine.name}) is already installed`);
    this.#driver = engine.createDriver();
    this.#engine = engine;
    if (clock !== null) setClock(clock);
  }

  // ---------------------------------------------------------------- the embedding port

  /**
   * Runs the loop on a lent engine, driver and clock (a simulation brings
   * its own network and virtual time) until the returned function is
   * called. That function gives everything back: it resets the loop (the
   * sockets and timers belonged to the lent engine and clock), puts back
   * the error handler, loop timeout, post-loop callback and profiling switch
   * in force before the loan, then the clock, the engine and the driver.
   * Later calls of it do nothing.
   *
   * @throws Error (code `ERR_LOOP_RUNNING`) while the loop runs (the returned function too).
   */
  lend(loan: LoopLoan): () => void {
    if (this.#running) throw stateError('ERR_LOOP_RUNNING', 'the engine cannot change while DangaSocket.eventLoop() runs');
    const saved = {
      engine: this.engine,
      driver: this.driver,
      clock: currentClock(),
      errorHandler: this.#errorHandler,
      loopTimeout: this.#loopTimeout,
      postLoopCallback: this.#postLoopCallback,
      doProfile: this.#doProfile,
    };
    this.#engine = loan.engine;
    this.#driver = loan.driver;
    setClock(loan.clock);
    let lent = true;
    return () => {
      if (!lent) return;
      lent = false;
      this.reset();
      this.#errorHandler = saved.errorHandler;
      this.#loopTimeout = saved.loopTimeout;
      this.#postLoopCallback = saved.postLoopCallback;
      this.#doProfile = saved.doProfile;
      setClock(saved.clock);
      if (this.#running) throw stateError('ERR_LOOP_RUNNING', 'the engine cannot change while DangaSocket.eventLoop() runs');
      this.#engine = saved.engine;
      this.#driver = saved.driver;
    };
  }

  /**
   * Fails the running loop: it ends at the end of the current iteration (at
   * once when it waits), as with stop(), and eventLoop()'s promise rejects
   * with `err` (unless a handler's exception ends that iteration first).
   * For an embedder whose runner finds the loop stuck (a simulation's
   * watchdog). Does nothing while the loop is not running; the first
   * failure of a run is the one reported.
   */
  fail(err: unknown): void {
    if (!this.#running) return;
    this.#failure ??= { err };
    this.stop();
  }

  /**
   * While `done` is set (null clears it), `done()` is looked at in every
   * post-loop phase after the post-loop callback (unless that one ended the
   * loop already): true ends the loop in that iteration, with no further
   * dispatch, as a post-loop callback returning false would (a simulation's
   * `runUntil()`).
   */
  endWhen(done: (() => boolean) | null): void {
    this.#endWhen = done;
  }

  /**
   * What the object under `fd` is and why it closed, for a trace:
   * `'ClassName reason'` (`-` for none); '' when no object with a
   * closeReason() is filed under `fd`.
   */
  describeFd(fd: number): string {
    const obj = this.descriptorMap.get(fd) as { closeReason?: () => string | null; constructor: { name: string } } | undefined;
    if (obj === undefined || typeof obj.closeReason !== 'function') return '';
    return `${obj.constructor.name} ${obj.closeReason() || '-'}`;
  }

  /** The installed engine. */
  get engine(): Engine {
    if (this.#engine === null) throw stateError('ERR_DANGA_NO_ENGINE', 'danga-socket: no engine is installed');
    return this.#engine;
  }

  /** The driver of the installed engine. */
  get driver(): LoopDriver {
    if (this.#driver === null) throw stateError('ERR_DANGA_NO_ENGINE', 'danga-socket: no engine is installed');
    return this.#driver;
  }

  /**
   * The one wake-up: something the loop must look at (a close, pushed-back
   * data, a ready stream, an earlier timer) happened. Inside an iteration
   * the wait it returns already accounts for it; outside (a Node callback,
   * a promise job after an iteration) the driver is asked for an iteration
   * on the next turn of Node's loop.
   */
  requestPass(): void {
    if (this.#running && !this.#inIteration) this.driver.arm(0);
  }

  /** `obj`'s engine says it may be ready: look at it on the next pass. */
  markReady(obj: LoopObject): void {
    if (obj.closed) return;
    this.#softReady.add(obj);
    this.requestPass();
  }

  /** Runs the loop until a post-loop callback returns a falsy value. */
  start(): Promise<void> {
    if (this.#running) {
      return Promise.reject(stateError('ERR_LOOP_RUNNING', 'DangaSocket.eventLoop() is already running'));
    }
    return new Promise<void>((resolve, reject) => {
      const driver = this.driver;
      this.#running = true;
      this.#stopRequested = false;
      this.#settle = (err: unknown) => {
        this.#running = false;
        this.#stopRequested = false;
        this.#failure = null;
        this.#settle = null;
        driver.stop();
        if (err === undefined) resolve();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- exactly what a handler threw
        else reject(err);
      };
      this.#inIteration = true;
      try {
        const timeout = this.#nextWait();
        this.#inIteration = false;
        driver.start(this.#iterate, timeout);
      } catch (err) {
        this.#inIteration = false;
        this.#settle(err);
      }
    });
  }

  /**
   * One iteration, after the wait: dispatch the events, run the post-loop
   * phase, then the due timers; returns the next wait's timeout.
   */
  #iterateOnce(count: number): number {
    const settle = this.#settle;
    if (settle === null) return WAIT_FOREVER;
    this.#inIteration = true;
    try {
      if (this.idle.size > 0) this.#now = monotonicMs();
      // The plain ladder unless profiling or error isolation wants each handler call.
      const step: Step = this.#doProfile || this.#errorHandler !== null ? this.#guardedStep : dispatch;
      if (count > 0) this.#dispatchEvents(this.driver.events, count, step);
      if (this.#softReady.size > 0) this.#dispatchSoftReady(step);
      if (!this.#postEventLoop() || this.#stopRequested) {
        settle(this.#failure === null ? undefined : this.#failure.err);
        return WAIT_FOREVER;
      }
      return this.#nextWait();
    } catch (err) {
      settle(err);
      return WAIT_FOREVER;
    } finally {
      this.#inIteration = false;
    }
  }

  #dispatchEvents(events: Int32Array, count: number, step: Step): void {
    const map = this.descriptorMap;
    for (let i = 0; i < count; i++) {
      const fd = events[2 * i] as number;
      const mask = events[2 * i + 1] as number;
      const obj = map.get(fd);
      if (obj === undefined) this.#foreignEvent(fd, mask);
      else step(obj, mask);
    }
  }

  #foreignEvent(fd: number, mask: number): void {
    const cb = this.otherFds.get(fd);
    if (cb !== undefined) {
      cb(mask);
      return;
    }
    // The original also closed the fd here. In Node the fd may belong to
    // somebody else (Node itself), so it is only taken out of the epoll set.
    process.emitWarning(`epoll returned fd ${fd} with state ${mask} for which there is no mapping; removing it`, {
      code: 'DANGA_UNMAPPED_FD',
    });
    this.driver.watchFd(fd, false);
  }

  #dispatchSoftReady(step: Step): void {
    for (const obj of this.#softReady) {
      const mask = obj.closed ? 0 : obj[kReadiness]();
      if (mask !== 0) step(obj, mask);
      if (obj.closed || obj[kReadiness]() === 0) this.#softReady.delete(obj);
    }
  }

  /**
   * The dispatch one handler at a time, when profiling (each call timed) or
   * error isolation (each call guarded) is on; the ladder itself stays in
   * dispatch().
   */
  #dispatchGuarded(obj: LoopObject, mask: number): void {
    for (const [bit, what] of HANDLER_BITS) {
      if (!(mask & bit) || obj.closed) continue;
      const before = this.#doProfile ? process.cpuUsage() : null;
      try {
        const result = dispatch(obj, bit);
        if (this.#errorHandler !== null && isThenable(result)) this.#watchPromise(obj, result);
      } catch (err) {
        this.#handlerFailed(obj, err);
      } finally {
        if (before !== null) {
          const used = process.cpuUsage(before);
          const entry = (this.#profiling[`${obj.constructor.name}-${what}`] ??= [0, 0, 0]);
          entry[0] += used.user / 1e6;
          entry[1] += used.system / 1e6;
          entry[2]++;
        }
      }
    }
  }

  /**
   * An exception of `obj`'s handler. Without an error handler it propagates
   * (1.62: it ends the loop, rejecting eventLoop()). With one, the handler
   * gets it and the object is closed, unless the handler closed it already:
   * one connection's failure costs only that connection. An error handler
   * that throws ends the loop.
   */
  #handlerFailed(obj: LoopObject, err: unknown): void {
    const handler = this.#errorHandler;
    if (handler === null) throw err;
    handler(err, obj);
    if (!obj.closed) obj.close('exception');
  }

  /** Runs `fn`, one of `obj`'s hooks, under error isolation when it is on. */
  guard(obj: LoopObject, fn: () => void): void {
    if (this.#errorHandler === null) {
      fn();
      return;
    }
    try {
      fn();
    } catch (err) {
      this.#handlerFailed(obj, err);
    }
  }

  /** An `async` handler's promise: its rejection is the object's failure, as a throw would be. */
  #watchPromise(obj: LoopObject, promise: PromiseLike<unknown>): void {
    promise.then(undefined, (err: unknown) => {
      try {
        this.#handlerFailed(obj, err);
      } catch (fatal) {
        if (this.#settle !== null) this.#settle(fatal);
        else throw fatal;
      }
    });
  }

  /**
   * The post-loop phase: pushed-back reads, the deferred closes, then the
   * post-loop callbacks. Returns false when a callback wants the loop to end.
   */
  #postEventLoop(): boolean {
    // Deliver pushed-back data until no handler makes progress. A handler
    // that leaves its pushed-back data as it found it (a partial line kept
    // until the rest arrives) parks it: the object leaves the set and gets
    // it again, joined with what the socket has, on its next read event.
    // (The original re-fired such an object for ever, here.)
    let progress = this.pushBack.size > 0;
    while (progress) {
      progress = false;
      for (const obj of Array.from(this.pushBack)) {
        if (this.#errorHandler === null) {
          if (obj[kPushBackStep]()) progress = true;
        } else {
          try {
            if (obj[kPushBackStep]()) progress = true;
          } catch (err) {
            this.#handlerFailed(obj, err);
          }
        }
      }
    }

    // Now close the sockets that closed during the iteration. Closing them
    // during event processing would let the kernel hand their fd numbers to
    // new sockets while events for the old ones were still in the batch.
    if (this.#pending.length > 0) this.#closePending();
    if (this.#shutdown !== null && this.descriptorMap.size === 0) this.#shutdownDone();

    let keepRunning: unknown = true;
    if (this.plcMap.size > 0) {
      for (const plc of Array.from(this.plcMap.values())) {
        keepRunning = plc(this.descriptorMap, this.otherFds) && keepRunning;
      }
    }
    let own: unknown = true;
    if (this.#postLoopCallback !== null) own = this.#postLoopCallback(this.descriptorMap, this.otherFds);
    if (own && this.#endWhen !== null && this.#endWhen()) own = false;
    return Boolean(own && keepRunning);
  }

  /** Files a closed (or stolen) object for the end of the iteration. */
  deferClose(entry: PendingClose): void {
    this.#pending.push(entry);
    this.pushBack.delete(entry.obj);
    this.plcMap.delete(entry.obj);
    this.#softReady.delete(entry.obj);
    this.unwatchIdle(entry.obj);
    this.requestPass();
  }

  /** Ends the loop at the end of the current iteration (at once when it waits). */
  stop(): void {
    if (!this.#running) return;
    this.#stopRequested = true;
    this.requestPass();
  }

  // ---------------------------------------------------------------- idle timeouts

  /**
   * The time to record as an object's last activity: the iteration's clock
   * inside an iteration (one clock read per iteration, not per read), the
   * real clock outside.
   */
  activityTime(): number {
    return this.#inIteration && this.idle.size > 0 ? this.#now : monotonicMs();
  }

  /**
   * Puts `obj` under the idle sweep: one timer for the whole loop, running
   * every IDLE_GRANULARITY_MS while any object has a timeout, that asks each
   * object whether it has been idle too long. Activity itself costs one
   * store (no timer re-armed per read, as Perlbal and uSockets do it).
   */
  watchIdle(obj: LoopObject): void {
    if (!this.idle.has(obj)) {
      if (this.idle.size === 0) this.#now = monotonicMs();
      this.idle.add(obj);
    }
    if (this.#idleTimer === null) {
      this.#idleTimer = this.timers.add(monotonicMs(), IDLE_GRANULARITY_MS, this.#sweep);
      if (this.timers.isFirst(this.#idleTimer)) this.requestPass();
    }
  }

  /** Takes `obj` from the idle sweep; the sweep stops with its last object. */
  unwatchIdle(obj: LoopObject): void {
    if (!this.idle.delete(obj) || this.idle.size > 0) return;
    this.#idleTimer?.cancel();
    this.#idleTimer = null;
  }

  #sweepIdle(): void {
    this.#idleTimer = null;
    const now = monotonicMs();
    this.#now = now;
    // A Set may lose members while it is iterated (a handler closing its object).
    // No closure per object unless error isolation needs one: with thousands
    // of objects the sweep's garbage, not the checks, was most of its cost.
    if (this.#errorHandler === null) {
      for (const obj of this.idle) obj[kIdleCheck](now);
    } else {
      for (const obj of this.idle) this.guard(obj, () => obj[kIdleCheck](now));
    }
    // An onIdle that (re)armed a timeout has started the next sweep already:
    // starting another would leave two sweeps running, then more.
    if (this.idle.size > 0 && this.#idleTimer === null) this.#idleTimer = this.timers.add(now, IDLE_GRANULARITY_MS, this.#sweep);
  }

  // ---------------------------------------------------------------- graceful shutdown

  /**
   * Graceful shutdown: every object gets its shutdown hook (listeners stop
   * accepting, connections finish what is queued and close); after
   * `timeoutMs` whatever remains is closed. Resolves once the descriptor map
   * is empty, and ends the loop then. Called again while it runs, it returns
   * the same promise. Without a running loop nothing can drain: everything
   * is closed at once (also what a shutdown whose loop ended early, say by
   * a handler's exception, left open: its promise resolves then too).
   */
  shutdown(timeoutMs: number): Promise<void> {
    const pending = this.#shutdown;
    if (pending !== null && this.#running) return pending.done;
    let state = pending;
    if (state === null) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      state = { done, resolve, deadline: null };
      this.#shutdown = state;
    }
    if (!this.#running) {
      this.#forceClose('shutdown');
      if (!this.#inIteration) this.#closePending();
      if (this.descriptorMap.size === 0) this.#shutdownDone();
      return state.done;
    }
    for (const obj of Array.from(this.descriptorMap.values())) {
      if (!obj.closed) this.guard(obj, () => obj.onShutdown());
    }
    state.deadline = this.timers.add(monotonicMs(), timeoutMs, () => this.#forceClose('shutdown_timeout'));
    this.requestPass();
    return state.done;
  }

  #forceClose(reason: string): void {
    for (const obj of Array.from(this.descriptorMap.values())) obj.close(reason);
  }

  #shutdownDone(): void {
    const state = this.#shutdown;
    if (state === null) return;
    this.#shutdown = null;
    state.deadline?.cancel();
    this.stop();
    state.resolve();
  }

  /** Really closes what close() deferred, and lets those fds leave the map. */
  #closePending(): void {
    const list = this.#pending;
    this.#pending = [];
    for (const p of list) {
      p.transport?.close();
      p.reserved?.close();
      // A stolen fd may already be registered again by a new object.
      if (this.descriptorMap.get(p.key) === p.obj) this.descriptorMap.delete(p.key);
    }
  }

  /**
   * Runs due timers and returns the next wait's timeout. When timers ran, or
   * the post-loop phase is owed work (closes, pushed-back data, streams
   * still ready), the wait is 0 (the next turn of Node's loop), so that the
   * post-loop callbacks see what the timers did. (The original waited the
   * full timeout here.)
   */
  #nextWait(): number {
    const timeout = this.#runTimers();
    if (this.timers.fired > 0 || this.#pending.length > 0 || this.pushBack.size > 0 || this.#softReady.size > 0) {
      return 0;
    }
    return timeout;
  }

  /** Runs due timers; returns the timeout for the next wait. */
  #runTimers(): number {
    if (this.timers.isEmpty()) {
      this.timers.fired = 0;
      return this.#loopTimeout;
    }
    const now = monotonicMs();
    const next = this.timers.run(now, epochSeconds(now));
    if (next < 0) return this.#loopTimeout;
    if (this.#loopTimeout === WAIT_FOREVER) return next;
    return this.#loopTimeout < next ? this.#loopTimeout : next;
  }

  /**
   * Stops watching foreign fds that are no longer wanted. An fd now filed
   * under an object belongs to a new socket that reuses the number (its
   * owner closed the foreign fd): its registration is that object's.
   */
  unwatchOtherFd(fd: number): void {
    if (!this.descriptorMap.has(fd)) this.driver.watchFd(fd, false);
  }

  /**
   * Forgets everything (CLASS->Reset), and closes the registered sockets.
   * Inside an iteration their numbers stay reserved (the objects filed)
   * until its end, like any close.
   */
  reset(): void {
    for (const fd of this.otherFds.keys()) this.unwatchOtherFd(fd);
    this.otherFds.clear();
    for (const obj of Array.from(this.descriptorMap.values())) obj.close('reset');
    if (!this.#inIteration) {
      this.#closePending();
      this.descriptorMap.clear();
    }
    this.pushBack.clear();
    this.plcMap.clear();
    this.#softReady.clear();
    this.idle.clear();
    this.#idleTimer = null; // its timer goes with the others below
    this.#loopTimeout = WAIT_FOREVER;
    this.#doProfile = false;
    this.#profiling = {};
    this.timers.clear();
    this.#postLoopCallback = null;
    this.#errorHandler = null;
    // A shutdown under way has nothing left to wait for (inside an
    // iteration, the post-loop phase sees the map empty and settles it).
    if (!this.#inIteration) this.#shutdownDone();
    // A loop that is running goes on, with the fresh state.
  }
}

/** The one loop. */
export const reactor = new Reactor();
