/**
 * The class side of DangaSocket: the class methods of Danga::Socket 1.62
 * (`Danga::Socket->AddTimer`, `->EventLoop`, …) as the static methods of an
 * abstract base that DangaSocket extends, so `DangaSocket.addTimer()` and
 * `MySubclass.addTimer()` reach them. Each checks its arguments and hands
 * over to the loop (the `Reactor` of loop.ts). The three that hand out
 * objects (`descriptorMap`, `setErrorHandler`, `setPostLoopCallback`) are
 * typed with DangaSocket and stay on it.
 */
import { format } from 'node:util';
import { WAIT_FOREVER } from './constants.js';
import type { EngineName, Sock } from './contract.js';
import { invalidArgType, outOfRange, validateFunction, validateObject, validateSeconds } from './errors.js';
import { log, setLogger as setLog, text } from './log.js';
import { reactor, type OtherFdCallback, type ProfilingData } from './loop.js';
import { addOtherFds, replaceOtherFds } from './other-fds.js';
import type { DangaStats, Logger, ShutdownOptions } from './socket-types.js';
import { type Timer, monotonicMs, type TimerCallback } from './timers.js';

/**
 * The event loop's class methods, inherited by DangaSocket and its subclasses.
 *
 * @original the class methods of `Danga::Socket`
 */
export abstract class ClassSide {
  /**
   * Forgets all loop state: closes every registered socket, drops timers, callbacks, foreign fds and profiling data.
   *
   * @throws Nothing.
   * @original `Danga::Socket->Reset()`
   */
  static reset(): void {
    reactor.reset();
  }

  /**
   * Ends `eventLoop()` at the end of the current iteration (at once when
   * the loop waits), from anywhere: a handler, a timer, a signal handler,
   * another Node callback. Does nothing when the loop is not running.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  static stop(): void {
    reactor.stop();
  }

  /**
   * Graceful shutdown. Every registered object gets `onShutdown()`: a
   * `Listener` stops accepting; by default a connection stops reading and
   * closes once everything queued is out (`end()`); protocol code overrides
   * it to finish the request in hand first. After `timeout` seconds what
   * remains is closed. Resolves once the descriptor map is empty, and ends
   * `eventLoop()` then. Without a running loop, everything is closed at once.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `options` is not an object or `options.timeout` not a number; RangeError (code `ERR_OUT_OF_RANGE`) when
   *   `options.timeout` is negative or longer than 2^31-1 ms.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  static shutdown(options: ShutdownOptions = {}): Promise<void> {
    validateObject('options', options);
    return reactor.shutdown(validateSeconds('options.timeout', options.timeout ?? 30) * 1000);
  }

  /**
   * Where `debugMsg()`, `dumpError()` and DANGA_DEBUG's close messages go:
   * `fn(level, message)` with the complete text (newline included); null
   * restores the default, stderr.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `fn` is neither a function nor null.
   * @original new in danga-socket (not in Danga::Socket 1.62); 1.62 prints to STDERR
   */
  static setLogger(fn: Logger | null): void {
    if (fn !== null && fn !== undefined) validateFunction('fn', fn);
    setLog(fn ?? null);
  }

  /**
   * A snapshot of the loop's counters: open objects, accepted connections, bytes in and out, closes by reason.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  static stats(): DangaStats {
    const s = reactor.stats;
    return {
      open: s.opened - s.closedTotal,
      opened: s.opened,
      accepted: s.accepted,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      closed: Object.fromEntries(s.closed),
    };
  }

  /**
   * True when the native epoll engine runs the loop.
   *
   * @throws Nothing.
   * @original `Danga::Socket->HaveEpoll()`
   */
  static haveEpoll(): boolean {
    return reactor.engine.name === 'epoll';
  }

  /**
   * The engine that runs the loop: 'epoll' (native) or 'node' (Node streams).
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  static engine(): EngineName {
    return reactor.engine.name;
  }

  /**
   * The number of objects in the descriptor map.
   *
   * @throws Nothing.
   * @original `Danga::Socket->WatchedSockets()`
   */
  static watchedSockets(): number {
    return reactor.descriptorMap.size;
  }

  /**
   * Turns profiling on, clearing earlier data. Returns true.
   *
   * @throws Nothing.
   * @original `Danga::Socket->EnableProfiling()`
   */
  static enableProfiling(): boolean {
    reactor.enableProfiling();
    return true;
  }

  /**
   * Turns profiling off, keeping the data gathered so far.
   *
   * @throws Nothing.
   * @original `Danga::Socket->DisableProfiling()`
   */
  static disableProfiling(): void {
    reactor.disableProfiling();
  }

  /**
   * `{ "ClassName-read": [userSeconds, systemSeconds, calls], … }`
   *
   * @throws Nothing.
   * @original `Danga::Socket->ProfilingData()`
   */
  static profilingData(): ProfilingData {
    return reactor.profiling;
  }

