/**
 * Listener: accepts connections and hands each to a factory; the one place
 * where accepting under overload is handled (fd exhaustion, a connection
 * cap) and where a graceful shutdown stops accepting.
 */
import type { Sock, SockAddress } from './contract.js';
import { DangaSocket } from './danga-socket.js';
import { invalidArgType, outOfRange, stateError, systemError, validateFunction, validateInteger } from './errors.js';
import { kCloseHook, reactor } from './loop.js';
import { ProxyTrust, keepProxyInfo, readProxyHeader, type ProxyHeaderReader, type ProxyProtocolOptions } from './proxy-header-reader.js';
import type { Timer } from './timers.js';

/**
 * Makes the object that serves an accepted socket; it must return it (the Listener counts it until it closes).
 *
 * Its exception costs only its connection (see `Listener`).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export type ConnectionFactory = (sock: Sock, listener: Listener) => DangaSocket<object>;

/**
 * Options of a Listener.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface ListenerOptions {
  /**
   * Most connections open at once (0, the default: no cap). At the cap the
   * listener stops accepting (connections wait in the kernel's backlog) until
   * one of its connections closes.
   */
  maxConnections?: number;
  /** TCP_NODELAY on each accepted socket (default true: request/response servers meet Nagle otherwise). */
  noDelay?: boolean;
  /**
   * Seconds to wait before accepting again after the process ran out of file
   * descriptors (EMFILE/ENFILE) or memory for sockets (default 0.1). One of
   * the listener's connections closing retries at once.
   */
  acceptRetry?: number;
  /**
   * Most connections taken per readable event (default 256, so that a flood
   * of connects cannot hold the loop). 1 is nginx's `multi_accept off`: in a
   * `WorkerGroup`'s 'shared' mode (where it is the default) a burst of
   * connects then spreads over the workers instead of going to the first
   * one woken.
   */
  acceptBatch?: number;
  /**
   * The PROXY protocol (v1 and v2, as HAProxy's `send-proxy`/`send-proxy-v2`,
   * nginx's `proxy_protocol on`, Envoy and cloud network balancers send it):
   * every connection must start with a header, and only the `trusted`
   * sources may connect. The factory is called once the header is in, with
   * a Sock whose `remoteAddress()`/`localAddress()` report the header's
   * addresses (so do the connection's `peerIpString()` and the like); the
   * header's bytes never reach the connection, the bytes after it do.
   * `proxyInfo(conn)` gives the header (command, TLVs) and the balancer's
   * own address. Off by default.
   */
  proxyProtocol?: ProxyProtocolOptions;
}

/** Most connections taken in one readable event by default, so that a flood of connects cannot hold the loop. */
const ACCEPT_BATCH = 256;

/** accept() failures that mean the process (or system) is out of a resource, not that one connection failed. */
const OUT_OF_RESOURCES = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);
/** accept() failures of one connection (it went away before it was accepted): skip it and go on. */
const CONNECTION_GONE = new Set(['ECONNABORTED', 'EPROTO', 'EINTR']);

/**
 * A listening socket that accepts in a loop and hands each socket to
 * `factory`. It watches reads from the start; hangups and errors close it.
 *
 * Under overload it never spins and never goes silent: when accept() fails
 * because the process is out of file descriptors (EMFILE, ENFILE) the
 * listener calls `onAcceptError(err)` once per episode (the default emits
 * a `DANGA_ACCEPT_FAILED` warning), stops accepting, and tries again after
 * `acceptRetry` seconds or as soon as one of its connections closes; the
 * episode ends with the next successful accept. Waiting connections stay in
 * the kernel's backlog meanwhile (on the node engine, where Node accepts on
 * its own, libuv closes the excess and the engine's accept() reports EMFILE
 * once: see the README).
 *
 * A factory that throws, or returns something else than a DangaSocket, costs
 * only its connection: the socket is closed (with the object that took it,
 * if any). Without an error handler the exception then ends the loop, as
 * any handler's does (1.62); with one (`DangaSocket.setErrorHandler`) the
 * handler gets `(err, listener)` and the listener goes on accepting.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62): the accept loop every 1.62 server wrote in its listener's `event_read`
 */
export class Listener extends DangaSocket<Sock> {
  readonly #factory: ConnectionFactory;
  readonly #max: number;
  readonly #noDelay: boolean;
  readonly #retrySeconds: number;
  readonly #batch: number;
  /** The `proxyProtocol` option; absent (null) on most listeners. */
  readonly #proxy: ProxyTrust | null;
  /** Connections made here and not closed yet. */
  #open = 0;
  /** In an fd-exhaustion episode (reported once). */
  #overloaded = false;
  #retry: Timer | null = null;
  readonly #connectionClosed = (): void => {
    this.#open--;
    // A freed fd, or a free slot under the cap: accept again now.
    if (this.#overloaded || this.#max > 0) this.#resume();
  };

