/**
 * The sim engine's loop driver. It never uses Node's timers: it only
 * records when the loop wants its next iteration (on virtual time), and the
 * simulation's runner (runner.ts) decides what happens next, advancing
 * virtual time itself to the next event when nothing is due.
 *
 * The wake-up rules are those of the other drivers (core/contract.ts):
 * every wake-up asked for (start's timeout, arm() at any time, the
 * iteration's return value) is merged, the soonest winning; an iteration
 * answers all those asked for before it; a stop() during an iteration wins
 * over its return value.
 */
import { stateError } from '../../core/errors.js';
import type { LoopDriver } from '../../core/contract.js';

/** Drives the loop on a virtual clock, for the simulation's runner. */
export class SimDriver implements LoopDriver {
  readonly events = new Int32Array(0);
  /** Iterations run so far. */
  iterations = 0;
  #iterate: ((count: number) => number) | null = null;
  /** When the next iteration is due (virtual ms); Infinity: on readiness only. */
  #wakeAt = Infinity;
  #generation = 0;
  /**
   * Called at the end of every start(): the ambient simulation
   * (DANGA_ENGINE=sim) starts its runner here, so that
   * `DangaSocket.eventLoop()` runs on virtual time as it would on a real
   * engine. simulate() starts its runner itself and leaves it null.
   */
  onStart: (() => void) | null = null;
  /** Called by every arm() while the loop runs: a parked runner wakes up (runner.ts). */
  onArm: (() => void) | null = null;

  constructor(private readonly now: () => number) {}

  /** True while the loop runs. */
  get running(): boolean {
    return this.#iterate !== null;
  }

  /** When the loop wants its next iteration, virtual ms (Infinity: only when something is ready). */
  get wakeAt(): number {
    return this.#wakeAt;
  }

  start(iterate: (count: number) => number, timeoutMs: number): void {
    this.#generation++;
    this.#wakeAt = Infinity;
    this.#iterate = iterate;
    this.arm(timeoutMs);
    this.onStart?.();
  }

  arm(timeoutMs: number): void {
    if (this.#iterate === null || !(timeoutMs >= 0)) return;
    const at = this.now() + timeoutMs;
    if (at < this.#wakeAt) this.#wakeAt = at;
    this.onArm?.();
  }

  stop(): void {
    this.#generation++;
    this.#iterate = null;
    this.#wakeAt = Infinity;
  }

  /** Runs one iteration now (the runner calls it when one is due, or when sockets are ready). */
  runIteration(): void {
    const iterate = this.#iterate;
    if (iterate === null) return;
    this.#wakeAt = Infinity;
    this.iterations++;
    const gen = this.#generation;
    const next = iterate(0);
    if (gen === this.#generation) this.arm(next);
  }

  /** Foreign fds need a kernel: the simulated network has none. */
  watchFd(fd: number, on: boolean): number {
    if (!on) return 0;
    throw stateError('ERR_DANGA_SIM_UNSUPPORTED', `cannot watch fd ${fd}: foreign fds (addOtherFds/otherFds) are not simulated`);
  }
}
