/**
 * The node engine's loop driver: iterations run from Node timers. There is no
 * kernel event batch to collect (stream sockets report readiness through the
 * core's soft-ready set), so every iteration is called with a count of 0.
 */
import { stateError } from '../../core/errors.js';
import type { LoopDriver } from '../../core/contract.js';

/** Longest delay Node's timers take (2^31 - 1 ms). */
const MAX_DELAY = 0x7fffffff;
const noop = (): void => {};

/** Drives the loop with setImmediate (timeout 0) and one setTimeout (timeout > 0). */
export class NodeDriver implements LoopDriver {
  readonly name = 'node' as const;
  readonly events = new Int32Array(0);
  private iterate: ((count: number) => number) | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private timeout: NodeJS.Timeout | null = null;
  private timeoutMs = -1;
  /** Keeps the process alive while the loop runs, as the epoll driver's poll handle does. */
  private keepAlive: NodeJS.Timeout | null = null;
  /** Bumped by stop(): a stop made during an iteration wins over its return value. */
  private generation = 0;
  private readonly run = (): void => {
    this.immediate = null;
    const iterate = this.iterate;
    if (iterate === null) return;
    const gen = this.generation;
    const next = iterate(0);
    if (gen !== this.generation) return;
    if (next === -2) this.stop();
    else this.arm(next);
  };

  start(iterate: (count: number) => number, timeoutMs: number): void {
    this.iterate = iterate;
    this.keepAlive ??= setInterval(noop, MAX_DELAY);
    this.arm(timeoutMs);
  }

  arm(timeoutMs: number): void {
    if (this.iterate === null) return;
    if (timeoutMs < 0) {
      this.clearTimers();
      return;
    }
    if (timeoutMs === 0) {
      // A pending timeout is superseded: the iteration computes the next one.
      this.clearTimeout();
      this.immediate ??= setImmediate(this.run);
      return;
    }
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
    const ms = Math.min(timeoutMs, MAX_DELAY);
    if (this.timeout !== null && this.timeoutMs === ms) {
      this.timeout.refresh();
    } else {
      this.clearTimeout();
      this.timeout = setTimeout(this.run, ms);
      this.timeoutMs = ms;
    }
  }

  stop(): void {
    this.generation++;
    this.iterate = null;
    this.clearTimers();
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

  private clearTimeout(): void {
    if (this.timeout !== null) {
      clearTimeout(this.timeout);
      this.timeout = null;
      this.timeoutMs = -1;
    }
  }

  private clearTimers(): void {
    this.clearTimeout();
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
  }
}
