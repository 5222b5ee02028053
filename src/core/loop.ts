/**
 * The class side of Danga::Socket: one event loop per process (per worker),
 * holding the descriptor map, the objects waiting to be closed, pushed-back
 * reads, foreign fds, timers, post-loop callbacks and profiling data.
 *
 * It does not block: each iteration is run by a LoopDriver from inside Node's
 * own loop, so everything else in Node keeps running beside it.
 */
import { POLLERR, POLLHUP, POLLIN, POLLOUT, LOOP_STOP } from './constants.js';
import { TimerQueue, epochSeconds, monotonicMs } from './timers.js';
import type { LoopDriver, Transport } from './transport.js';
import type { DangaSocket as DangaSocketClass } from './danga-socket.js';

type DangaSocket = DangaSocketClass<object>;

/** Post-loop callback: return a falsy value to end `eventLoop()`. */
export type PostLoopCallback = (
  descriptorMap: Map<number, DangaSocket>,
  otherFds: Map<number, OtherFdCallback>,
) => unknown;

/** Callback for a foreign fd, given the event mask. */
export type OtherFdCallback = (state: number) => void;

/** Per-key profiling figures: [user CPU seconds, system CPU seconds, calls]. */
export type ProfilingData = Record<string, [number, number, number]>;

/** A socket waiting for the end of the iteration to be closed (or, when stolen, to leave the map). */
interface Pending {
  obj: DangaSocket;
  fd: number;
  transport: Transport | null; // null: stolen, only the map entry goes
}

/** Provides the driver when the loop first needs it (set by the engine selection). */
let driverFactory: (() => LoopDriver) | null = null;

/** @internal Installs the function that creates the loop driver. */
export function setDriverFactory(factory: () => LoopDriver): void {
  driverFactory = factory;
}

/** The loop's state and its iteration. One instance: `reactor`. */
export class Reactor {
  /** fd -> object. An fd stays here until the end of the iteration in which it closed. */
  readonly descriptorMap = new Map<number, DangaSocket>();
  /** fd -> object, for objects with pushed-back read data. */
  readonly pushBackSet = new Map<number, DangaSocket>();
  /** Foreign fds watched for readability. */
  readonly otherFds = new Map<number, OtherFdCallback>();
  /** Per-object post-loop callbacks, by fd. */
  readonly plcMap = new Map<number, PostLoopCallback>();
  /** Objects ready by engine state rather than kernel readiness (stream sockets). */
  readonly softReady = new Set<DangaSocket>();
  pending: Pending[] = [];
  postLoopCallback: PostLoopCallback | null = null;
  loopTimeout = -1;
  doProfile = false;
  profiling: ProfilingData = {};
  readonly timers = new TimerQueue();

  running = false;
  inIteration = false;
  private driverInstance: LoopDriver | null = null;
  private settle: ((err: unknown) => void) | null = null;
  private readonly iterateFn = (count: number): number => this.iterate(count);

  /** The driver, created on first use. */
  driver(): LoopDriver {
    if (this.driverInstance === null) {
      if (driverFactory === null) throw new Error('danga-socket: no engine is loaded');
      this.driverInstance = driverFactory();
    }
    return this.driverInstance;
  }

  /** True when the driver exists (so foreign fds are registered with it). */
  hasDriver(): boolean {
    return this.driverInstance !== null;
  }

  /**
   * Asks for an iteration soon. Used when something that the post-loop phase
   * handles (a deferred close, pushed-back data, a ready stream) happens
   * outside an iteration, e.g. in a Node callback between two iterations: the
   * original would wait for the next kernel event, which may never come.
   */
  requestPass(): void {
    if (this.running && !this.inIteration) this.driverInstance?.arm(0);
  }

  /** Runs the loop until a post-loop callback returns a falsy value. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.running = true;
      this.settle = (err: unknown) => {
        this.running = false;
        this.settle = null;
        this.driverInstance?.stop();
        if (err === undefined) resolve();
        else reject(err);
      };
      let timeout: number;
      try {
        const driver = this.driver();
        this.inIteration = true;
        timeout = this.runTimersForWait();
        this.inIteration = false;
        driver.start(this.iterateFn, timeout);
      } catch (err) {
        this.inIteration = false;
        this.settle(err);
      }
    });
  }

  /**
   * One iteration, after the wait: dispatch the events, run the post-loop
   * phase, then the due timers; returns the next wait's timeout.
   */
  iterate(count: number): number {
    const settle = this.settle;
    if (settle === null) return LOOP_STOP;
    this.inIteration = true;
    try {
      if (count > 0) this.dispatchEvents(this.driverInstance!.events, count);
      if (this.softReady.size > 0) this.dispatchSoftReady();
      if (!this.postEventLoop()) {
        this.inIteration = false;
        settle(undefined);
        return LOOP_STOP;
      }
      const timeout = this.runTimersForWait();
      this.inIteration = false;
      return timeout;
    } catch (err) {
      this.inIteration = false;
      settle(err);
      return LOOP_STOP;
    }
  }

  private dispatchEvents(events: Int32Array, count: number): void {
    const map = this.descriptorMap;
    for (let i = 0; i < count; i++) {
      const fd = events[2 * i] as number;
      const state = events[2 * i + 1] as number;
      const obj = map.get(fd);
      if (obj === undefined) {
        this.foreignEvent(fd, state);
        continue;
      }
      if (this.doProfile) {
        this.dispatchProfiled(obj, state);
        continue;
      }
      if (state & POLLIN && !obj.closed) obj.eventRead();
      if (state & POLLOUT && !obj.closed) obj.eventWrite();
      if (state & (POLLERR | POLLHUP)) {
        if (state & POLLERR && !obj.closed) obj.eventErr();
        if (state & POLLHUP && !obj.closed) obj.eventHup();
      }
    }
  }

