/**
 * ProxyHeaderReader: the stage between accept() and a Listener's factory on
 * a listener with the `proxyProtocol` option. It checks that the peer is a
 * trusted balancer, reads the PROXY header (bounded in bytes and in time),
 * and hands the socket on, with the header's addresses as its addresses and
 * the bytes that followed the header in front of its read stream.
 */
import { isIP } from 'node:net';
import type { Sock, SockAddress, Transport } from './contract.js';
import { DangaSocket } from './danga-socket.js';
import { invalidArgType, invalidArgValue, outOfRange, validateInteger } from './errors.js';
import { reactor } from './loop.js';
import { PROXY_HEADER_DEFAULT_MAX, PROXY_HEADER_MAX_MAX, PROXY_HEADER_MIN_MAX, parseProxyHeader, type ProxyHeader } from './proxy-protocol.js';
import type { Timer } from './timers.js';

/**
 * The `proxyProtocol` option of a `Listener`: every connection must start
 * with a PROXY protocol header (v1 or v2), and only peers in `trusted` may
 * connect at all.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface ProxyProtocolOptions {
  /**
   * Where the balancers connect from: addresses ('10.0.0.5', '::1') and
   * networks in CIDR notation ('10.0.0.0/8', 'fd00::/8'); 'unix' admits the
   * peers of a Unix domain listening socket. A connection from anywhere else
   * is closed at once (reason 'proxy_untrusted'), whatever it would send.
   * An IPv4 network also matches IPv4-mapped IPv6 peers ('::ffff:10.0.0.5').
   */
  trusted: readonly string[];
  /**
   * Seconds a connection has to deliver its complete header (default 10);
   * then it is closed (reason 'proxy_timeout').
   */
  timeout?: number;
  /** The longest v2 header accepted, in bytes (default 4096; 232 to 65551). */
  maxHeaderBytes?: number;
}

/**
 * What the PROXY header of a connection said, with the socket's own addresses (the balancer's side).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface ProxyInfo {
  /** The header as parsed. */
  readonly header: ProxyHeader;
  /** The socket's own peer: the balancer (what `remoteAddress()` said before the header). */
  readonly peer: SockAddress | null;
  /** The socket's own local address. */
  readonly local: SockAddress | null;
}

/**
 * An address as 8 16-bit groups (IPv4 as IPv4-mapped IPv6, ::ffff:a.b.c.d),
 * or null when `address` is not one. For trusted networks and for peers: a
 * Node BlockList check costs over a microsecond per connection, this a
 * tenth of that.
 */
function groups(address: string): number[] | null {
  if (address.includes('.')) {
    const colon = address.lastIndexOf(':');
    const v4 = address.slice(colon + 1).split('.');
    if (v4.length !== 4) return null;
    const b = v4.map(Number);
    if (b.some((x) => !(x >= 0 && x <= 255))) return null;
    const head = colon < 0 ? [0, 0, 0, 0, 0, 0xffff] : groups6(`${address.slice(0, colon + 1)}0:0`)?.slice(0, 6);
    if (head === undefined || head === null) return null;
    return [...head, ((b[0] as number) << 8) | (b[1] as number), ((b[2] as number) << 8) | (b[3] as number)];
  }
  return groups6(address);
}

