/**
 * The node engine's loop driver: iterations run from Node timers. There is no
 * kernel event batch to collect (stream sockets report readiness through the
 * core's soft-ready set), so every iteration is called with a count of 0.
 *
 * The wake-up rules are those of the epoll driver (core/contract.ts): every
 * wake-up asked for (start's timeout, arm() at any time, the iteration's
 * return value) is merged, the soonest winning; an iteration answers all
 * those asked for before it; a stop() during an iteration wins over its
 * return value, and a start() after it begins a new run.
 */
import { performance } from 'node:perf_hooks';
import { noop } from '../../core/constants.js';
import { stateError } from '../../core/errors.js';
import type { LoopDriver } from '../../core/contract.js';

/** Longest delay Node's timers take (2^31 - 1 ms). */
const MAX_DELAY = 0x7fffffff;

/** Drives the loop with setImmediate (timeout 0) and one setTimeout (timeout > 0). */
export class NodeDriver implements LoopDriver {
  readonly events = new Int32Array(0);
  private iterate: ((count: number) => number) | null = null;
  private immediate: NodeJS.Immediate | null = null;
  /** The Node timer: armed, or spent (kept to be refreshed when the next wait is the same). */
  private timeout: NodeJS.Timeout | null = null;
  private timeoutArmed = false;
  private timeoutMs = -1;
  /** When the armed timer is due (performance.now() ms). */
  private timeoutDue = 0;
  /** Keeps the process alive while the loop runs, as the epoll driver's poll handle does. */
  private keepAlive: NodeJS.Timeout | null = null;
  /** Bumped by start() and stop(): a return value belongs to the run it was computed in. */
  private generation = 0;
  private readonly fromImmediate = (): void => {
    this.immediate = null;
    this.run();
  };
  private readonly fromTimeout = (): void => {
    this.timeoutArmed = false;
    this.run();
  };

  private run(): void {
    const iterate = this.iterate;
    if (iterate === null) return;
    // This iteration answers every wake-up asked for so far.
    this.cancel();
    const gen = this.generation;
    const next = iterate(0);
    if (gen !== this.generation) return;
    this.arm(next);
  }

  start(iterate: (count: number) => number, timeoutMs: number): void {
    this.generation++;
    this.cancel();
    this.iterate = iterate;
    this.keepAlive ??= setInterval(noop, MAX_DELAY);
    this.arm(timeoutMs);
  }

  arm(timeoutMs: number): void {
    if (this.iterate === null || !(timeoutMs >= 0)) return;
    if (this.immediate !== null) return; // the soonest there is
    if (timeoutMs === 0) {
      this.cancelTimeout();
      this.immediate = setImmediate(this.fromImmediate);
      return;
    }
    const ms = Math.min(Math.ceil(timeoutMs), MAX_DELAY);
    const due = performance.now() + ms;
    if (this.timeoutArmed && this.timeoutDue <= due) return;
    if (this.timeout !== null && !this.timeoutArmed && this.timeoutMs === ms) {
      this.timeout.refresh();
    } else {
      if (this.timeout !== null) clearTimeout(this.timeout);
      this.timeout = setTimeout(this.fromTimeout, ms);
      this.timeoutMs = ms;
    }
    this.timeoutArmed = true;
    this.timeoutDue = due;
  }

  stop(): void {
    this.generation++;
    this.iterate = null;
    this.cancel();
    if (this.timeout !== null) {
      clearTimeout(this.timeout);
      this.timeout = null;
    }
    if (this.keepAlive !== null) {
      clearInterval(this.keepAlive);
      this.keepAlive = null;
    }
  }

  /** Foreign fds need the kernel's readiness, which only the epoll engine has. */
  watchFd(fd: number, on: boolean): number {
    if (!on) return 0;
    throw stateError(
      'ERR_DANGA_NO_EPOLL',
      `cannot watch fd ${fd}: foreign fds (addOtherFds/otherFds) need the native epoll engine, and this loop runs on the node engine`,
    );
  }

  /** Disarms the timer (a spent one is kept, to be refreshed). */
  private cancelTimeout(): void {
    if (this.timeoutArmed && this.timeout !== null) {
      clearTimeout(this.timeout);
      this.timeout = null;
    }
    this.timeoutArmed = false;
  }

  /** Forgets every wake-up asked for. */
  private cancel(): void {
    this.cancelTimeout();
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
  }
}
