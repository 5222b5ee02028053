/**
 * danga-socket/sim: deterministic simulation. `simulate(options, setup)`
 * runs the loop, and the user's unmodified DangaSocket subclasses, on a
 * simulated network and a virtual clock, with faults drawn from one seeded
 * PRNG: the same seed and the same code give the same trace, byte for byte,
 * and a failure names the seed that replays it (`DANGA_SIM_SEED=n`).
 * See docs/simulation.md.
 *
 * @packageDocumentation
 */
import { writeFileSync } from 'node:fs';
import type { SockAddress } from './core/contract.js';
import { invalidArgType, outOfRange, stateError, validateFunction, validateInteger, validateObject } from './core/errors.js';
import { reactor } from './core/loop.js';
import {
  resolveFaults,
  simulationParts,
  type SimDriver,
  type SimNetwork,
  type SimRunner,
  seedFromEnv,
  TRACE_TAIL,
  type SimFaults,
} from './engines/sim/index.js';

export type { SimFaults, SimRange } from './engines/sim/index.js';
export { SimSock } from './engines/sim/index.js';
export type { SockAddress };

/** Options of `simulate()`. */
export interface SimulateOptions {
  /** The seed (an integer from 0 to 2^53 - 1; default 1). `DANGA_SIM_SEED` in the environment overrides it, to replay a failure. */
  seed?: number;
  /** The faults to inject (default: none; see SimFaults). */
  faults?: SimFaults;
  /** The simulation ends (successfully) at this virtual time, in seconds (default 3600). */
  duration?: number;
  /**
   * Fails the simulation when virtual time moves on for this many seconds
   * while nothing moves on the network (no byte read or written, no
   * connection made or closed, no `sim.progress()`); 0 turns it off
   * (default 60).
   */
  watchdog?: number;
  /** Fails the simulation when this many iterations run without virtual time advancing (a livelock; default 20,000). */
  maxIterationsPerInstant?: number;
  /** The wall clock at virtual time 0, in seconds since the epoch (what timer callbacks receive; default 1,700,000,000). */
  epoch?: number;
  /** The descriptor limit: sockets past it fail with EMFILE (default 1024). */
  maxFds?: number;
  /** Keep the whole trace in the result (default false: only its digest and last 50 events). */
  keepTrace?: boolean;
}

/** How a simulation ended: the loop was ended by the code, nothing was left to happen, or the duration passed. */
export type SimulationEnd = 'stopped' | 'idle' | 'duration';

/** What `simulate()` resolves with. */
export interface SimulationResult {
  /** The seed it ran with. */
  readonly seed: number;
  /** sha256 (hex) of the trace: the same seed and code give the same digest. */
  readonly digest: string;
  /** Events in the trace. */
  readonly events: number;
  /** The whole trace, with `keepTrace`; else null. */
  readonly trace: readonly string[] | null;
  /** The last 50 events. */
  readonly tail: readonly string[];
  /** Virtual time at the end, ms. */
  readonly timeMs: number;
  /** Loop iterations run. */
  readonly iterations: number;
  /** Why it ended: the code stopped the loop, nothing was left to happen, or the duration passed. */
  readonly endedBy: SimulationEnd;
}

/** What a failed simulation throws: the seed, the trace's last events, and the failure as `cause`. */
export class SimulationError extends Error {
  /** Always 'ERR_DANGA_SIM_FAILED'. */
  readonly code = 'ERR_DANGA_SIM_FAILED';
  /** The seed that replays the failure (`DANGA_SIM_SEED=seed`). */
  readonly seed: number;
  /** sha256 of the trace up to the failure. */
  readonly digest: string;
  /** The last 50 trace events before the failure. */
  readonly tail: readonly string[];
  /** Virtual time of the failure, ms. */
  readonly timeMs: number;

  /** @internal */
  constructor(seed: number, digest: string, tail: readonly string[], timeMs: number, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      `simulation failed (seed ${seed}, at ${timeMs} ms virtual time): ${why}\n` +
        `  replay: DANGA_SIM_SEED=${seed}\n  last ${tail.length} trace events:\n` +
        tail.map((e) => `    ${e}`).join('\n'),
      { cause },
    );
    this.name = 'SimulationError';
    this.seed = seed;
    this.digest = digest;
    this.tail = tail;
    this.timeMs = timeMs;
  }
}

/** What `setup` may return: a check run once the simulation ended (throw to fail it). */
export type SimulationCheck = () => void;

/** The setup of a simulation: creates the servers and clients (the loop is not running yet). */
export type SimulationSetup = (sim: Simulation) => void | SimulationCheck | Promise<void | SimulationCheck>;

/** Runs a Simulation (set by its class's static block: it reaches the private members). */
let runSimulation: (sim: Simulation, setup: SimulationSetup) => Promise<SimulationResult>;

