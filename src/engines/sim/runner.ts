/**
 * The runner: drives a running loop on the simulated network and its
 * virtual clock. Between iterations it lets the promise jobs (and anything
 * else queued for the next turn of Node's loop) run, with one
 * `setImmediate` hop; then it delivers the network's due events, reports
 * readiness, and runs an iteration when one is due or a socket is ready;
 * when nothing is, it moves virtual time on to the next event (a segment
 * arriving, a connect answered, a timer, the loop timeout).
 *
 * One implementation for both uses of the sim engine: `simulate()`
 * (src/sim.ts), which starts the loop itself and ends it when nothing is
 * left to happen, and the ambient simulation (`DANGA_ENGINE=sim`,
 * src/engines/install.ts), where the runner starts whenever
 * `DangaSocket.eventLoop()` starts the driver. What it needs of the loop
 * (end it, fail it, the timers an iteration fired) comes through `hooks`:
 * an engine imports nothing of the core's loop.
 */
import { stateError } from '../../core/errors.js';
import type { SimDriver } from './driver.js';
import type { SimNetwork } from './network.js';

/** How a run ended: the code ended the loop, nothing was left to happen, or the duration passed. */
export type RunEnd = 'stopped' | 'idle' | 'duration';

/** What the runner needs of the loop it drives. */
export interface RunnerHooks {
  /** Asks the loop to end at the end of its next iteration (reactor.stop()). */
  stop(): void;
  /** Makes the loop end with `err` at its next iteration: its promise rejects with it (Reactor.fail). */
  fail(err: Error): void;
  /** Timers the last iteration fired (for the trace). */
  timersFired(): number;
}

/** The runner's limits. */
export interface RunnerOptions {
  /** Virtual time (ms) at which the run ends ('duration'); Infinity for none. */
  readonly durationMs: number;
  /** Virtual ms without progress on the network before the watchdog fails the run; 0: off. */
  readonly watchdogMs: number;
  /** Iterations without virtual time advancing before the run fails as a livelock. */
  readonly maxPerInstant: number;
  /**
   * When nothing is left to happen (no event, no wake-up): 'end' ends the
   * run ('idle': simulate()); 'park' sleeps until code outside the loop
   * wakes it, as a real loop would (the ambient simulation), and fails the
   * run after `parkGuardMs` of real time asleep.
   */
  readonly onIdle: 'end' | 'park';
  /** Real ms a parked loop waits to be woken before the run fails (ERR_DANGA_SIM_IDLE); onIdle 'park' only. */
  readonly parkGuardMs: number;
  /** A timer that fires counts as progress (the ambient simulation: a long timer is the code's own wait); simulate(): only the network and sim.progress() count. */
  readonly timersAreProgress: boolean;
  /**
   * The ambient simulation's watchdog (0: off): the run fails after this
   * many moves of virtual time in a row without progress in between (a
   * loop polling on its loop timeout for a condition that never comes).
   * Unlike `watchdogMs` it lets a long timer fire: that is one move.
   */
  readonly maxIdleMoves: number;
  /** Says which simulation failed, in the errors of 'fail' (seed, replay line). */
  readonly describe: () => string;
}

/** Drives the loop of `driver` on `net`'s virtual time. */
export class SimRunner {
  #perInstant = 0;
  #idleMoves = 0;
  #progressSeen = -1;

  constructor(
    private readonly net: SimNetwork,
    private readonly driver: SimDriver,
    private readonly options: RunnerOptions,
    private readonly hooks: RunnerHooks,
  ) {}

  /** A new run of the loop begins (the ambient simulation: each eventLoop()): the livelock count starts over. */
  newRun(): void {
    this.#perInstant = 0;
    this.#idleMoves = 0;
  }