function groups6(address: string): number[] | null {
  const pct = address.indexOf('%');
  const a = pct < 0 ? address : address.slice(0, pct);
  const dbl = a.indexOf('::');
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  let out: number[];
  if (dbl < 0) out = parse(a);
  else {
    const head = parse(a.slice(0, dbl));
    const tail = parse(a.slice(dbl + 2));
    if (head.length + tail.length > 7) return null;
    out = [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  return out.length === 8 && out.every((g) => !Number.isNaN(g)) ? out : null;
}

/** A trusted network: the first `bits` bits of `net` (8 groups; IPv4 ones as IPv4-mapped, their prefix + 96). */
interface Network {
  readonly net: readonly number[];
  readonly bits: number;
}

function inNetwork(addr: readonly number[], n: Network): boolean {
  let bits = n.bits;
  for (let i = 0; bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if (((addr[i] as number) & mask) !== ((n.net[i] as number) & mask)) return false;
  }
  return true;
}

/** The validated `proxyProtocol` option. */
export class ProxyTrust {
  readonly #networks: Network[] = [];
  /** Peers checked already, by address (a balancer has few): their verdict. Cleared when it grows past 1024. */
  readonly #seen = new Map<string, boolean>();
  readonly #unix: boolean;
  /** Seconds to wait for the header. */
  readonly timeout: number;
  /** Bound of a v2 header in bytes. */
  readonly maxHeaderBytes: number;

  /**
   * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) / RangeError (code `ERR_OUT_OF_RANGE`) / TypeError (code `ERR_INVALID_ARG_VALUE`) for a bad option, named as `options.proxyProtocol.…`.
   */
  constructor(options: ProxyProtocolOptions) {
    const name = 'options.proxyProtocol';
    if (options === null || typeof options !== 'object') throw invalidArgType(name, 'an object', options);
    const list: unknown = options.trusted;
    if (!Array.isArray(list)) throw invalidArgType(`${name}.trusted`, 'an array of addresses, networks or "unix"', list);
    if (list.length === 0) throw invalidArgValue(`${name}.trusted`, 'is empty: no balancer could connect');
    let unix = false;
    list.forEach((entry: unknown, i: number) => {
      if (typeof entry !== 'string') throw invalidArgType(`${name}.trusted[${i}]`, 'of type string', entry);
      if (entry === 'unix') {
        unix = true;
        return;
      }
      const slash = entry.indexOf('/');
      const address = slash < 0 ? entry : entry.slice(0, slash);
      const v = isIP(address);
      const max = v === 4 ? 32 : 128;
      const prefixText = slash < 0 ? String(max) : entry.slice(slash + 1);
      const prefix = Number(prefixText);
      const net = v === 0 ? null : groups(address);
      if (net === null || !/^\d{1,3}$/.test(prefixText) || !(prefix >= 0 && prefix <= max)) {
        throw invalidArgValue(`${name}.trusted[${i}]`, `is not an address, a network (CIDR) or "unix": ${JSON.stringify(entry)}`);
      }
      this.#networks.push({ net, bits: v === 4 ? prefix + 96 : prefix });
    });
    this.#unix = unix;
    const timeout = options.timeout ?? 10;
    if (typeof timeout !== 'number') throw invalidArgType(`${name}.timeout`, 'of type number', timeout);
    if (!(timeout > 0 && timeout <= 3600)) throw outOfRange(`${name}.timeout`, 'a number of seconds > 0 and <= 3600', timeout);
    this.timeout = timeout;
    this.maxHeaderBytes =
      options.maxHeaderBytes === undefined
        ? PROXY_HEADER_DEFAULT_MAX
        : validateInteger(`${name}.maxHeaderBytes`, options.maxHeaderBytes, PROXY_HEADER_MIN_MAX, PROXY_HEADER_MAX_MAX);
  }

  /** True when `peer` may send a header. */
  allows(peer: SockAddress | null): boolean {
    if (peer === null) return false;
    if (peer.family === 'unix') return this.#unix;
    const known = this.#seen.get(peer.address);
    if (known !== undefined) return known;
    const addr = groups(peer.address);
    const ok = addr !== null && this.#networks.some((n) => inNetwork(addr, n));
    if (this.#seen.size >= 1024) this.#seen.clear();
    this.#seen.set(peer.address, ok);
    return ok;
  }
}

/** What the Listener does with a socket whose header arrived: `rest` are the bytes after the header; `shuttingDown` when a graceful shutdown began meanwhile. */
export type HeaderDone = (sock: Sock, rest: Buffer, shuttingDown: boolean) => void;

/** What the Listener hears of a connection the header stage closed: the close reason, and the socket's own peer. */
export type HeaderRejected = (reason: string, peer: SockAddress | null) => void;

const infos = new WeakMap<object, ProxyInfo>();

/** A ProxyInfo whose `local` is asked of the socket when first wanted (a getsockname most never need). */
class Info implements ProxyInfo {
  #local: SockAddress | null | undefined = undefined;
  #sock: Sock | null;
  constructor(
    readonly header: ProxyHeader,
    readonly peer: SockAddress | null,
    sock: Sock,
  ) {
    this.#sock = sock;
  }
  get local(): SockAddress | null {
    if (this.#local === undefined) {
      const sock = this.#sock;
      // The Sock's own method (its instance may report the header's address instead).
      const proto = sock === null ? null : (Object.getPrototypeOf(sock) as { localAddress?: (this: Sock) => SockAddress | null } | null);
      const own = proto?.localAddress;
      this.#local = sock === null || typeof own !== 'function' ? null : own.call(sock);
      this.#sock = null;
    }
    return this.#local;
  }
}

/**
 * What the PROXY header of `of` (a connection a `Listener` with the
 * `proxyProtocol` option made, or its Sock) said, also once it closed; null for anything else.
 *
 * @throws Nothing.
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export function proxyInfo(of: DangaSocket<object> | Sock): ProxyInfo | null {
  if (of === null || typeof of !== 'object') return null;
  const direct = infos.get(of);
  if (direct !== undefined || !(of instanceof DangaSocket)) return direct ?? null;
  const sock = of.sock();
  return sock === null ? null : (infos.get(sock) ?? null);
}

/** Files the header of `sock` under `conn` too, so that it stays known after `conn` closed. */
export function keepProxyInfo(sock: Sock, conn: DangaSocket<object>): void {
  const info = infos.get(sock);
  if (info !== undefined) infos.set(conn, info);
}

/**
 * Reads the PROXY header of one accepted connection, then hands its socket
 * on. Every way it can fail closes this connection only, with the reason in
 * `closeReason()` (and counted in `DangaSocket.stats().closed`):
 * 'proxy_untrusted', 'proxy_timeout', 'proxy_eof' (the peer closed, or the
 * connection failed, before the header was complete), or `proxy_<why>` for
 * an invalid header (see `ProxyHeaderError`). It holds at most the header's
 * bound in memory.
 *
 * The hand-over takes the socket with `stealSocket()`, so each connection
 * that got through counts one close with reason 'stolen'.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export class ProxyHeaderReader extends DangaSocket<Sock> {
  readonly #trust: ProxyTrust;
  readonly #done: HeaderDone;
  readonly #rejected: HeaderRejected;
  /** Bytes received so far, when the header did not come in one read. */
  #partial: Buffer | null = null;
  #deadline: Timer | null = null;
  #shuttingDown = false;

  /**
   * @param sock an accepted socket
   * @param trust the listener's validated option
   * @param done called with the socket once the header is in
   * @param rejected called when it closes the connection instead (any reason but a shutdown's)
   * @param first bytes read already (an empty Buffer: end of stream)
   *
   * @throws as the DangaSocket constructor.
   */
  constructor(sock: Sock, trust: ProxyTrust, done: HeaderDone, rejected: HeaderRejected, first: Buffer | null = null) {
    super(sock);
    this.#trust = trust;
    this.#done = done;
    this.#rejected = rejected;
    if (!trust.allows(sock.remoteAddress())) {
      this.close('proxy_untrusted');
      return;
    }
    if (first !== null) {
      // What readProxyHeader() read at accept time: end of stream, or the start of a header.
      if (first.length === 0) {
        this.close('proxy_eof');
        return;
      }
      const r = parseProxyHeader(first, trust.maxHeaderBytes);
      if (r.status === 'invalid') {
        this.close(`proxy_${r.reason}`);
        return;
      }
      this.#partial = first;
    }
    this.#deadline = DangaSocket.addTimer(trust.timeout, () => {
      this.#deadline = null;
      this.close('proxy_timeout');
    });
    this.watchRead(true);
  }

  /**
   * Reads what has arrived and parses; hands the socket on once the header is complete.
   *
   * @throws Nothing.
   * @original `$obj->event_read()`, overridden
   */
  override eventRead(): void {
    for (;;) {
      const have = this.#partial?.length ?? 0;
      const chunk = this.read(this.#trust.maxHeaderBytes - have);
      if (chunk === null) {
        this.close('proxy_eof');
        return;
      }
      if (chunk.length === 0) return;
      const data = this.#partial === null ? chunk : Buffer.concat([this.#partial, chunk]);
      const r = parseProxyHeader(data, this.#trust.maxHeaderBytes);
      if (r.status === 'invalid') {
        this.close(`proxy_${r.reason}`);
        return;
      }
      if (r.status === 'incomplete') {
        // Within the bound: parseProxyHeader says 'invalid' before a header outgrows it.
        this.#partial = data;
        continue;
      }
      this.#handOver(r.header, data.subarray(r.length));
      return;
    }
  }

  #handOver(header: ProxyHeader, rest: Buffer): void {
    this.#deadline?.cancel();
    this.#deadline = null;
    this.#partial = null;
    const sock = this.stealSocket();
    if (sock !== null) handOver(sock, header, rest, this.#shuttingDown, this.#done, sock.remoteAddress());
  }

  /**
   * Closes (cancelling the header's deadline).
   *
   * @throws Nothing.
   * @original `$obj->close($reason)`, overridden
   */
  override close(reason?: string): void {
    if (this.closed) return;
    this.#deadline?.cancel();
    this.#deadline = null;
    this.#partial = null;
    const peer = reason?.startsWith('proxy_') === true ? (this.sock()?.remoteAddress() ?? null) : null;
    super.close(reason);
    if (reason?.startsWith('proxy_') === true) this.#rejected(reason, peer);
  }

  /**
   * Hangup: what arrived before it is read first (read interest is on), so this only closes what reading did not.
   *
   * @throws Nothing.
   * @original `$obj->event_hup()`, overridden
   */
  override eventHup(): void {
    this.eventRead();
    if (!this.closed && this.sock() !== null) this.close('proxy_eof');
  }

  /**
   * Error condition: closes (reason 'proxy_eof').
   *
   * @throws Nothing.
   * @original `$obj->event_err()`, overridden
   */
  override eventErr(): void {
    this.close('proxy_eof');
  }

  /**
   * A graceful shutdown began: the header is still awaited (within its
   * deadline), and the connection it opens gets `onShutdown()` at once.
   *
   * @throws Nothing.
   * @original new in danga-socket (not in Danga::Socket 1.62)
   */
  override onShutdown(): void {
    this.#shuttingDown = true;
  }
}

/**
 * The connection is the client's from here on: its header is filed, and the
 * Sock's remoteAddress()/localAddress() (so the DangaSocket's
 * peerIpString(), peerAddrString(), localIpString(), localAddrString())
 * report the header's addresses; then `done` gets it.
 */
function handOver(sock: Sock, header: ProxyHeader, rest: Buffer, shuttingDown: boolean, done: HeaderDone, peer: SockAddress | null): void {
  infos.set(sock, new Info(header, peer, sock));
  if (header.source !== null) {
    const { source, destination } = header;
    Object.defineProperty(sock, 'remoteAddress', { value: () => (sock.closed ? null : source), configurable: true, writable: true });
    Object.defineProperty(sock, 'localAddress', { value: () => (sock.closed ? null : destination), configurable: true, writable: true });
  }
  done(sock, Buffer.from(rest), shuttingDown);
}

/**
 * The header stage of one accepted socket. A balancer sends the header as
 * soon as it has connected, so it is usually there at accept time: one read
 * then, and a complete header goes straight to `done`, with no object, timer
 * or registration of its own (HAProxy's accept-proxy does the same). Else a
 * ProxyHeaderReader takes over with what was read, and is returned.
 *
 * @throws as the DangaSocket constructor (for the reader).
 */
export function readProxyHeader(sock: Sock, trust: ProxyTrust, done: HeaderDone, rejected: HeaderRejected): ProxyHeaderReader | null {
  const peer = sock.remoteAddress();
  if (!trust.allows(peer)) return new ProxyHeaderReader(sock, trust, done, rejected);
  // The Socks of accept() are the engines' transports.
  const t = sock as Sock & Partial<Pick<Transport, 'read'>>;
  if (typeof t.read !== 'function') return new ProxyHeaderReader(sock, trust, done, rejected);
  const chunk = t.read(trust.maxHeaderBytes);
  if (chunk !== null && chunk.length === 0) return new ProxyHeaderReader(sock, trust, done, rejected);
  if (chunk !== null) {
    reactor.stats.bytesIn += chunk.length;
    const r = parseProxyHeader(chunk, trust.maxHeaderBytes);
    if (r.status === 'done') {
      handOver(sock, r.header, chunk.subarray(r.length), false, done, peer);
      return null;
    }
  }
  // An incomplete or invalid header, or end of stream (an empty Buffer): the reader decides, and closes with the reason.
  return new ProxyHeaderReader(sock, trust, done, rejected, chunk ?? Buffer.alloc(0));
}
