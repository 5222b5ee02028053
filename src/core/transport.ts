/**
 * The seam between the core (the semantics of Danga::Socket) and the engines
 * (how bytes move). The core never makes a syscall itself: every per-socket
 * operation goes through a Transport, so a native epoll socket and a socket
 * built on a Node stream can live side by side in one loop.
 */

/** An address as the helpers report it. */
export type SockAddress =
  | { readonly address: string; readonly port: number; readonly family: 'IPv4' | 'IPv6' }
  | { readonly path: string; readonly family: 'unix' };

/**
 * A socket as handed out by `listenTcp`, `connectTcp`, `listenUnix`,
 * `connectUnix`, `socketPair` and `accept()`, and taken by the DangaSocket
 * constructor.
 */
export interface Sock {
  /** The file descriptor (a negative id for a stream without one); -1 once closed. */
  readonly fd: number;
  /** True once closed. */
  readonly closed: boolean;
  /** The engine that moves its bytes. */
  readonly engine: EngineName;
  /** Accepts one pending connection of a listening socket; null when none is pending. */
  accept(): Sock | null;
  /** The local address, or null when it has none. */
  localAddress(): SockAddress | null;
  /** The peer's address, or null when not connected. */
  remoteAddress(): SockAddress | null;
  /** Closes the socket now (DangaSocket objects defer this to the end of the loop iteration). */
  close(): void;
  /**
   * The socket's pending error as a positive errno (SO_ERROR), 0 when none:
   * after a non-blocking connect turned writable, 0 means connected.
   */
  socketError(): number;
  /** TCP_NODELAY on or off (default on); ignored where it does not apply (Unix sockets, pairs). */
  setNoDelay(on?: boolean): void;
  /**
   * Half-closes the connection (shutdown(2)): 'write' sends end of stream to
   * the peer while reading goes on; 'read' and 'both' as shutdown(2) (the
   * stream engine can only shut the writing side). To shut down after queued
   * data is out: `obj.write(() => sock.shutdown('write'))`.
   */
  shutdown(how?: 'read' | 'write' | 'both'): void;
}

/** The names of the engines. */
export type EngineName = 'epoll' | 'node';

/** What a transport tells the loop about the object it serves. */
export interface TransportOwner {
  /** @internal the loop should look at this object's readiness on its next pass */
  _markReady(): void;
}

/**
 * Per-socket I/O, implemented by each engine. Return conventions follow the
 * native binding: numbers >= 0 on success, a negative errno on failure, so
 * that the hot path allocates no error objects.
 */
export interface Transport extends Sock {
  /**
   * The value `sock()` returns to the user: the Sock itself for native
   * sockets, the original stream for stream sockets.
   */
  readonly handle: unknown;
  /** Starts delivering events for `mask` to `owner`. Returns 0 or -errno. */
  attach(owner: TransportOwner, mask: number): number;
  /** Changes the interest mask. Returns 0 or -errno. */
  setInterest(mask: number): number;
  /** Stops delivering events (the object closed or gave its socket away). Returns 0 or -errno. */
  detach(): number;
  /**
   * Reads at most `max` bytes: a Buffer with data, an empty Buffer when
   * nothing is available now, null at end of stream or on error (the
   * negative errno is then in `lastError`).
   */
  read(max: number): Buffer | null;
  /** Writes `length` bytes of `buf` from `offset`; bytes written (0 when it can take nothing now) or -errno. */
  write(buf: Buffer, offset: number, length: number): number;
  /**
   * Writes `count` Buffers of `list` from `start` (the first from
   * `firstOffset`) in one go; bytes written or -errno.
   */
  writev(list: readonly unknown[], start: number, count: number, firstOffset: number): number;
  /** TCP_CORK on or off; 0 or -errno. */
  setCork(on: boolean): number;
  /**
   * For engines without kernel readiness: the readiness mask now, given the
   * interest mask (level-triggered: nonzero while the condition holds).
   */
  readiness?(): number;
  /** The negative errno of the last failed read, 0 if none. */
  readonly lastError: number;
}

/**
 * A driver runs loop iterations inside Node's loop. The native driver wakes
 * on the epoll fd (one crossing into JavaScript per iteration); the portable
 * driver wakes on Node timers when stream sockets become ready.
 */
export interface LoopDriver {
  readonly name: EngineName;
  /** Event pairs (fd, mask) filled before each call of the iteration function. */
  readonly events: Int32Array;
  /**
   * Starts the loop. `iterate(count)` is called for each iteration with the
   * number of event pairs in `events`; it returns the next wait's timeout in
   * ms, -1 to wait for events only, or -2 to stop.
   */
  start(iterate: (count: number) => number, timeoutMs: number): void;
  /** Re-arms the wait timeout (-1: none, 0: run an iteration as soon as possible). */
  arm(timeoutMs: number): void;
  /** Stops the loop. */
  stop(): void;
  /** Watches a foreign fd for readability (`on`) or stops watching it; 0 or -errno. */
  watchFd(fd: number, on: boolean): number;
}