  private foreignEvent(fd: number, state: number): void {
    const cb = this.otherFds.get(fd);
    if (cb !== undefined) {
      cb(state);
      return;
    }
    // The original also closed the fd here. In Node the fd may belong to
    // somebody else (Node itself), so it is only taken out of the epoll set.
    process.emitWarning(`epoll returned fd ${fd} with state ${state} for which there is no mapping; removing it`, {
      code: 'DANGA_UNMAPPED_FD',
    });
    this.driverInstance?.watchFd(fd, false);
  }

  private dispatchSoftReady(): void {
    for (const obj of this.softReady) {
      const state = obj._readiness();
      if (state === 0 || obj.closed) {
        this.softReady.delete(obj);
        continue;
      }
      if (this.doProfile) {
        this.dispatchProfiled(obj, state);
        continue;
      }
      if (state & POLLIN && !obj.closed) obj.eventRead();
      if (state & POLLOUT && !obj.closed) obj.eventWrite();
      if (state & POLLERR && !obj.closed) obj.eventErr();
      if (state & POLLHUP && !obj.closed) obj.eventHup();
      if (obj.closed || obj._readiness() === 0) this.softReady.delete(obj);
    }
  }

  private dispatchProfiled(obj: DangaSocket, state: number): void {
    const name = obj.constructor.name;
    if (state & POLLIN && !obj.closed) this.profiled(`${name}-read`, () => obj.eventRead());
    if (state & POLLOUT && !obj.closed) this.profiled(`${name}-write`, () => obj.eventWrite());
    if (state & POLLERR && !obj.closed) this.profiled(`${name}-err`, () => obj.eventErr());
    if (state & POLLHUP && !obj.closed) this.profiled(`${name}-hup`, () => obj.eventHup());
  }

  private profiled(key: string, fn: () => void): void {
    const before = process.cpuUsage();
    try {
      fn();
    } finally {
      const used = process.cpuUsage(before);
      const entry = (this.profiling[key] ??= [0, 0, 0]);
      entry[0] += used.user / 1e6;
      entry[1] += used.system / 1e6;
      entry[2]++;
    }
  }

  /**
   * The post-loop phase: pushed-back reads, the deferred closes, then the
   * post-loop callbacks. Returns false when a callback wants the loop to end.
   */
  postEventLoop(): boolean {
    // Fire read events for objects with pushed-back data until none is left.
    // An object whose handler leaves its pushed-back data untouched is not
    // fired again in this pass (the original would spin here forever); it
    // gets another chance on the next, non-waiting, iteration.
    let again = this.pushBackSet.size > 0;
    while (again) {
      again = false;
      for (const obj of Array.from(this.pushBackSet.values())) {
        if (obj.closed || !(obj._watchMask() & POLLIN)) continue;
        const before = obj._pushBackState();
        obj.eventRead();
        if (!obj.closed && obj._pushBackState() !== before) again = true;
      }
    }

    // Now close the sockets that closed during the iteration. Closing them
    // during event processing would let the kernel hand their fd numbers to
    // new sockets while events for the old ones were still in the batch.
    if (this.pending.length > 0) this.closePending();

    let keepRunning: unknown = true;
    if (this.plcMap.size > 0) {
      for (const plc of Array.from(this.plcMap.values())) {
        keepRunning = plc(this.descriptorMap, this.otherFds) && keepRunning;
      }
    }
    if (this.postLoopCallback !== null) {
      keepRunning = this.postLoopCallback(this.descriptorMap, this.otherFds) && keepRunning;
    }
    return Boolean(keepRunning);
  }

  /** Really closes what close() deferred, and lets those fds leave the map. */
  closePending(): void {
    const list = this.pending;
    this.pending = [];
    for (const p of list) {
      if (p.transport !== null) p.transport.close();
      // A stolen fd may already be registered again by a new object.
      if (this.descriptorMap.get(p.fd) === p.obj) this.descriptorMap.delete(p.fd);
    }
  }

  /**
   * Runs due timers and returns the next wait's timeout. When timers ran, or
   * the post-loop phase is owed work (closes requested by timers, pushed-back
   * data, stream sockets still ready), the wait does not block, so that the
   * post-loop callbacks see what the timers did. (The original waited the
   * full timeout here.)
   */
  runTimersForWait(): number {
    const timeout = this.runTimers();
    if (this.timers.fired > 0 || this.pending.length > 0 || this.pushBackSet.size > 0 || this.softReady.size > 0) {
      return 0;
    }
    return timeout;
  }

  /** Runs due timers; returns the timeout for the next wait. */
  runTimers(): number {
    if (this.timers.isEmpty()) {
      this.timers.fired = 0;
      return this.loopTimeout;
    }
    const now = monotonicMs();
    const next = this.timers.run(now, epochSeconds(now));
    if (next < 0) return this.loopTimeout;
    if (this.loopTimeout === -1) return next;
    return this.loopTimeout < next ? this.loopTimeout : next;
  }

  /** Forgets everything (CLASS->Reset). */
  reset(): void {
    const driver = this.driverInstance;
    for (const fd of this.otherFds.keys()) driver?.watchFd(fd, false);
    this.otherFds.clear();
    const objs = Array.from(this.descriptorMap.values());
    for (const obj of objs) obj.close('reset');
    this.closePending();
    this.descriptorMap.clear();
    this.pushBackSet.clear();
    this.plcMap.clear();
    this.softReady.clear();
    this.loopTimeout = -1;
    this.doProfile = false;
    this.profiling = {};
    this.timers.clear();
    this.postLoopCallback = null;
    // A loop that is running goes on, with the fresh state.
  }
}

/** The one loop. */
export const reactor = new Reactor();
