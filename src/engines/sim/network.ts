/**
 * The simulated network: a virtual clock, a queue of future events
 * (segments arriving, connects answered), the descriptor numbers, the
 * listening sockets, the seeded PRNG every fault draws from, and the trace.
 * It works on endpoints (endpoint.ts: the kernel's state of each socket):
 * every syscall of a simulated socket (accept, read, write, shutdown,
 * close, the epoll registration) is carried out here, and every fault drawn
 * for a socket is drawn here, so that the order of the PRNG's draws is the
 * order of this file's code. SimSock (sim-sock.ts) only forwards to it.
 *
 * Everything happens in an order the seed decides: events at equal times
 * run in the order they were scheduled, sockets whose readiness changed are
 * reported in an order the PRNG shuffles, and nothing iterates over an
 * unordered collection. The same seed and the same code give the same
 * trace, byte for byte.
 *
 * What TCP promises holds under every fault: the bytes of one direction
 * arrive in the order written (arrival times never decrease), or, after a
 * reset, not at all.
 */
import { constants as osConstants } from 'node:os';
import type { SockAddress } from '../../core/contract.js';
import { systemError } from '../../core/errors.js';
import type { ResolvedFaults } from './faults.js';
import { Prng } from './prng.js';
import { Endpoint, Pipe } from './endpoint.js';
import { EventQueue } from './events.js';
import { fmtTime, Trace } from './trace.js';

const E = osConstants.errno;
const EMPTY = Buffer.alloc(0);
/** The first port handed out for port 0 and for connecting ends, as Linux's ip_local_port_range. */
const EPHEMERAL_FIRST = 32768;
const EPHEMERAL_LAST = 60999;

/** Options of the network (resolved by simulate()). */
export interface NetworkOptions {
  readonly seed: number;
  readonly faults: ResolvedFaults;
  /** The wall clock at virtual time 0, in seconds since the epoch. */
  readonly epoch: number;
  /** The process's descriptor limit (RLIMIT_NOFILE): a socket past it fails with EMFILE. */
  readonly maxFds: number;
  /** Keep the whole trace in memory (else only its digest and its last TRACE_TAIL events). */
  readonly keepTrace: boolean;
  /** Says which object a closing socket's fd belonged to and why it closed, for the trace ('' for nothing; Reactor.describeFd). */
  readonly describeFd?: (fd: number) => string;
}

/** The simulated network of one simulation. */
export class SimNetwork {
  readonly prng: Prng;
  readonly faults: ResolvedFaults;
  readonly epoch: number;
  /** Virtual time, ms. */
  now = 0;
  /** When something last moved (bytes, a connection, a close): the watchdog's reference. */
  lastProgress = 0;
  /** How many times something moved (progress() calls). */
  progressCount = 0;
  /** Sockets whose readiness may have changed since they were last reported. */
  readonly dirty = new Set<Endpoint>();
  /** Called when a socket's readiness may have changed or an event is scheduled: a parked runner wakes up (runner.ts). */
  onActivity: (() => void) | null = null;
  readonly #maxFds: number;
  readonly #describeFd: ((fd: number) => string) | null;
  readonly #events = new EventQueue();
  readonly #trace: Trace;
  /** fd -> in use; 0, 1 and 2 are the standard streams. */
  readonly #fds: boolean[] = [true, true, true];
  #openFds = 3;
  readonly #listeners = new Map<string, Endpoint>();
  #nextPort = EPHEMERAL_FIRST;
  #nextId = 1;

  constructor(options: NetworkOptions) {
    this.prng = new Prng(options.seed);
    this.faults = options.faults;
    this.epoch = options.epoch;
    this.#maxFds = options.maxFds;
    this.#describeFd = options.describeFd ?? null;
    this.#trace = new Trace(options.keepTrace);
  }

  // ---------------------------------------------------------------- trace

  /** Adds an event to the trace, stamped with the virtual time. */
  log(event: string): void {
    this.#trace.log(this.now, event);
  }

