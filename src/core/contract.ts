/**
 * The contract between the core (the semantics of Danga::Socket) and the
 * engines (how bytes move and how the loop wakes up). This file is the only
 * one an engine imports from the core.
 *
 * The shape is libuv's: a socket reaches the loop through one registration
 * call (`Transport.attach`) and reports through one callback (the driver's
 * event batch for kernel readiness, `onReady` for readiness an engine
 * computes itself). Every per-socket operation returns a number (>= 0, or a
 * negative errno) rather than throwing, so the hot path allocates no error
 * objects and one place in the core (`core/errors.ts`) makes every Error.
 */
import type { Duplex } from 'node:stream';

/**
 * The names of the engines ('sim': the simulated network of `danga-socket/sim`, inside `simulate()`
 * or process-wide with `DANGA_ENGINE=sim`).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62) (`DangaSocket.engine()`)
 */
export type EngineName = 'epoll' | 'node' | 'sim';

/**
 * An address as the helpers report it.
 *
 * @original what IO::Socket's `sockhost`/`sockport` and `peerhost`/`peerport` give, in one object
 */
export type SockAddress =
  | {
      /** The IP address as a literal: '127.0.0.1', '::1'. */
      readonly address: string;
      /** The port. */
      readonly port: number;
      /** Which IP version. */
      readonly family: 'IPv4' | 'IPv6';
    }
  | {
      /** The path of the Unix domain socket. */
      readonly path: string;
      /** A Unix domain socket. */
      readonly family: 'unix';
    };

/**
 * A socket as handed out by `listenTcp`, `connectTcp`, `listenUnix`,
 * `connectUnix`, `socketPair` and `accept()`, and taken by the DangaSocket
 * constructor.
 *
 * @throws see each member; the helpers that make Socks throw for bad arguments and for failed
 *   `socket`/`bind`/`listen` calls (system errors with `code`, `errno`, `syscall`).
 * @original the IO::Socket handle a 1.62 object wraps (`$obj->sock`)
 */
export interface Sock {
  /**
   * The file descriptor (a negative id for a stream without one); -1 once closed.
   *
   * @throws Nothing.
   * @original `fileno($sock)`
   */
  readonly fd: number;
  /**
   * True once closed.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  readonly closed: boolean;
  /**
   * The engine that moves its bytes.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  readonly engine: EngineName;
  /**
   * Accepts one pending connection of a listening socket; null when none is pending.
   *
   * @throws a system error when accept(2) fails for a reason other than no connection waiting (EMFILE, ENFILE, ENOBUFS, …); `Listener` handles these.
   * @original `$sock->accept` (IO::Socket)
   */
  accept(): Sock | null;
  /**
   * The local address, or null when it has none.
   *
   * @throws Nothing.
   * @original `getsockname` (IO::Socket's `sockhost`/`sockport`)
   */
  localAddress(): SockAddress | null;
  /**
   * The peer's address, or null when not connected.
   *
   * @throws Nothing.
   * @original `getpeername` (IO::Socket's `peerhost`/`peerport`)
   */
  remoteAddress(): SockAddress | null;
  /**
   * Closes the socket now (DangaSocket objects defer this to the end of the loop iteration).
   *
   * @throws Nothing.
   * @original `close($sock)`
   */
  close(): void;
  /**
   * The socket's pending error as a positive errno (SO_ERROR), 0 when none:
   * after a non-blocking connect turned writable, 0 means connected.
   *
   * @throws Nothing.
   * @original `getsockopt($sock, SOL_SOCKET, SO_ERROR)`
   */
  socketError(): number;
  /**
   * TCP_NODELAY on or off (default on); ignored where it does not apply (Unix sockets, pairs).
   *
   * @throws Nothing.
   * @original `setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1)`
   */
  setNoDelay(on?: boolean): void;
  /**
   * Half-closes the connection (shutdown(2)): 'write' sends end of stream to
   * the peer while reading goes on; 'read' and 'both' as shutdown(2) (the
   * node engine can only shut the writing side). To shut down after queued
   * data is out: `obj.write(() => sock.shutdown('write'))`.
   *
   * @throws Nothing.
   * @original `shutdown($sock, $how)`
   */
  shutdown(how?: 'read' | 'write' | 'both'): void;
}

/**
 * Options of `startTls()`: those of `tls.TLSSocket` plus `isServer`
 * (default false: this end is the TLS client) and, for clients,
 * `servername` and `checkServerIdentity` as `tls.connect` takes them.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface StartTlsOptions {
  /**
   * True: this end is the TLS server (needs `key` and `cert`); default false, the client.
   */
  isServer?: boolean;
  [option: string]: unknown;
}

/**
 * Per-socket I/O, implemented by each engine. Numbers >= 0 mean success, a
 * negative errno failure.
 */
