/**
 * HealthCheck: the endpoint a load balancer's HTTP health check asks, on a
 * port of its own, and the drain sequence that takes a server out of
 * rotation without cutting a request: answer "draining" until the balancer
 * has seen it, then shut down gracefully.
 */
import type { Sock } from './contract.js';
import { Connection } from './connection.js';
import { DangaSocket } from './danga-socket.js';
import { invalidArgType, outOfRange, validateInteger } from './errors.js';
import { Listener } from './listener.js';
import type { Timer } from './timers.js';

/**
 * Options of `HealthCheck.drain()` and `HealthCheck.drainAndShutdown()`.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface DrainOptions {
  /**
   * How many health checks must have been answered "draining" before the
   * balancer is taken to have seen it (default 3). Set it to the
   * balancer's failure threshold plus one (HAProxy's `fall` + 1): a
   * balancer checks one at a time, so the check after the last failing one
   * shows that the failure was counted, and the server taken out of rotation.
   */
  checks?: number;
  /**
   * Seconds to wait for those checks at most (default 30): without a
   * balancer asking, the drain ends then.
   */
  timeout?: number;
}

/**
 * Options of `HealthCheck.drainAndShutdown()`: those of `drain()`, and the graceful shutdown's.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface DrainAndShutdownOptions extends DrainOptions {
  /** The graceful shutdown's timeout in seconds (`DangaSocket.shutdown({ timeout })`, default 30). */
  shutdownTimeout?: number;
}

/** Bytes of a request's head read at most (what a balancer sends is far shorter). */
const MAX_REQUEST = 8192;
/** Seconds a health check connection may stay silent. */
const IDLE_SECONDS = 10;

/**
 * An HTTP health check endpoint for a load balancer, on its own listening
 * socket: every request (any method, any path) is answered
 * `200 OK` with body "up" while the server is in service, and
 * `503 Service Unavailable` with body "draining" from the moment it drains:
 * `drain()`, or a graceful shutdown (`DangaSocket.shutdown()`) started any
 * other way, until its listeners close. Each answer closes its connection
 * (HTTP/1.0, `Connection: close`). HAProxy: `option httpchk GET /health`
 * and `http-check expect status 200`; nginx, Envoy, Kubernetes and cloud
 * balancers' HTTP checks work the same way.
 *
 * The drain sequence, from a signal handler: `drainAndShutdown()`, or
 * `await drain()` (the balancer has stopped sending new connections) then
 * `DangaSocket.shutdown()` (listeners close, connections finish).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export class HealthCheck extends Listener {
  #draining = false;
  /** Health checks answered "draining". */
  #drainedChecks = 0;
  /** A drain() waiting for checks; absent (null) but while draining. */
  #waiting: { checks: number; resolve: () => void; deadline: Timer } | null = null;

  /**
   * @param sock a listening socket of its own (listenTcp; not the service's port)
   *
   * @throws as the `Listener` constructor.
   */
  constructor(sock: Sock) {
    super(sock, (s, listener) => new HealthAnswer(s, listener as HealthCheck));
  }

  /**
   * True from `drain()` or the start of a graceful shutdown on.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Health checks answered "draining" so far.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  get drainedChecks(): number {
    return this.#drainedChecks;
  }

  /**
   * Starts answering "draining" (for good). Resolves once `checks` health
   * checks have been answered so, or after `timeout` seconds: then the
   * balancer no longer sends new connections, and a graceful shutdown cuts
   * none.
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) / RangeError (code `ERR_OUT_OF_RANGE`) for bad options.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  drain(options: DrainOptions = {}): Promise<void> {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    const checks = options.checks === undefined ? 3 : validateInteger('options.checks', options.checks, 0, 1000);
    const timeout = options.timeout ?? 30;
    if (typeof timeout !== 'number') throw invalidArgType('options.timeout', 'of type number', timeout);
    if (!(timeout >= 0 && timeout <= 3600)) throw outOfRange('options.timeout', 'a number of seconds >= 0 and <= 3600', timeout);
    this.#draining = true;
    this.#waiting?.resolve();
    const target = this.#drainedChecks + checks;
    if (checks === 0 || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        if (this.#waiting?.resolve !== finish) return;
        this.#waiting.deadline.cancel();
        this.#waiting = null;
        resolve();
      };
      this.#waiting = { checks: target, resolve: finish, deadline: DangaSocket.addTimer(timeout, finish) };
    });
  }

  /**
   * The whole drain sequence: `drain(options)`, then
   * `DangaSocket.shutdown({ timeout: options.shutdownTimeout })`. Resolves
   * when the shutdown is complete.
   *
   * @throws as `drain()`; RangeError (code `ERR_OUT_OF_RANGE`) / TypeError (code `ERR_INVALID_ARG_TYPE`) for a bad `shutdownTimeout`.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  async drainAndShutdown(options: DrainAndShutdownOptions = {}): Promise<void> {
    const shutdownTimeout = options?.shutdownTimeout ?? 30;
    if (typeof shutdownTimeout !== 'number') throw invalidArgType('options.shutdownTimeout', 'of type number', shutdownTimeout);
    await this.drain(options);
    await DangaSocket.shutdown({ timeout: shutdownTimeout });
  }

  /** @internal an answer went out: counts the drained ones. */
  answered(draining: boolean): void {
    if (!draining) return;
    this.#drainedChecks++;
    const w = this.#waiting;
    if (w !== null && this.#drainedChecks >= w.checks) w.resolve();
  }

  /**
   * A graceful shutdown began: answer "draining" until the other
   * listeners have closed (they close in this same pass), then close.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  override onShutdown(): void {
    this.#draining = true;
    this.#waiting?.resolve();
    DangaSocket.addTimer(0, () => this.close('shutdown'));
  }
}

/** One health check: reads the request's head, answers, closes. */
class HealthAnswer extends Connection {
  readonly #check: HealthCheck;

  constructor(sock: Sock, check: HealthCheck) {
    super(sock);
    this.#check = check;
    // A check that sends no request does not hold a shutdown for long.
    this.setIdleTimeout(IDLE_SECONDS);
  }

  override eventRead(): void {
    let head: Buffer | undefined | null;
    try {
      head = this.readUntil('\r\n\r\n', MAX_REQUEST);
    } catch {
      this.close('health_bad_request');
      return;
    }
    if (head === undefined) return;
    if (head === null) {
      this.close('eof');
      return;
    }
    const draining = this.#check.draining;
    const body = draining ? 'draining\n' : 'up\n';
    const status = draining ? '503 Service Unavailable' : '200 OK';
    const isHead = head.subarray(0, 5).toString('latin1') === 'HEAD ';
    this.write(
      `HTTP/1.0 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${isHead ? '' : body}`,
    );
    this.#check.answered(draining);
    this.end();
  }

  override onShutdown(): void {
    // Nothing: it answers ("draining") and closes on its own, or the idle timeout closes it.
  }
}
