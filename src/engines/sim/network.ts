/**
 * The simulated network: a virtual clock, a queue of future events
 * (segments arriving, connects answered), the descriptor numbers, the
 * listening sockets, the seeded PRNG every fault draws from, and the trace.
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
import { createHash, type Hash } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import type { SockAddress } from '../../core/contract.js';
import { systemError } from '../../core/errors.js';
import type { ResolvedFaults } from './faults.js';
import { Prng } from './prng.js';
import { Pipe, SimSock } from './sim-sock.js';

const E = osConstants.errno;
/** The first port handed out for port 0 and for connecting ends, as Linux's ip_local_port_range. */
const EPHEMERAL_FIRST = 32768;
const EPHEMERAL_LAST = 60999;
/** How many trace events a failure shows. */
export const TRACE_TAIL = 50;

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

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
  /** Events in the trace so far. */
  traceLength = 0;
  /** The whole trace, when kept. */
  readonly trace: string[] | null;
  /** Sockets whose readiness may have changed since they were last reported. */
  readonly dirty = new Set<SimSock>();
  /** Says which object a closing socket belonged to and why it closed (set by simulate()). */
  describeClose: ((fd: number) => string) | null = null;
  /** Called when a socket's readiness may have changed or an event is scheduled: a parked runner wakes up (runner.ts). */
  onActivity: (() => void) | null = null;
  readonly #maxFds: number;
  readonly #heap: Scheduled[] = [];
  #seq = 0;
  readonly #hash: Hash = createHash('sha256');
  /** Trace text not hashed yet. */
  #pending = '';
  #stampAt = NaN;
  #stamp = '';
  readonly #tail: string[] = [];
  #tailAt = 0;
  /** fd -> in use; 0, 1 and 2 are the standard streams. */
  readonly #fds: boolean[] = [true, true, true];
  #openFds = 3;
  readonly #listeners = new Map<string, SimSock>();
  #nextPort = EPHEMERAL_FIRST;
  #nextId = 1;

  constructor(options: NetworkOptions) {
    this.prng = new Prng(options.seed);
    this.faults = options.faults;
    this.epoch = options.epoch;
    this.#maxFds = options.maxFds;
    this.trace = options.keepTrace ? [] : null;
  }

  // ---------------------------------------------------------------- trace

  /** Adds an event to the trace, stamped with the virtual time. */
  log(event: string): void {
    if (this.now !== this.#stampAt) {
      this.#stampAt = this.now;
      this.#stamp = fmtTime(this.now);
    }
    const line = `${this.#stamp} ${event}`;
    // Hashed in chunks: one update per event cost more than the rest of the trace.
    this.#pending += line + '\n';
    if (this.#pending.length > 65536) {
      this.#hash.update(this.#pending);
      this.#pending = '';
    }
    this.trace?.push(line);
    if (this.#tail.length < TRACE_TAIL) this.#tail.push(line);
    else this.#tail[this.#tailAt] = line;
    this.#tailAt = (this.#tailAt + 1) % TRACE_TAIL;
    this.traceLength++;
  }

  /** The last TRACE_TAIL events, oldest first. */
  tail(): string[] {
    if (this.#tail.length < TRACE_TAIL) return this.#tail.slice();
    return this.#tail.slice(this.#tailAt).concat(this.#tail.slice(0, this.#tailAt));
  }

  /** The sha256 of the trace (each event followed by a newline), hex. */
  digest(): string {
    this.#hash.update(this.#pending);
    this.#pending = '';
    return this.#hash.copy().digest('hex');
  }

  /** Something moved: the watchdog starts over. */
  progress(): void {
    this.lastProgress = this.now;
    this.progressCount++;
  }

  // ---------------------------------------------------------------- time and events

  /** Runs `fn` at virtual time `at` (events at equal times run in the order scheduled). */
  schedule(at: number, fn: () => void): void {
    const heap = this.#heap;
    const item: Scheduled = { at, seq: this.#seq++, fn };
    let i = heap.length;
    heap.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p] as Scheduled;
      if (before(parent, item)) break;
      heap[i] = parent;
      i = p;
    }
    heap[i] = item;
    this.onActivity?.();
  }

  /** When the next event is due; Infinity when none is scheduled. */
  nextEventAt(): number {
    const top = this.#heap[0];
    return top === undefined ? Infinity : top.at;
  }

  /** Runs the events due by now, in order (those they schedule for now included). */
  runDue(): void {
    const heap = this.#heap;
    while (heap.length > 0 && (heap[0] as Scheduled).at <= this.now) this.#pop().fn();
  }

  #pop(): Scheduled {
    const heap = this.#heap;
    const top = heap[0] as Scheduled;
    const last = heap.pop() as Scheduled;
    const n = heap.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(heap[r] as Scheduled, heap[l] as Scheduled) ? r : l;
        if (before(last, heap[c] as Scheduled)) break;
        heap[i] = heap[c] as Scheduled;
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }

  // ---------------------------------------------------------------- readiness

  /** `sock`'s readiness may have changed: it is looked at before the next iteration. */
  markDirty(sock: SimSock): void {
    if (!sock._closed) {
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
      if (sock._closed || sock._onReady === null) continue;
      const mask = sock.readiness();
      if (mask === 0) continue;
      if (this.prng.chance(late)) {
        this.log(`late ${sock.name}`);
        this.dirty.add(sock);
        continue;
      }
      this.log(`ready ${sock.name} ${sock.readinessText()}`);
      sock._onReady();
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
  listenTcp(host: string, port: number, backlog: number): SimSock {
    const p = port === 0 ? this.#port() : port;
    const key = `tcp:${p}`;
    const existing = this.#listeners.get(key);
    if (existing !== undefined) {
      const where = existing._local as { address: string };
      // Two specific addresses may share a port; a wildcard takes it whole.
      if (isWildcard(host) || isWildcard(where.address) || where.address === host) {
        throw systemError(-E.EADDRINUSE, 'bind', { address: host, port: p });
      }
    }
    const fd = this.allocFd();
    if (fd < 0) throw systemError(fd, 'socket');
    const sock = new SimSock(this, 'listen', false, fd, this.#nextId++, ipAddr(host, p), null);
    sock._backlog = Math.max(1, backlog);
    sock._listenKey = key;
    if (existing === undefined) this.#listeners.set(key, sock);
    else this.#listeners.set(`${key}@${host}`, sock);
    this.log(`listen ${sock.name} ${host}:${p}`);
    return sock;
  }

  /** listen(2) on a Unix socket path. */
  listenUnix(path: string, backlog: number): SimSock {
    checkUnixPath(path, 'bind');
    const key = `unix:${path}`;
    if (this.#listeners.has(key)) throw systemError(-E.EADDRINUSE, 'bind', { path });
    const fd = this.allocFd();
    if (fd < 0) throw systemError(fd, 'socket');
    const sock = new SimSock(this, 'listen', true, fd, this.#nextId++, { path, family: 'unix' }, null);
    sock._backlog = Math.max(1, backlog);
    sock._listenKey = key;
    this.#listeners.set(key, sock);
    this.log(`listen ${sock.name} ${path}`);
    return sock;
  }

  #findTcpListener(host: string, port: number): SimSock | null {
    const specific = this.#listeners.get(`tcp:${port}@${host}`);
    if (specific !== undefined) return specific;
    const first = this.#listeners.get(`tcp:${port}`);
    if (first === undefined) return null;
    const addr = (first._local as { address: string }).address;
    return isWildcard(addr) || addr === host ? first : null;
  }

  /** A non-blocking connect(2): the socket now, the answer after the connection's delay (twice: there and back). */
  connectTcp(host: string, port: number): SimSock {
    const fd = this.allocFd();
    if (fd < 0) throw systemError(fd, 'socket');
    const f = this.faults;
    const delay = this.prng.range(f.delay);
    const bandwidth = this.prng.range(f.bandwidth);
    const window = Math.max(1, Math.floor(this.prng.range(f.buffer)));
    const localIp = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    const client = new SimSock(this, 'stream', false, fd, this.#nextId++, ipAddr(localIp, this.#port()), ipAddr(host, port));
    client._connecting = true;
    this.log(`connect ${client.name} ${host}:${port} delay=${fmtTime(delay)}`);
    this.schedule(this.now + delay, () => {
      if (client._closed) return;
      const listener = this.#findTcpListener(host, port);
      let refused = listener === null || listener._queue.length >= listener._backlog;
      if (!refused && this.prng.chance(f.refuse)) {
        this.log(`fault refuse ${client.name}`);
        refused = true;
      }
      if (refused || listener === null) {
        this.schedule(this.now + delay, () => {
          if (client._closed) return;
          client._connecting = false;
          client._reset = true;
          client._error = E.ECONNREFUSED;
          this.log(`refused ${client.name}`);
          this.markDirty(client);
        });
        return;
      }
      const server = new SimSock(this, 'stream', false, -1, this.#nextId++, listener._local, client._local);
      this.#link(client, server, delay, bandwidth, window);
      listener._queue.push(server);
      this.log(`syn ${listener.name} <- ${client.name} as ${server.name}`);
      this.markDirty(listener);
      this.schedule(this.now + delay, () => {
        if (client._closed || !client._connecting) return;
        client._connecting = false;
        this.log(`connected ${client.name}`);
        this.progress();
        this.markDirty(client);
      });
    });
    return client;
  }

  /** connect(2) to a Unix socket path: connected at once, queued on the listener. */
  connectUnix(path: string): SimSock {
    checkUnixPath(path, 'connect');
    const listener = this.#listeners.get(`unix:${path}`);
    if (listener === undefined) throw systemError(-E.ENOENT, 'connect', { path });
    if (listener._queue.length >= listener._backlog) throw systemError(-E.EAGAIN, 'connect', { path });
    const fd = this.allocFd();
    if (fd < 0) throw systemError(fd, 'socket');
    const window = Math.max(1, Math.floor(this.prng.range(this.faults.buffer)));
    const client = new SimSock(this, 'stream', true, fd, this.#nextId++, { path: '', family: 'unix' }, { path, family: 'unix' });
    const server = new SimSock(this, 'stream', true, -1, this.#nextId++, { path, family: 'unix' }, { path: '', family: 'unix' });
    this.#link(client, server, 0, Infinity, window);
    listener._queue.push(server);
    this.log(`connect ${client.name} ${path}; queued ${server.name} on ${listener.name}`);
    this.markDirty(listener);
    this.markDirty(client);
    return client;
  }

  /** socketpair(2): two connected Unix ends. */
  socketPair(): [SimSock, SimSock] {
    const fa = this.allocFd();
    if (fa < 0) throw systemError(fa, 'socketpair');
    const fb = this.allocFd();
    if (fb < 0) {
      this.#freeFd(fa);
      throw systemError(fb, 'socketpair');
    }
    const window = Math.max(1, Math.floor(this.prng.range(this.faults.buffer)));
    const addr: SockAddress = { path: '', family: 'unix' };
    const a = new SimSock(this, 'stream', true, fa, this.#nextId++, addr, addr);
    const b = new SimSock(this, 'stream', true, fb, this.#nextId++, addr, addr);
    this.#link(a, b, 0, Infinity, window);
    this.log(`pair ${a.name} ${b.name}`);
    return [a, b];
  }

  #link(a: SimSock, b: SimSock, delay: number, bandwidth: number, window: number): void {
    a._peer = b;
    b._peer = a;
    a._out = new Pipe(b, delay, bandwidth, window);
    b._out = new Pipe(a, delay, bandwidth, window);
  }

  /** accept(2) on `listener`. */
  accept(listener: SimSock): SimSock | null {
    const queue = listener._queue;
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
    const sock = queue.shift() as SimSock;
    const was = sock.name;
    sock._fd = fd;
    this.log(`accept ${listener.name} ${was} as ${sock.name}`);
    this.progress();
    return sock;
  }

  /** `bytes` written by `from`: on their way, in order. */
  send(from: SimSock, bytes: Buffer): void {
    const pipe = from._out as Pipe;
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

  #arrive(from: SimSock, pipe: Pipe, bytes: Buffer): void {
    pipe.inflight -= bytes.length;
    if (pipe.dead) return;
    const to = pipe.to;
    if (to._closed) {
      // Data for a closed TCP socket: it answers with a reset.
      if (!to._unix) this.#resetBack(to, from, 'data after close');
      return;
    }
    if (to._rdShut) return;
    to._rcv.push(bytes);
    to._rcvBytes += bytes.length;
    if (pipe.delay > 0 || pipe.bandwidth !== Infinity) this.log(`arrive ${to.name} ${bytes.length}`);
    this.markDirty(to);
  }

  /** Sends `from`'s end of stream (FIN) after what it has in flight. */
  #sendFin(from: SimSock): void {
    const pipe = from._out;
    if (pipe === null || pipe.finished) return;
    pipe.finished = true;
    const at = (pipe.linkFree > this.now ? pipe.linkFree : this.now) + pipe.delay;
    const deliver = (): void => {
      if (pipe.dead) return;
      const to = pipe.to;
      if (to._closed) return;
      to._eof = true;
      this.log(`fin ${to.name}`);
      this.markDirty(to);
    };
    if (at <= this.now) deliver();
    else this.schedule(at, deliver);
  }

  /** `from` resets the connection (close with unread data, or data for a closed socket): after what is in flight. */
  #resetBack(from: SimSock, to: SimSock, why: string): void {
    const pipe = from._out;
    if (pipe === null || pipe.dead || pipe.rst) return;
    pipe.rst = true;
    // After what `from` has in flight (bytes written before a close are not
    // lost to its own reset); nothing of `from`'s comes after it.
    pipe.finished = true;
    const back = to._out;
    const at = (pipe.linkFree > this.now ? pipe.linkFree : this.now) + pipe.delay;
    this.log(`rst ${from.name} -> ${to.name} (${why})`);
    const deliver = (): void => {
      pipe.dead = true;
      if (back !== null) back.dead = true;
      if (to._closed || to._reset) return;
      to._reset = true;
      to._error = E.ECONNRESET;
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
  abort(sock: SimSock, side: 'read' | 'write'): void {
    const peer = sock._peer;
    this.log(`fault reset ${sock.name}${peer === null ? '' : `/${peer.name}`} (${side})`);
    for (const end of peer === null ? [sock] : [sock, peer]) {
      if (end._out !== null) {
        end._out.dead = true;
        end._out.finished = true;
      }
      if (end._closed || end._reset) continue;
      end._reset = true;
      end._error = E.ECONNRESET;
      this.markDirty(end);
    }
  }

  /** shutdown(2). */
  shutdown(sock: SimSock, how: 'read' | 'write' | 'both'): void {
    this.log(`shutdown ${sock.name} ${how}`);
    if (how !== 'write' && !sock._rdShut) {
      sock._rdShut = true;
      sock._rcv.length = 0;
      sock._rcvBytes = 0;
      const peer = sock._peer;
      if (peer !== null) this.markDirty(peer);
    }
    if (how !== 'read' && !sock._wrShut) {
      sock._wrShut = true;
      this.#sendFin(sock);
    }
    this.markDirty(sock);
  }

  /** close(2): the number is free again; the peer gets end of stream, or a reset when data was left unread. */
  close(sock: SimSock): void {
    const why = sock._fd >= 0 && this.describeClose !== null ? this.describeClose(sock._fd) : '';
    this.log(`close ${sock.name}${why === '' ? '' : ` ${why}`}`);
    this.progress();
    sock._closed = true;
    sock._onReady = null;
    this.dirty.delete(sock);
    this.#freeFd(sock._fd);
    if (sock.listening) {
      const key = sock._listenKey;
      for (const [k, v] of Array.from(this.#listeners)) if (v === sock && (k === key || k.startsWith(`${key}@`))) this.#listeners.delete(k);
      // Connections nobody accepted are reset.
      for (const pending of sock._queue.splice(0)) {
        pending._closed = true;
        const peer = pending._peer;
        if (peer !== null) {
          if (pending._unix) this.#unixGone(pending, peer);
          else this.#resetBack(pending, peer, 'listener closed');
        }
      }
      return;
    }
    const peer = sock._peer;
    if (peer === null) return;
    if (sock._unix) {
      this.#unixGone(sock, peer);
      return;
    }
    if (sock._reset) return;
    if (sock._rcvBytes > 0) {
      sock._rcv.length = 0;
      sock._rcvBytes = 0;
      this.#resetBack(sock, peer, 'unread data');
      return;
    }
    this.#sendFin(sock);
  }

  /** A Unix end closed: the other sees end of stream and a hangup; its writes fail (EPIPE). */
  #unixGone(sock: SimSock, peer: SimSock): void {
    sock._rcv.length = 0;
    sock._rcvBytes = 0;
    if (sock._out !== null) sock._out.finished = true;
    if (peer._closed) return;
    peer._eof = true;
    peer._peerGone = true;
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

function before(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function ipAddr(address: string, port: number): SockAddress {
  return { address, port, family: address.includes(':') ? 'IPv6' : 'IPv4' };
}

/** Virtual ms as the trace shows them: up to 3 decimals. */
export function fmtTime(ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(3);
}