/** The simulation running now (one at a time: the loop is one per process). */
const current: { sim: Simulation | null } = { sim: null };

function seconds(name: string, value: unknown, dflt: number): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!(value >= 0) || Number.isNaN(value)) throw outOfRange(name, 'a number of seconds >= 0', value);
  return value;
}

/**
 * One simulation, as `setup` sees it: its seed, its virtual clock, its
 * PRNG (for the scenario's random choices, so that they replay too), the
 * trace, and `runUntil()` for a setup that drives the loop step by step.
 */
export class Simulation {
  /** The seed it runs with. */
  readonly seed: number;
  readonly #net: SimNetwork;
  readonly #driver: SimDriver;
  readonly #runner: SimRunner;
  readonly #ends: SimulationCheck[] = [];
  #restore: (() => void) | null;
  /** DANGA_SIM_TRACE: where the whole trace is written when the simulation ends ('' for nowhere). */
  readonly #traceFile: string;
  /** @internal use simulate() */
  constructor(options: SimulateOptions) {
    validateObject('options', options);
    const seed = seedFromEnv() ?? (options.seed === undefined ? 1 : validateInteger('options.seed', options.seed, 0, Number.MAX_SAFE_INTEGER));
    const faults = resolveFaults(options.faults);
    const durationMs = seconds('options.duration', options.duration, 3600) * 1000;
    const watchdogMs = seconds('options.watchdog', options.watchdog, 60) * 1000;
    const maxPerInstant =
      options.maxIterationsPerInstant === undefined
        ? 20_000
        : validateInteger('options.maxIterationsPerInstant', options.maxIterationsPerInstant, 1, 0x7fffffff);
    const epoch = options.epoch ?? 1_700_000_000;
    if (typeof epoch !== 'number' || !Number.isFinite(epoch)) throw invalidArgType('options.epoch', 'a finite number', epoch);
    const maxFds = options.maxFds === undefined ? 1024 : validateInteger('options.maxFds', options.maxFds, 4, 0x7fffffff);
    if (options.keepTrace !== undefined && typeof options.keepTrace !== 'boolean')
      throw invalidArgType('options.keepTrace', 'of type boolean', options.keepTrace);

    if (current.sim !== null) throw stateError('ERR_DANGA_SIM_BUSY', 'a simulation is already running (one at a time per process)');
    if (reactor.running) throw stateError('ERR_DANGA_SIM_BUSY', 'simulate() cannot run while DangaSocket.eventLoop() runs');
    if (reactor.descriptorMap.size > 0 || !reactor.timers.isEmpty() || reactor.otherFds.size > 0) {
      throw stateError('ERR_DANGA_SIM_BUSY', 'simulate() needs an idle loop: sockets, timers or foreign fds are registered (DangaSocket.reset() clears them)');
    }

    this.seed = seed;
    this.#traceFile = process.env.DANGA_SIM_TRACE ?? '';
    const keepTrace = options.keepTrace === true || this.#traceFile !== '';
    const parts = simulationParts({ seed, faults, epoch, maxFds, keepTrace, durationMs, watchdogMs, maxPerInstant }, reactor);
    this.#net = parts.net;
    this.#driver = parts.driver;
    this.#runner = parts.runner;
    // Everything the loop had is given back (and the loop reset) when the simulation closes.
    const giveBack = reactor.lend(parts);
    current.sim = this;
    this.#restore = () => {
      giveBack();
      current.sim = null;
    };
  }

  /** Virtual time, ms since the simulation began. */
  now(): number {
    return this.#net.now;
  }

  /** Virtual wall-clock time in seconds since the epoch (what timer callbacks receive). */
  time(): number {
    return this.#net.epoch + this.#net.now / 1000;
  }

  /** A float in [0, 1) from the simulation's PRNG. */
  random(): number {
    return this.#net.prng.float();
  }

  /** An integer in [lo, hi] from the simulation's PRNG. */
  randomInt(lo: number, hi: number): number {
    validateInteger('lo', lo, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    validateInteger('hi', hi, lo, lo + 0xffffffff);
    return this.#net.prng.int(lo, hi);
  }

  /** `n` bytes from the simulation's PRNG. */
  randomBytes(n: number): Buffer {
    return this.#net.prng.bytes(validateInteger('n', n, 0, 0x7fffffff));
  }

  /** Adds an event of the scenario's own to the trace. */
  note(text: string): void {
    if (typeof text !== 'string') throw invalidArgType('text', 'of type string', text);
    this.#net.log(`note ${text}`);
  }

  /** Tells the watchdog that the scenario made progress (beside the network's own). */
  progress(): void {
    this.#net.progress();
  }

  /** Descriptors in use (the standard streams, 0 to 2, included). */
  openFds(): number {
    return this.#net.openFds;
  }

  /** Runs `fn` once the simulation ended, before the check `setup` returned (throw to fail). */
  onEnd(fn: SimulationCheck): void {
    this.#ends.push(validateFunction<SimulationCheck>('fn', fn));
  }

  /**
   * Runs the loop until `done()` is true (looked at after every iteration
   * and the promise jobs it left). Throws when nothing is left to happen
   * (or the duration passes) first: `done()` can never become true.
   */
  async runUntil(done: () => boolean): Promise<void> {
    validateFunction('done', done);
    this.#check();
    // As the tests' runUntil on the real engines: looked at in the post-loop
    // phase, so the loop ends in the iteration that made it true, with no
    // further dispatch. (After promise jobs too, then with one more pass.)
    reactor.endWhen(done);
    let end: SimulationEnd;
    try {
      end = await this.#run(done);
    } finally {
      reactor.endWhen(null);
    }
    if (end !== 'stopped' || !done()) {
      throw stateError('ERR_DANGA_SIM_STALLED', `runUntil(): the condition never became true (the simulation went ${end === 'stopped' ? 'stopped' : end})`);
    }
  }

  #check(): void {
    if (current.sim !== this) throw stateError('ERR_DANGA_SIM_CLOSED', 'this simulation has ended');
  }

  static {
    // simulate()'s way in: a module-private function, not a member a user could call.
    runSimulation = (sim, setup) => sim.#simulate(setup);
  }

  /** Runs setup, the loop to its end, and the checks; closes the simulation. */
  async #simulate(setup: SimulationSetup): Promise<SimulationResult> {
    const net = this.#net;
    try {
      let endedBy: SimulationEnd;
      try {
        const check = await setup(this);
        endedBy = await this.#run(null);
        for (const fn of this.#ends) fn();
        if (typeof check === 'function') check();
      } catch (err) {
        throw new SimulationError(this.seed, net.digest(), net.tail(), net.now, err);
      }
      net.log(`end ${endedBy}`);
      return {
        seed: this.seed,
        digest: net.digest(),
        events: net.traceLength,
        trace: net.trace,
        tail: net.tail(),
        timeMs: net.now,
        iterations: this.#driver.iterations,
        endedBy,
      };
    } finally {
      this.#close();
    }
  }

  #close(): void {
    if (this.#traceFile !== '' && this.#net.trace !== null) writeFileSync(this.#traceFile, this.#net.trace.join('\n') + '\n');
    const restore = this.#restore;
    this.#restore = null;
    restore?.();
  }

  /**
   * Runs the loop on virtual time until it ends (stop, a falsy post-loop
   * callback, shutdown), `done()` holds, nothing is left to happen, or the
   * duration passes.
   */
  async #run(done: (() => boolean) | null): Promise<SimulationEnd> {
    let settled = false;
    const loop = reactor.start().then(
      () => {
        settled = true;
      },
      (err: unknown) => {
        settled = true;
        throw err instanceof Error ? err : new Error(`the loop failed: ${String(err)}`, { cause: err });
      },
    );
    // The loop's own failure (a handler's exception) rejects `loop`; the runner's (livelock, watchdog) comes back.
    loop.catch(() => {});
    const { end, failure } = await this.#runner.run(() => settled, done);
    await loop;
    if (failure !== null) throw failure;
    return end;
  }
}