export interface Transport extends Sock {
  /**
   * The value `sock()` returns to the user: the Sock itself for sockets the
   * helpers made, the original stream for a stream given to the constructor.
   */
  readonly handle: unknown;
  /**
   * Registers the socket with the loop, interested in `mask` (POLLIN,
   * POLLOUT; errors and hangups are always reported). Kernel readiness
   * arrives in the driver's event batch under `fd`; an engine that computes
   * readiness itself calls `onReady` whenever it may have changed, and the
   * loop then asks `readiness()`. Registering again replaces the previous
   * registration. Returns 0 or -errno.
   */
  attach(mask: number, onReady: () => void): number;
  /** Changes the interest mask. Returns 0 or -errno. */
  setInterest(mask: number): number;
  /** Stops reporting readiness (the object closed or gave its socket away). Returns 0 or -errno. */
  detach(): number;
  /**
   * For engines without kernel readiness: the readiness mask now, given the
   * interest mask (level-triggered: nonzero while the condition holds).
   */
  readiness?(): number;
  /**
   * Reads at most `max` bytes: a Buffer with data, an empty Buffer when
   * nothing is available now, null at end of stream or on error (the
   * negative errno is then in `lastError`).
   */
  read(max: number): Buffer | null;
  /** The negative errno of the last failed read, 0 if none. */
  readonly lastError: number;
  /**
   * Optional: the Error the engine keeps for a failed connection (the node
   * engine: the stream's error, a TLS error included); reading it clears
   * nothing. Engines without it have the kernel's error in `socketError()`.
   */
  readonly error?: Error | null;
  /** Writes `length` bytes of `buf` from `offset`; bytes written, -EAGAIN when it can take nothing now, or -errno. */
  write(buf: Buffer, offset: number, length: number): number;
  /**
   * Writes `count` Buffers of `list` from `start` (the first from
   * `firstOffset`) in one go; bytes written or -errno. The caller
   * guarantees that each entry is a Buffer and the range is valid.
   */
  writev(list: readonly unknown[], start: number, count: number, firstOffset: number): number;
  /**
   * Optional: sends `count` bytes of the regular file `fileFd` from
   * `position` without them entering user space (sendfile(2)); bytes sent,
   * 0 when the file ends at `position`, -EAGAIN when the socket takes
   * nothing now, or -errno. A transport without it gets file ranges as
   * Buffers through `write` (the core reads them).
   */
  sendFile?(fileFd: number, position: number, count: number): number;
  /** TCP_CORK on or off; 0 or -errno. */
  setCork(on: boolean): number;
  /**
   * Gives the connection up as a Node stream (for STARTTLS): the transport
   * is detached and counts as released; bytes it had read and not handed
   * out stay in the stream. Its descriptor number stays reserved until
   * `close()` (a native socket hands Node a dup of its fd and closes its
   * own only then), so the loop's map never sees the number reused while the
   * object is still filed under it.
   */
  release(): Duplex;
}

/**
 * Runs loop iterations inside Node's loop. Created once, when the engine is
 * installed (the epoll engine creates its epoll fd then).
 */
export interface LoopDriver {
  /** Event pairs (fd, mask), filled before each call of the iteration function. */
  readonly events: Int32Array;
  /**
   * Starts the loop. `iterate(count)` is called for each iteration with the
   * number of event pairs in `events`; it returns the next wait's timeout in
   * ms, or -1 to wait for events only. The first iteration runs after
   * `timeoutMs` (0: on the next turn of Node's loop; -1: on events only).
   */
  start(iterate: (count: number) => number, timeoutMs: number): void;
  /**
   * Asks for an iteration within `timeoutMs` (0: on the next turn of Node's
   * loop, never before Node's own timers and I/O had theirs). Callable at
   * any time, during an iteration and in the promise jobs after it included;
   * the shortest wait asked for wins over the iteration's return value.
   */
  arm(timeoutMs: number): void;
  /**
   * Stops the loop: no more iterations, nothing of the driver keeps the
   * process alive. A stop() made during an iteration wins over its return
   * value; a start() after it begins a new run whose wake-ups all count.
   */
  stop(): void;
  /** Watches a foreign fd for readability (`on`) or stops watching it; 0 or -errno. */
  watchFd(fd: number, on: boolean): number;
}

/**
 * An engine, as the composition root installs it. Arguments reach it
 * validated by the core or the helpers.
 */
export interface Engine {
  readonly name: EngineName;
  /** The loop driver (called once, at installation). */
  createDriver(): LoopDriver;
  /** The transport for `sock`, or null when this engine does not drive that kind of value. */
  adopt(sock: unknown): Transport | null;
  /**
   * STARTTLS: validates `options` (nothing changes hands when they are bad),
   * then continues the connection of `old` (already detached) as TLS, with
   * `unread` (bytes pushed back and not consumed) fed to TLS first.
   */
  startTls(old: Transport, options: StartTlsOptions, unread: readonly Buffer[]): Transport;
  listenTcp(host: string, port: number, backlog: number, reusePort: boolean): Sock;
  /**
   * A listening socket over `fd`, an fd this environment now owns (a dup
   * made for it: closing it leaves other fds of the same socket listening).
   * `exclusive`: register it with EPOLLEXCLUSIVE (one socket shared by
   * several loops, each woken alone); engines without it ignore the flag.
   */
  listenFd(fd: number, exclusive: boolean): Sock;
  connectTcp(host: string, port: number): Sock;
  /** A listening socket whose accepted connections are TLS; `options` as tls.createSecureContext and the server TLS options take them. */
  listenTls(host: string, port: number, backlog: number, options: Record<string, unknown>): Sock;
  /** A TLS client connection; `options` as tls.connect takes them. */
  connectTls(host: string, port: number, options: Record<string, unknown>): Sock;
  listenUnix(path: string, backlog: number): Sock;
  connectUnix(path: string): Sock;
  socketPair(): [Sock, Sock];
}

/**
 * A clock the loop reads time from: the real one, or a simulation's virtual
 * clock (core/timers.ts's setClock; an embedder lends one with the engine).
 */
export interface Clock {
  /** Milliseconds on a monotonic clock. */
  monotonicMs(): number;
  /** Seconds since the epoch, for a reading of `monotonicMs()`. */
  epochSeconds(monoMs: number): number;
}