  /** Events in the trace so far. */
  get traceLength(): number {
    return this.#trace.length;
  }

  /** The whole trace, when kept; else null. */
  get trace(): string[] | null {
    return this.#trace.lines;
  }

  /** The last TRACE_TAIL events, oldest first. */
  tail(): string[] {
    return this.#trace.tail();
  }

  /** The sha256 of the trace (each event followed by a newline), hex. */
  digest(): string {
    return this.#trace.digest();
  }

  /** Something moved: the watchdog starts over. */
  progress(): void {
    this.lastProgress = this.now;
    this.progressCount++;
  }

  // ---------------------------------------------------------------- time and events

  /** Runs `fn` at virtual time `at` (events at equal times run in the order scheduled). */
  schedule(at: number, fn: () => void): void {
    this.#events.push(at, fn);
    this.onActivity?.();
  }

  /** When the next event is due; Infinity when none is scheduled. */
  nextEventAt(): number {
    return this.#events.nextAt();
  }

  /** Runs the events due by now, in order (those they schedule for now included). */
  runDue(): void {
    for (let fn = this.#events.popDue(this.now); fn !== null; fn = this.#events.popDue(this.now)) fn();
  }

  // ---------------------------------------------------------------- readiness

  /** `sock`'s readiness may have changed: it is looked at before the next iteration. */
  markDirty(sock: Endpoint): void {
    if (!sock.closed) {
      this.dirty.add(sock);
      this.onActivity?.();
    }
  }

  /**
   * Reports the sockets whose readiness changed to the loop, in an order the
   * PRNG picks; with the lateReadiness fault some wait for the next round.
   */
  flushReadiness(): void {
    if (this.dirty.size === 0) return;
    const list = Array.from(this.dirty);
    this.dirty.clear();
    if (list.length > 1) this.prng.shuffle(list);
    const late = this.faults.lateReadiness;
    for (const sock of list) {
      if (sock.closed || sock.onReady === null) continue;
      const mask = sock.readiness();
      if (mask === 0) continue;
      if (this.prng.chance(late)) {
        this.log(`late ${sock.name}`);
        this.dirty.add(sock);
        continue;
      }
      this.log(`ready ${sock.name} ${sock.readinessText()}`);
      sock.onReady();
    }
  }

  // ---------------------------------------------------------------- descriptors

  /** The lowest free descriptor number, as the kernel allocates them; -EMFILE past the limit. */
  allocFd(): number {
    if (this.#openFds >= this.#maxFds) return -E.EMFILE;
    const fds = this.#fds;
    let fd = 3;
    while (fd < fds.length && fds[fd] === true) fd++;
    fds[fd] = true;
    this.#openFds++;
    return fd;
  }

  #freeFd(fd: number): void {
    if (fd < 0 || this.#fds[fd] !== true) return;
    this.#fds[fd] = false;
    this.#openFds--;
  }

  /** Descriptors in use, the standard streams included. */
  get openFds(): number {
    return this.#openFds;
  }

  #port(): number {
    for (let tries = 0; tries <= EPHEMERAL_LAST - EPHEMERAL_FIRST; tries++) {
      const port = this.#nextPort;
      this.#nextPort = port >= EPHEMERAL_LAST ? EPHEMERAL_FIRST : port + 1;
      if (!this.#listeners.has(`tcp:${port}`)) return port;
    }
    throw systemError(-E.EADDRNOTAVAIL, 'bind');
  }

  // ---------------------------------------------------------------- sockets

  /** listen(2) on host:port (the simulated machine answers on every address). */
  listenTcp(host: string, port: number, backlog: number): Endpoint {
    const p = port === 0 ? this.#port() : port;
    const key = `tcp:${p}`;
    const existing = this.#listeners.get(key);
    if (existing !== undefined) {
      const where = existing.local as { address: string };
      // Two specific addresses may share a port; a wildcard takes it whole.
      if (isWildcard(host) || isWildcard(where.address) || where.address === host) {
        throw systemError(-E.EADDRINUSE, 'bind', { address: host, port: p });
      }
    }
    const fd = this.allocFd();
    if (fd < 0) throw systemError(fd, 'socket');
    const sock = new Endpoint('listen', false, fd, this.#nextId++, ipAddr(host, p), null);
    sock.backlog = Math.max(1, backlog);
    sock.listenKey = key;
    if (existing === undefined) this.#listeners.set(key, sock);
    else this.#listeners.set(`${key}@${host}`, sock);
    this.log(`listen ${sock.name} ${host}:${p}`);
    return sock;
  }

  /** listen(2) on a Unix socket path. */
  listenUnix(path: string, backlog: number): Endpoint {
    checkUnixPath(path, 'bind');
    const key = `unix:${path}`;
    if (this.#listeners.has(key)) throw systemError(-E.EADDRINUSE, 'bind', { path });
    const fd = this.allocFd();
    if (fd < 0) throw systemError(fd, 'socket');
    const sock = new Endpoint('listen', true, fd, this.#nextId++, { path, family: 'unix' }, null);
    sock.backlog = Math.max(1, backlog);
    sock.listenKey = key;
    this.#listeners.set(key, sock);
    this.log(`listen ${sock.name} ${path}`);
    return sock;
  }

  #findTcpListener(host: string, port: number): Endpoint | null {
    const specific = this.#listeners.get(`tcp:${port}@${host}`);
    if (specific !== undefined) return specific;
    const first = this.#listeners.get(`tcp:${port}`);
    if (first === undefined) return null;
    const addr = (first.local as { address: string }).address;
    return isWildcard(addr) || addr === host ? first : null;
  }

  /** A non-blocking connect(2): the socket now, the answer after the connection's delay (twice: there and back). */
  connectTcp(host: string, port: number): Endpoint {
    const fd = this.allocFd();
    if (fd < 0) throw systemError(fd, 'socket');
    const f = this.faults;
    const delay = this.prng.range(f.delay);
    const bandwidth = this.prng.range(f.bandwidth);
    const window = Math.max(1, Math.floor(this.prng.range(f.buffer)));
    const localIp = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    const client = new Endpoint('stream', false, fd, this.#nextId++, ipAddr(localIp, this.#port()), ipAddr(host, port));
    client.connecting = true;
    this.log(`connect ${client.name} ${host}:${port} delay=${fmtTime(delay)}`);
    this.schedule(this.now + delay, () => {
      if (client.closed) return;
      const listener = this.#findTcpListener(host, port);
      let refused = listener === null || listener.queue.length >= listener.backlog;
      if (!refused && this.prng.chance(f.refuse)) {
        this.log(`fault refuse ${client.name}`);
        refused = true;
      }
      if (refused || listener === null) {
        this.schedule(this.now + delay, () => {
          if (client.closed) return;
          client.connecting = false;
          client.reset = true;
          client.error = E.ECONNREFUSED;
          this.log(`refused ${client.name}`);
          this.markDirty(client);
        });
        return;
      }
      const server = new Endpoint('stream', false, -1, this.#nextId++, listener.local, client.local);
      this.#link(client, server, delay, bandwidth, window);
      listener.queue.push(server);
      this.log(`syn ${listener.name} <- ${client.name} as ${server.name}`);
      this.markDirty(listener);
      this.schedule(this.now + delay, () => {
        if (client.closed || !client.connecting) return;
        client.connecting = false;
        this.log(`connected ${client.name}`);
        this.progress();
        this.markDirty(client);
      });
    });
    return client;
  }

  /** connect(2) to a Unix socket path: connected at once, queued on the listener. */
  connectUnix(path: string): Endpoint {
    checkUnixPath(path, 'connect');
    const listener = this.#listeners.get(`unix:${path}`);
    if (listener === undefined) throw systemError(-E.ENOENT, 'connect', { path });
    if (listener.queue.length >= listener.backlog) throw systemError(-E.EAGAIN, 'connect', { path });
    const fd = this.allocFd();
    if (fd < 0) throw systemError(fd, 'socket');
    const window = Math.max(1, Math.floor(this.prng.range(this.faults.buffer)));
    const client = new Endpoint('stream', true, fd, this.#nextId++, { path: '', family: 'unix' }, { path, family: 'unix' });
    const server = new Endpoint('stream', true, -1, this.#nextId++, { path, family: 'unix' }, { path: '', family: 'unix' });
    this.#link(client, server, 0, Infinity, window);
    listener.queue.push(server);
    this.log(`connect ${client.name} ${path}; queued ${server.name} on ${listener.name}`);
    this.markDirty(listener);
    this.markDirty(client);
    return client;
  }

  /** socketpair(2): two connected Unix ends. */
  socketPair(): [Endpoint, Endpoint] {
    const fa = this.allocFd();
    if (fa < 0) throw systemError(fa, 'socketpair');
    const fb = this.allocFd();
    if (fb < 0) {
      this.#freeFd(fa);
      throw systemError(fb, 'socketpair');
    }
    const window = Math.max(1, Math.floor(this.prng.range(this.faults.buffer)));
    const addr: SockAddress = { path: '', family: 'unix' };
    const a = new Endpoint('stream', true, fa, this.#nextId++, addr, addr);
    const b = new Endpoint('stream', true, fb, this.#nextId++, addr, addr);
    this.#link(a, b, 0, Infinity, window);
    this.log(`pair ${a.name} ${b.name}`);
    return [a, b];
  }

  #link(a: Endpoint, b: Endpoint, delay: number, bandwidth: number, window: number): void {
    a.peer = b;
    b.peer = a;
    a.out = new Pipe(b, delay, bandwidth, window);
    b.out = new Pipe(a, delay, bandwidth, window);
  }

  /** accept(2) on `listener`. */
  accept(listener: Endpoint): Endpoint | null {
    const queue = listener.queue;
    if (queue.length === 0) return null;
    if (this.prng.chance(this.faults.acceptError)) {
      const err = this.prng.chance(0.5) ? E.EMFILE : E.ENFILE;
      this.log(`accept ${listener.name} ${err === E.EMFILE ? 'EMFILE' : 'ENFILE'}*`);
      throw systemError(-err, 'accept');
    }
    const fd = this.allocFd();
    if (fd < 0) {
      this.log(`accept ${listener.name} EMFILE`);
      throw systemError(fd, 'accept');
    }
    const sock = queue.shift() as Endpoint;
    const was = sock.name;
    sock.fd = fd;
    this.log(`accept ${listener.name} ${was} as ${sock.name}`);
    this.progress();
    return sock;
  }

  // ---------------------------------------------------------------- a socket's syscalls (SimSock's)

  /** The loop registers `sock` (epoll_ctl ADD): `onReady` is called when its readiness is reported. */
  attach(sock: Endpoint, mask: number, onReady: () => void): number {
    if (sock.closed) return -E.EBADF;
    sock.onReady = onReady;
    sock.mask = mask;
    this.markDirty(sock);
    return 0;
  }

  /** epoll_ctl MOD. */
  setInterest(sock: Endpoint, mask: number): number {
    if (sock.closed) return -E.EBADF;
    sock.mask = mask;
    if (sock.readiness() !== 0) this.markDirty(sock);
    return 0;
  }

  /** epoll_ctl DEL. */
  detach(sock: Endpoint): number {
    sock.onReady = null;
    sock.mask = 0;
    return 0;
  }

  /** getsockopt(SO_ERROR): the pending error (positive errno), now cleared; EBADF once closed. */
  socketError(sock: Endpoint): number {
    if (sock.closed) return E.EBADF;
    const e = sock.error;
    sock.error = 0;
    return e;
  }

  /**
   * read(2) of up to `max` bytes: the bytes (an empty Buffer for EAGAIN), 0
   * at end of stream, or -errno. Draws the faults readEagain, reset and
   * shortRead, in that order.
   */
  read(sock: Endpoint, max: number): Buffer | number {
    if (sock.closed) return -E.EBADF;
    if (sock.kind === 'listen' || sock.connecting) return EMPTY;
    if (sock.rcvBytes > 0) {
      const f = this.faults;
      // A spurious wakeup; never while an error is pending, when the kernel's answer is definite.
      if (sock.error === 0 && !sock.reset && this.prng.chance(f.readEagain)) {
        this.log(`read ${sock.name} EAGAIN*`);
        return EMPTY;
      }
      if (!sock.unix && !sock.reset && this.prng.chance(f.reset)) {
        this.abort(sock, 'read');
        // What had arrived is still readable (the kernel keeps the receive queue); the error comes after it.
      }
      let n = max < sock.rcvBytes ? max : sock.rcvBytes;
      let short = '';
      if (n > 1 && this.prng.chance(f.shortRead)) {
        n = this.prng.int(1, n - 1);
        short = '*';
      }
      const out = sock.take(n);
      this.log(`read ${sock.name} ${n}/${max}${short}`);
      this.progress();
      // Room for the sender again.
      const peer = sock.peer;
      if (peer !== null && !peer.closed) this.markDirty(peer);
      return out;
    }
    if (sock.error !== 0) {
      const e = -sock.error;
      sock.error = 0;
      this.log(`read ${sock.name} ${errName(e)}`);
      this.progress();
      return e;
    }
    if (sock.eof || sock.rdShut || sock.reset) {
      this.log(`read ${sock.name} EOF`);
      return 0;
    }
    return EMPTY;
  }

  /** write(2) of `buf[offset, offset + length)`: the bytes taken, or -errno (see #writable and #takeRoom for the faults). */
  write(sock: Endpoint, buf: Buffer, offset: number, length: number): number {
    const rc = this.#writable(sock);
    if (rc !== 0) return rc;
    const n = this.#takeRoom(sock, length);
    if (n <= 0) return n;
    this.send(sock, Buffer.from(buf.subarray(offset, offset + n)));
    return n;
  }

  /** writev(2) of `count` Buffers of `list` from `start`, the first from `firstOffset`: the bytes taken, or -errno. */
  writev(sock: Endpoint, list: readonly unknown[], start: number, count: number, firstOffset: number): number {
    let want = 0;
    for (let i = start; i < start + count; i++) want += (list[i] as Buffer).length - (i === start ? firstOffset : 0);
    const rc = this.#writable(sock);
    if (rc !== 0) return rc;
    const n = this.#takeRoom(sock, want);
    if (n <= 0) return n;
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    for (let i = start; i < start + count && at < n; i++) {
      const b = list[i] as Buffer;
      const off = i === start ? firstOffset : 0;
      const len = Math.min(b.length - off, n - at);
      b.copy(out, at, off, off + len);
      at += len;
    }
    this.send(sock, out);
    return n;
  }

  /** 0 when a write may go ahead, else what it returns. Draws the faults reset and writeEagain, in that order. */
  #writable(sock: Endpoint): number {
    if (sock.closed) return -E.EBADF;
    if (sock.kind === 'listen') return -E.ENOTCONN;
    if (sock.error !== 0) {
      const e = -sock.error;
      sock.error = 0;
      this.log(`write ${sock.name} ${errName(e)}`);
      return e;
    }
    if (sock.reset || sock.wrShut || sock.peerGone) {
      this.log(`write ${sock.name} EPIPE`);
      return -E.EPIPE;
    }
    if (sock.connecting) return -E.EAGAIN;
    const f = this.faults;
    if (!sock.unix && this.prng.chance(f.reset)) {
      this.abort(sock, 'write');
      sock.error = 0;
      this.log(`write ${sock.name} ECONNRESET`);
      return -E.ECONNRESET;
    }
    if (this.prng.chance(f.writeEagain)) {
      this.log(`write ${sock.name} EAGAIN*`);
      return -E.EAGAIN;
    }
    return 0;
  }

  /** How much of `want` bytes this write takes (the shortWrite fault drawn here), or -EAGAIN. */
  #takeRoom(sock: Endpoint, want: number): number {
    const room = sock.room();
    if (room <= 0 || want === 0) {
      this.log(`write ${sock.name} EAGAIN`);
      return want === 0 ? 0 : -E.EAGAIN;
    }
    let n = want < room ? want : room;
    let short = '';
    if (n > 1 && this.prng.chance(this.faults.shortWrite)) {
      n = this.prng.int(1, n - 1);
      short = '*';
    }
    this.log(`write ${sock.name} ${n}/${want}${short}`);
    this.progress();
    return n;
  }

  // ---------------------------------------------------------------- the wire

  /** `bytes` written by `from`: on their way, in order. */
  send(from: Endpoint, bytes: Buffer): void {
    const pipe = from.out as Pipe;
    const n = bytes.length;
    pipe.inflight += n;
    const now = this.now;
    const depart = pipe.linkFree > now ? pipe.linkFree : now;
    const tx = pipe.bandwidth === Infinity ? 0 : n / pipe.bandwidth;
    pipe.linkFree = depart + tx;
    const at = depart + tx + pipe.delay;
    if (at <= now) this.#arrive(from, pipe, bytes);
    else this.schedule(at, () => this.#arrive(from, pipe, bytes));
  }

  #arrive(from: Endpoint, pipe: Pipe, bytes: Buffer): void {
    pipe.inflight -= bytes.length;
    if (pipe.dead) return;
    const to = pipe.to;
    if (to.closed) {
      // Data for a closed TCP socket: it answers with a reset.
      if (!to.unix) this.#resetBack(to, from, 'data after close');
      return;
    }
    if (to.rdShut) return;
    to.rcv.push(bytes);
    to.rcvBytes += bytes.length;
    if (pipe.delay > 0 || pipe.bandwidth !== Infinity) this.log(`arrive ${to.name} ${bytes.length}`);
    this.markDirty(to);
  }

  /** Sends `from`'s end of stream (FIN) after what it has in flight. */
  #sendFin(from: Endpoint): void {
    const pipe = from.out;
    if (pipe === null || pipe.finished) return;
    pipe.finished = true;
    const at = (pipe.linkFree > this.now ? pipe.linkFree : this.now) + pipe.delay;
    const deliver = (): void => {
      if (pipe.dead) return;
      const to = pipe.to;
      if (to.closed) return;
      to.eof = true;
      this.log(`fin ${to.name}`);
      this.markDirty(to);
    };
    if (at <= this.now) deliver();
    else this.schedule(at, deliver);
  }

  /** `from` resets the connection (close with unread data, or data for a closed socket): after what is in flight. */
  #resetBack(from: Endpoint, to: Endpoint, why: string): void {
    const pipe = from.out;
    if (pipe === null || pipe.dead || pipe.rst) return;
    pipe.rst = true;
    // After what `from` has in flight (bytes written before a close are not
    // lost to its own reset); nothing of `from`'s comes after it.
    pipe.finished = true;
    const back = to.out;
    const at = (pipe.linkFree > this.now ? pipe.linkFree : this.now) + pipe.delay;
    this.log(`rst ${from.name} -> ${to.name} (${why})`);
    const deliver = (): void => {
      pipe.dead = true;
      if (back !== null) back.dead = true;
      if (to.closed || to.reset) return;
      to.reset = true;
      to.error = E.ECONNRESET;
      this.log(`reset ${to.name}`);
      this.markDirty(to);
    };
    if (at <= this.now) deliver();
    else this.schedule(at, deliver);
  }

  /**
   * The reset fault: the network resets `sock`'s connection now. What is in
   * flight either way is lost; what has arrived stays readable; both ends
   * get ECONNRESET.
   */
  abort(sock: Endpoint, side: 'read' | 'write'): void {
    const peer = sock.peer;
    this.log(`fault reset ${sock.name}${peer === null ? '' : `/${peer.name}`} (${side})`);
    for (const end of peer === null ? [sock] : [sock, peer]) {
      if (end.out !== null) {
        end.out.dead = true;
        end.out.finished = true;
      }
      if (end.closed || end.reset) continue;
      end.reset = true;
      end.error = E.ECONNRESET;
      this.markDirty(end);
    }
  }

  /** shutdown(2). */
  shutdown(sock: Endpoint, how: 'read' | 'write' | 'both'): void {
    this.log(`shutdown ${sock.name} ${how}`);
    if (how !== 'write' && !sock.rdShut) {
      sock.rdShut = true;
      sock.rcv.length = 0;
      sock.rcvBytes = 0;
      const peer = sock.peer;
      if (peer !== null) this.markDirty(peer);
    }
    if (how !== 'read' && !sock.wrShut) {
      sock.wrShut = true;
      this.#sendFin(sock);
    }
    this.markDirty(sock);
  }

  /** close(2): the number is free again; the peer gets end of stream, or a reset when data was left unread. */
  close(sock: Endpoint): void {
    const why = sock.fd >= 0 && this.#describeFd !== null ? this.#describeFd(sock.fd) : '';
    this.log(`close ${sock.name}${why === '' ? '' : ` ${why}`}`);
    this.progress();
    sock.closed = true;
    sock.onReady = null;
    this.dirty.delete(sock);
    this.#freeFd(sock.fd);
    if (sock.listening) {
      const key = sock.listenKey;
      for (const [k, v] of Array.from(this.#listeners)) if (v === sock && (k === key || k.startsWith(`${key}@`))) this.#listeners.delete(k);
      // Connections nobody accepted are reset.
      for (const pending of sock.queue.splice(0)) {
        pending.closed = true;
        const peer = pending.peer;
        if (peer !== null) {
          if (pending.unix) this.#unixGone(pending, peer);
          else this.#resetBack(pending, peer, 'listener closed');
        }
      }
      return;
    }
    const peer = sock.peer;
    if (peer === null) return;
    if (sock.unix) {
      this.#unixGone(sock, peer);
      return;
    }
    if (sock.reset) return;
    if (sock.rcvBytes > 0) {
      sock.rcv.length = 0;
      sock.rcvBytes = 0;
      this.#resetBack(sock, peer, 'unread data');
      return;
    }
    this.#sendFin(sock);
  }

  /** A Unix end closed: the other sees end of stream and a hangup; its writes fail (EPIPE). */
  #unixGone(sock: Endpoint, peer: Endpoint): void {
    sock.rcv.length = 0;
    sock.rcvBytes = 0;
    if (sock.out !== null) sock.out.finished = true;
    if (peer.closed) return;
    peer.eof = true;
    peer.peerGone = true;
    this.markDirty(peer);
  }
}

/** sockaddr_un's sun_path: 108 bytes, a filesystem path's terminating NUL included. */
const UNIX_PATH_MAX = 108;

/** A path that does not fit sun_path fails as on Linux (and the epoll engine): ENAMETOOLONG. */
function checkUnixPath(path: string, syscall: string): void {
  const len = Buffer.byteLength(path);
  const abstract = path.startsWith('\0');
  if (len > UNIX_PATH_MAX || (!abstract && len === UNIX_PATH_MAX)) throw systemError(-E.ENAMETOOLONG, syscall, { path });
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function ipAddr(address: string, port: number): SockAddress {
  return { address, port, family: address.includes(':') ? 'IPv6' : 'IPv4' };
}

/** 'ECONNRESET' for -104, … */
export function errName(negErrno: number): string {
  for (const [name, n] of Object.entries(E)) if (n === -negErrno) return name;
  return String(negErrno);
}