/**
 * Runs a simulation: `setup(sim)` creates servers and clients (sockets from
 * `listenTcp`, `connectTcp`, `socketPair`, … are simulated ones inside it),
 * then the loop runs on virtual time until the code ends it, nothing is left
 * to happen, or `duration` passes. Resolves with the trace's digest; a
 * failure (an exception of a handler or of setup, of the check setup
 * returned, the watchdog, a livelock) rejects with a SimulationError naming
 * the seed and the last 50 trace events. While it runs, `DangaSocket`
 * reports the engine 'sim'; afterwards the loop is reset and the real
 * engine is back.
 */
export async function simulate(options: SimulateOptions, setup: SimulationSetup): Promise<SimulationResult> {
  validateFunction('setup', setup);
  const sim = new Simulation(options);
  return runSimulation(sim, setup);
}

/**
 * The seeds a property runs over: `count` of them from `first` (default 1),
 * or only `DANGA_SIM_SEED` when it is set (a replay); `DANGA_SIM_RUNS`
 * overrides `count` (a longer soak).
 */
export function seeds(count: number, first = 1): number[] {
  validateInteger('count', count, 0, 0x7fffffff);
  validateInteger('first', first, 0, Number.MAX_SAFE_INTEGER);
  const only = seedFromEnv();
  if (only !== null) return [only];
  const runs = process.env.DANGA_SIM_RUNS;
  const n = runs !== undefined && runs !== '' ? validateInteger('DANGA_SIM_RUNS', Number(runs), 0, 0x7fffffff) : count;
  return Array.from({ length: n }, (_, i) => first + i);
}

export { TRACE_TAIL };