  /**
   * @param sock a listening socket (listenTcp, listenUnix, listenTls)
   * @param factory makes the object serving each accepted socket, and returns it
   * @param options maxConnections, noDelay, acceptRetry, acceptBatch, proxyProtocol
   *
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) when `factory` is not a function or `options` not an object; TypeError (code `ERR_INVALID_ARG_TYPE`) / RangeError (code `ERR_OUT_OF_RANGE`)
   *   for a bad `maxConnections`, `noDelay`, `acceptRetry` or `acceptBatch`; the same, or TypeError (code `ERR_INVALID_ARG_VALUE`), for a bad `proxyProtocol`; as the DangaSocket constructor for `sock`.
   */
  constructor(sock: Sock, factory: ConnectionFactory, options: ListenerOptions = {}) {
    validateFunction('factory', factory);
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    const max = options.maxConnections === undefined ? 0 : validateInteger('options.maxConnections', options.maxConnections, 0, 0x7fffffff);
    if (options.noDelay !== undefined && typeof options.noDelay !== 'boolean') throw invalidArgType('options.noDelay', 'of type boolean', options.noDelay);
    const retry = options.acceptRetry ?? 0.1;
    if (typeof retry !== 'number') throw invalidArgType('options.acceptRetry', 'of type number', retry);
    if (!(retry > 0 && retry <= 3600)) throw outOfRange('options.acceptRetry', 'a number of seconds > 0 and <= 3600', retry);
    const batch = options.acceptBatch === undefined ? ACCEPT_BATCH : validateInteger('options.acceptBatch', options.acceptBatch, 1, 65536);
    const proxy = options.proxyProtocol === undefined ? null : new ProxyTrust(options.proxyProtocol);
    super(sock);
    this.#batch = batch;
    this.#proxy = proxy;
    this.#factory = factory;
    this.#max = max;
    this.#noDelay = options.noDelay ?? true;
    this.#retrySeconds = retry;
    this[kCloseHook](() => {
      this.#retry?.cancel();
      this.#retry = null;
    });
    this.watchRead(true);
  }

  /**
   * Connections accepted here that are still open.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  connections(): number {
    return this.#open;
  }

  /**
   * Accepts what is waiting (up to a batch), handing each socket to the factory.
   *
   * @throws Nothing of its own: accept failures go to `onAcceptError`; a factory's exception closes its connection and goes to the error handler (or, without one, ends the loop, as in 1.62).
   * @original `$obj->event_read()`, overridden: the accept loop
   */
  override eventRead(): void {
    const listening = this.requireSock();
    for (let i = 0; i < this.#batch; i++) {
      if (this.#max > 0 && this.#open >= this.#max) {
        this.#pause();
        return;
      }
      let sock: Sock | null;
      try {
        sock = listening.accept();
      } catch (err) {
        if (CONNECTION_GONE.has(codeOf(err))) continue;
        this.#acceptFailed(err);
        return;
      }
      if (sock === null) return;
      this.#overloaded = false;
      reactor.stats.accepted++;
      if (this.#noDelay) sock.setNoDelay(true);
      this.#take(sock, false);
    }
  }

  /** An accepted socket: to the factory, or first to the `proxyProtocol` stage. */
  #take(sock: Sock, inShutdown: boolean): void {
    if (this.#proxy === null) this.#serve(sock, null, inShutdown);
    else this.#readHeader(sock, this.#proxy, inShutdown);
  }

  /** The `proxyProtocol` stage: the socket reaches the factory once its header is in. */
  #readHeader(sock: Sock, trust: ProxyTrust, inShutdown: boolean): void {
    let reader: ProxyHeaderReader | null;
    try {
      reader = readProxyHeader(
        sock,
        trust,
        (s, rest, shuttingDown) => void this.#serve(s, rest, shuttingDown || inShutdown),
        (reason, peer) => this.onProxyReject(reason, peer),
      );
    } catch (err) {
      sock.close();
      if (reactor.errorHandler === null) throw err;
      reactor.errorHandler(err, this);
      return;
    }
    // null: the header was there at once, and the factory has been called.
    if (reader === null || reader.closed) return;
    // It counts against maxConnections from now on: the connection it becomes takes its place.
    this.#open++;
    reader[kCloseHook](this.#connectionClosed);
    // Accepted in a shutdown: the connection it makes gets onShutdown().
    if (inShutdown) reader.onShutdown();
  }

  /**
   * Hands `sock` to the factory; `rest`: bytes read with the PROXY header
   * that belong to the connection; `shuttingDown`: a graceful shutdown began
   * (or before the socket was accepted): the connection gets onShutdown()
   * at once. Returns the connection (null: the factory failed, or it closed).
   */
  #serve(sock: Sock, rest: Buffer | null, shuttingDown: boolean): DangaSocket<object> | null {
    let conn: unknown;
    try {
      conn = this.#factory(sock, this);
      if (!(conn instanceof DangaSocket)) {
        throw stateError('ERR_INVALID_RETURN_VALUE', `The Listener factory must return the DangaSocket serving the connection. Received ${typeof conn}`);
      }
    } catch (err) {
      this.#drop(sock);
      // One connection's failure: with error isolation on, the error handler
      // hears of it and the listener goes on (closing the listener, as for
      // any other handler's exception, would stop the whole server).
      if (reactor.errorHandler === null) throw err;
      reactor.errorHandler(err, this);
      return null;
    }
    if (rest !== null) keepProxyInfo(sock, conn as DangaSocket<object>);
    if (conn.closed) return null;
    this.#open++;
    conn[kCloseHook](this.#connectionClosed);
    if (rest !== null && rest.length > 0) conn.pushBackRead(rest);
    if (shuttingDown) reactor.guard(conn, () => conn.onShutdown());
    return conn;
  }

  /**
   * A socket whose factory failed: closed, with the object that took it if
   * there is one (it could not be counted against maxConnections).
   */
  #drop(sock: Sock): void {
    if (sock.closed) return;
    const owner = DangaSocket.descriptorMap().get(sock.fd);
    if (owner !== undefined && owner.sock() === sock) owner.close('factory_failed');
    else sock.close();
  }