  /**
   * Runs until `settled()` (the loop ended), ending the loop when `done()`
   * holds, nothing is left to happen (onIdle 'end') or the duration passes.
   * Failures (livelock, watchdog, idle with onIdle 'park' past its guard)
   * go to `hooks.fail` and come back; the loop has ended either way.
   *
   * Each step runs in a `setImmediate` callback of its own, as the real
   * engines run an iteration from a callback of Node's loop: after it,
   * Node runs the `process.nextTick` queue and then the promise jobs, in
   * that order (a warning emitted in a handler reaches its listeners
   * before the code awaiting `eventLoop()` resumes).
   */
  run(settled: () => boolean, done: (() => boolean) | null = null): Promise<{ end: RunEnd; failure: Error | null }> {
    const { net, driver, options, hooks } = this;
    let end: RunEnd = 'stopped';
    let failure: Error | null = null;
    let stopping = false;
    return new Promise((resolve) => {
      const finish = (): void => {
        if (!settled()) {
          // Ended from here (livelock, watchdog, idle): the failure's (or the stop's) iteration settles the loop.
          driver.runIteration();
          if (!settled()) driver.stop();
        }
        resolve({ end, failure });
      };
      const fail = (err: Error): void => {
        failure = err;
        hooks.fail(err);
        finish();
      };
      const step = (): void => {
        if (settled()) return resolve({ end, failure });
        if (!stopping && done !== null && done()) {
          stopping = true;
          hooks.stop();
        }
        net.runDue();
        net.flushReadiness();
        if (driver.wakeAt <= net.now || net.dirty.size > 0) {
          if (++this.#perInstant > options.maxPerInstant) {
            this.#perInstant = 0;
            return fail(
              stateError(
                'ERR_DANGA_SIM_LIVELOCK',
                `livelock: ${options.maxPerInstant} iterations without virtual time advancing (a socket ready for ever, or a loop timeout of 0)${options.describe()}`,
              ),
            );
          }
          net.log(`it ${driver.iterations + 1}`);
          driver.runIteration();
          const fired = hooks.timersFired();
          if (fired > 0) {
            net.log(`timers ${fired}`);
            if (options.timersAreProgress) net.progress();
          }
          return void setImmediate(step);
        }
        // Nothing is due now: on to the next event.
        const next = Math.min(driver.wakeAt, net.nextEventAt());
        if (stopping) {
          driver.runIteration(); // the stop's own iteration
          return void setImmediate(step);
        }
        if (next === Infinity && options.onIdle === 'park') return this.#park(step, fail);
        if (next === Infinity || next > options.durationMs) {
          end = next === Infinity ? 'idle' : 'duration';
          if (next !== Infinity) net.now = options.durationMs;
          stopping = true;
          hooks.stop();
          return void setImmediate(step);
        }
        if (options.watchdogMs > 0 && next - net.lastProgress > options.watchdogMs) {
          net.now = net.lastProgress + options.watchdogMs;
          return fail(stateError('ERR_DANGA_SIM_WATCHDOG', `watchdog: no progress for ${options.watchdogMs / 1000} s of virtual time${options.describe()}`));
        }
        if (options.maxIdleMoves > 0) {
          if (net.progressCount !== this.#progressSeen) {
            this.#progressSeen = net.progressCount;
            this.#idleMoves = 0;
          } else if (++this.#idleMoves > options.maxIdleMoves) {
            return fail(
              stateError(
                'ERR_DANGA_SIM_WATCHDOG',
                `watchdog: virtual time moved on ${options.maxIdleMoves} times without progress (no byte read or written, no connection made or closed, no timer fired)${options.describe()}`,
              ),
            );
          }
        }
        net.now = next;
        this.#perInstant = 0;
        if (net.prng.chance(net.faults.clockJump)) {
          const jump = net.prng.range(net.faults.clockJumpMs);
          net.now += jump;
          net.log(`fault clock +${jump}`);
        }
        setImmediate(step);
      };
      setImmediate(step);
    });
  }

  /**
   * Nothing in the simulation will wake the loop: it sleeps, as a real loop
   * would, until code outside the loop (a promise job, a Node callback)
   * gives it something: a wake-up (`arm`, a timer, `stop()`), a socket's
   * change, an event scheduled. Virtual time stands still meanwhile. Past
   * `parkGuardMs` of real time asleep, the run fails (ERR_DANGA_SIM_IDLE):
   * nothing outside the simulation woke it.
   */
  #park(step: () => void, fail: (err: Error) => void): void {
    const { net, driver, options } = this;
    let guard: NodeJS.Timeout | null = null;
    const wake = (): void => {
      if (guard === null) return;
      clearTimeout(guard);
      guard = null;
      driver.onArm = null;
      net.onActivity = null;
      setImmediate(step);
    };
    driver.onArm = wake;
    net.onActivity = wake;
    guard = setTimeout(() => {
      guard = null;
      driver.onArm = null;
      net.onActivity = null;
      fail(
        stateError(
          'ERR_DANGA_SIM_IDLE',
          `the loop waits for ever: no simulated socket will become ready, no timer or loop timeout is pending, and nothing woke it in ${options.parkGuardMs / 1000} s${options.describe()}`,
        ),
      );
    }, options.parkGuardMs);
  }
}