  /**
   * The sockets closed in this iteration and waiting for its end to be really closed.
   *
   * @throws Nothing.
   * @original `Danga::Socket->ToClose()`
   */
  static toClose(): Sock[] {
    const out: Sock[] = [];
    for (const p of reactor.pending) if (p.transport !== null) out.push(p.transport);
    return out;
  }

  /**
   * Gets, or with `map` replaces, the foreign fds watched for readability
   * beside the sockets: fd -> callback(state).
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `map` is not a Map or an object, or a callback is not a function; TypeError (code `ERR_INVALID_ARG_VALUE`)
   *   when a key is not a file descriptor or the fd cannot be watched (the system error is its `cause`);
   *   Error `ERR_DANGA_NO_EPOLL` on the node engine, which cannot watch foreign fds.
   * @original `Danga::Socket->OtherFds([%map])`; a `Map` is returned (1.62 returns the hash)
   */
  static otherFds(map?: Map<number, OtherFdCallback> | Record<number, OtherFdCallback>): Map<number, OtherFdCallback> {
    if (map !== undefined) replaceOtherFds(map);
    return reactor.otherFds;
  }

  /**
   * Adds foreign fds (fd -> callback(state)); they are watched for readability at once.
   *
   * @throws as `otherFds(map)`.
   * @original `Danga::Socket->AddOtherFds(%map)`
   */
  static addOtherFds(map: Map<number, OtherFdCallback> | Record<number, OtherFdCallback>): Map<number, OtherFdCallback> {
    addOtherFds(map);
    return reactor.otherFds;
  }

  /**
   * Sets the loop timeout in milliseconds: -1 (the default) waits for events
   * or timers only; 0 never waits (Node's own loop still gets a turn between
   * iterations); N > 0 runs the post-loop callbacks at least every N ms.
   *
   * @returns the loop timeout now in force (-1, or `ms` rounded up to a whole millisecond).
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `ms` is not a number; RangeError (code `ERR_OUT_OF_RANGE`) when it is NaN, below -1 or above 2^31-1.
   * @original `Danga::Socket->SetLoopTimeout($ms)`
   */
  static setLoopTimeout(ms: number): number {
    if (typeof ms !== 'number') throw invalidArgType('ms', 'of type number', ms);
    if (Number.isNaN(ms) || ms < -1 || ms > 0x7fffffff) throw outOfRange('ms', '-1 or a number >= 0', ms);
    return reactor.setLoopTimeout(ms < 0 ? WAIT_FOREVER : Math.ceil(ms));
  }

  /**
   * Prints a `util.format`-style message to stderr (or the logger), prefixed with ">>> ".
   *
   * @throws Nothing of its own (a logger's exception propagates).
   * @original `Danga::Socket->DebugMsg($fmt, @args)`
   */
  static debugMsg(fmt: string, ...args: unknown[]): void {
    log('debug', '>>> ' + format(text(fmt).replace(/\n$/, ''), ...args) + '\n');
  }

  /**
   * Runs `fn` once, `seconds` from now (fractional seconds allowed). Timers
   * fire in time order, equal times in the order added. Returns a Timer with
   * `cancel()`.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `seconds` is not a number or `fn` not a function; RangeError (code `ERR_OUT_OF_RANGE`) when `seconds` is
   *   not finite.
   * @original `Danga::Socket->AddTimer($secs, $code)`; the returned `Timer` is `Danga::Socket::Timer`
   */
  static addTimer(seconds: number, fn: TimerCallback): Timer {
    if (typeof seconds !== 'number') throw invalidArgType('seconds', 'of type number', seconds);
    if (!Number.isFinite(seconds)) throw outOfRange('seconds', 'a finite number', seconds);
    validateFunction('fn', fn);
    const delay = seconds > 0 ? seconds * 1000 : 0;
    const timer = reactor.timers.add(monotonicMs(), delay, fn);
    // A new earliest timer, added between iterations of a waiting loop, must
    // shorten the wait: a pass recomputes it.
    if (reactor.timers.isFirst(timer)) reactor.requestPass();
    return timer;
  }

  /**
   * Runs the event loop inside Node's loop. The Promise resolves when a
   * post-loop callback returns a falsy value, and rejects with the exception
   * if an event handler, timer or callback throws (the loop's state is kept,
   * and `eventLoop()` can be called again).
   *
   * @throws Nothing synchronously. The Promise rejects with an Error `ERR_LOOP_RUNNING` when the
   *   loop already runs, and with the exception of a handler, timer or callback (unless an error
   *   handler isolates it, see `setErrorHandler`).
   * @original `Danga::Socket->EventLoop()`, which blocks; here it runs inside Node's loop and returns a Promise
   */
  static eventLoop(): Promise<void> {
    return reactor.start();
  }
}