  /** accept() failed for want of a resource (or for an unknown reason): report once, pause, retry. */
  #acceptFailed(err: unknown): void {
    if (!this.#overloaded) {
      this.#overloaded = true;
      this.onAcceptError(err);
      if (this.closed) return;
    }
    this.#pause();
    this.#retry ??= DangaSocket.addTimer(this.#retrySeconds, () => {
      this.#retry = null;
      this.#resume();
    });
  }

  #pause(): void {
    this.watchRead(false);
  }

  #resume(): void {
    if (this.closed || (this.#max > 0 && this.#open >= this.#max)) return;
    // Reading again: the next readable event accepts, and ends the episode if it works.
    this.watchRead(true);
  }

  /**
   * accept() failed: once per episode of fd exhaustion, or for an error
   * that is not one connection going away. The default emits a warning
   * (code DANGA_ACCEPT_FAILED); the listener goes on either way (close it
   * here to stop).
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  onAcceptError(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    const why = OUT_OF_RESOURCES.has(codeOf(err)) ? 'out of file descriptors or socket memory' : 'accept failed';
    process.emitWarning(`${this.asString()}: ${why} (${message}); accepting again in ${this.#retrySeconds}s or when a connection closes`, {
      code: 'DANGA_ACCEPT_FAILED',
    });
  }

  /**
   * With the `proxyProtocol` option: a connection was closed before it
   * reached the factory. `reason` is its close reason (as counted in
   * `DangaSocket.stats().closed`): 'proxy_untrusted' (a peer not in
   * `trusted`), 'proxy_timeout' (no complete header in time), 'proxy_eof'
   * (the peer closed, or the connection failed, first), or `proxy_<why>`
   * for an invalid header (`ProxyHeaderError`: 'proxy_signature',
   * 'proxy_v1_malformed', …). `peer` is the socket's own peer address. The
   * default does nothing more; override it to log, or to count by source.
   *
   * @throws Nothing (its own exceptions, as a handler's).
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  onProxyReject(_reason: string, _peer: SockAddress | null): void {}

  /**
   * The listening socket failed (a node-engine listen failure reported late): reported, then closed.
   *
   * @throws Nothing.
   * @original `$obj->event_err()`, overridden
   */
  override eventErr(err?: Error): void {
    this.onAcceptError(err ?? systemError(-5, 'listen'));
    this.close('error');
  }

  /**
   * Hangup: closes the listener.
   *
   * @throws Nothing.
   * @original `$obj->event_hup()`, overridden
   */
  override eventHup(): void {
    this.close('hup');
  }

  /**
   * Graceful shutdown: stop accepting (connections already accepted finish on their own).
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  override onShutdown(): void {
    const sock = this.sock();
    // The node engine accepts on its own (libuv takes every connection the
    // kernel has as soon as it can): what it took and did not hand out yet
    // is this listener's, and would be reset by the close. Serve those, in
    // shutdown too, rather than drop them. (On the epoll engine they are
    // still in the kernel's queue: for the next worker of a group, or reset
    // by the close where nothing else holds the socket, as in 1.62.)
    if (sock !== null && sock.engine === 'node') {
      // (Until the deferred close at the end of the iteration, Node would go on taking connections in.)
      (sock as { stopListening?: () => void }).stopListening?.();
      let next: Sock | null;
      try {
        while ((next = sock.accept()) !== null) {
          reactor.stats.accepted++;
          if (this.#noDelay) next.setNoDelay(true);
          this.#take(next, true);
        }
      } catch {
        // (out of fds: what is left is dropped with the listener)
      }
    }
    this.close('shutdown');
  }
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}
