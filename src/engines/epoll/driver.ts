/**
 * The native loop driver. Node's loop watches the epoll fd (in C, with a
 * uv_poll_t); when it is readable, or the wait's timer fires, C collects the
 * whole batch of events into a shared Int32Array and makes one call into
 * JavaScript for the iteration. The iteration's return value arms the next
 * timeout, so an iteration costs one crossing between C and JavaScript.
 */
import { POLLIN } from '../../core/constants.js';
import type { LoopDriver } from '../../core/contract.js';
import { EPOLL_CTL, type NativeBinding } from './binding.js';

/** Events collected per iteration at most (the original asked epoll for 1000). */
const MAX_EVENTS = 1024;

/** Drives the loop from the epoll fd. */
export class EpollDriver implements LoopDriver {
  readonly name = 'epoll' as const;
  readonly events = new Int32Array(2 * MAX_EVENTS);
  private readonly b: NativeBinding;
  private iterate: (count: number) => number = () => -2;
  private initialized = false;

  constructor(binding: NativeBinding) {
    this.b = binding;
    this.init();
  }

  /** Creates the epoll fd; sockets can be registered from then on, before the loop runs. */
  init(): void {
    if (this.initialized) return;
    this.b.init(this.events, (count: number) => this.iterate(count));
    this.initialized = true;
  }

  start(iterate: (count: number) => number, timeoutMs: number): void {
    this.init();
    this.iterate = iterate;
    this.b.start(timeoutMs);
  }

  arm(timeoutMs: number): void {
    this.b.arm(timeoutMs);
  }

  stop(): void {
    if (this.initialized) this.b.stop();
  }

  watchFd(fd: number, on: boolean): number {
    this.init();
    return on ? this.b.ctl(EPOLL_CTL.ADD, fd, POLLIN) : this.b.ctl(EPOLL_CTL.DEL, fd, 0);
  }
}
