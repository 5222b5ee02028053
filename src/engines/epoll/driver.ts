/**
 * The native loop driver. Node's loop watches the epoll fd (in C, with a
 * uv_poll_t); when it is readable, or the wait is over, C collects the whole
 * batch of events into a shared Int32Array and makes one call into
 * JavaScript for the iteration. The iteration's return value is the next
 * wait, so an iteration costs one crossing between C and JavaScript.
 *
 * The wake-up rules of the LoopDriver contract (core/contract.ts) are kept in
 * C: a wait of 0 runs the next iteration on the next turn of Node's loop
 * (uv_check_t, as setImmediate), so Node is never starved; every arm(), at
 * any time, is merged with the iteration's return value, the soonest winning;
 * a stop() during an iteration wins over its return value, and a start()
 * after it begins a new run whose wake-ups all count.
 */
import { POLLIN } from '../../core/constants.js';
import type { LoopDriver } from '../../core/contract.js';
import { systemError } from '../../core/errors.js';
import { EPOLL_CTL, type NativeBinding } from './binding.js';
import { iterationBegins, iterationEnds } from './native-sock.js';

/** Events collected per iteration at most (the original asked epoll for 1000). */
const MAX_EVENTS = 1024;

/** Drives the loop from the epoll fd. */
export class EpollDriver implements LoopDriver {
  readonly events = new Int32Array(2 * MAX_EVENTS);
  private readonly b: NativeBinding;
  private iterate: (count: number) => number = () => -1;

  /** Creates the epoll fd: sockets can be registered from then on, before the loop runs. */
  constructor(binding: NativeBinding) {
    this.b = binding;
    const rc = binding.init(this.events, (count: number) => {
      // (What a short read tells holds until the iteration ends: native-sock.ts.)
      iterationBegins();
      try {
        return this.iterate(count);
      } finally {
        iterationEnds();
      }
    });
    if (rc < 0) throw systemError(rc, 'epoll_create1', '(creating the loop)');
  }

  start(iterate: (count: number) => number, timeoutMs: number): void {
    this.iterate = iterate;
    const rc = this.b.start(timeoutMs);
    if (rc < 0) throw systemError(rc, 'uv_poll_start', '(starting the loop)');
  }

  arm(timeoutMs: number): void {
    this.b.arm(timeoutMs);
  }

  stop(): void {
    this.b.stop();
  }

  watchFd(fd: number, on: boolean): number {
    return on ? this.b.ctl(EPOLL_CTL.ADD, fd, POLLIN) : this.b.ctl(EPOLL_CTL.DEL, fd, 0);
  }
}
