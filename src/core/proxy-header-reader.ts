/**
 * ProxyHeaderReader: the stage between accept() and a Listener's factory on
 * a listener with the `proxyProtocol` option. It checks that the peer is a
 * trusted balancer, reads the PROXY header (bounded in bytes and in time),
 * and hands the socket on, with the header's addresses as its addresses and
 * the bytes that followed the header in front of its read stream.
 */
import { BlockList, isIP } from 'node:net';
import type { Sock, SockAddress } from './contract.js';
import { DangaSocket } from './danga-socket.js';
import { invalidArgType, invalidArgValue, outOfRange, validateInteger } from './errors.js';
import {
  PROXY_HEADER_DEFAULT_MAX,
  PROXY_HEADER_MAX_MAX,
  PROXY_HEADER_MIN_MAX,
  parseProxyHeader,
  type ProxyHeader,
} from './proxy-protocol.js';
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

/** The validated `proxyProtocol` option. */
export class ProxyTrust {
  readonly #ip: BlockList;
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
    this.#ip = new BlockList();
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
      const bits = v === 4 ? 32 : 128;
      const prefix = slash < 0 ? bits : Number(entry.slice(slash + 1));
      if (v === 0 || !/^\d{1,3}$/.test(slash < 0 ? String(bits) : entry.slice(slash + 1)) || !(prefix >= 0 && prefix <= bits)) {
        throw invalidArgValue(`${name}.trusted[${i}]`, `is not an address, a network (CIDR) or "unix": ${JSON.stringify(entry)}`);
      }
      this.#ip.addSubnet(address, prefix, v === 4 ? 'ipv4' : 'ipv6');
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
    return this.#ip.check(peer.address, peer.family === 'IPv4' ? 'ipv4' : 'ipv6');
  }
}

/** What the Listener does with a socket whose header arrived: `rest` are the bytes after the header; `shuttingDown` when a graceful shutdown began meanwhile. */
export type HeaderDone = (sock: Sock, rest: Buffer, shuttingDown: boolean) => void;

const infos = new WeakMap<object, ProxyInfo>();

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
  /** Bytes received so far, when the header did not come in one read. */
  #partial: Buffer | null = null;
  #deadline: Timer | null = null;
  #shuttingDown = false;

  /**
   * @param sock an accepted socket
   * @param trust the listener's validated option
   * @param done called with the socket once the header is in
   *
   * @throws as the DangaSocket constructor.
   */
  constructor(sock: Sock, trust: ProxyTrust, done: HeaderDone) {
    super(sock);
    this.#trust = trust;
    this.#done = done;
    if (!trust.allows(sock.remoteAddress())) {
      this.close('proxy_untrusted');
      return;
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
    if (sock === null) return;
    const info: ProxyInfo = { header, peer: sock.remoteAddress(), local: sock.localAddress() };
    infos.set(sock, info);
    if (header.source !== null) {
      // The connection's addresses are the client's from here on: the
      // Sock's remoteAddress()/localAddress() and so the DangaSocket's
      // peerIpString(), peerAddrString(), localIpString(), localAddrString().
      const { source, destination } = header;
      Object.defineProperty(sock, 'remoteAddress', { value: () => (sock.closed ? null : source), configurable: true, writable: true });
      Object.defineProperty(sock, 'localAddress', { value: () => (sock.closed ? null : destination), configurable: true, writable: true });
    }
    this.#done(sock, Buffer.from(rest), this.#shuttingDown);
  }

  /**
   * Closes (cancelling the header's deadline).
   *
   * @throws Nothing.
   * @original `$obj->close($reason)`, overridden
   */
  override close(reason?: string): void {
    this.#deadline?.cancel();
    this.#deadline = null;
    this.#partial = null;
    super.close(reason);
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

