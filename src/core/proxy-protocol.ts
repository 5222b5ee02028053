/**
 * The PROXY protocol (HAProxy's, versions 1 and 2): a header a load balancer
 * sends at the start of each connection it opens to a server, carrying the
 * addresses of the connection it accepted from the client. This file is the
 * parser alone: pure, no I/O, incremental (give it what has arrived so far,
 * it says "incomplete", "done" or "invalid").
 *
 * Specification: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 */
import { SocketAddress, isIPv4, isIPv6 } from 'node:net';
import type { SockAddress } from './contract.js';

/** The v2 signature: "\r\n\r\n\0\r\nQUIT\n". */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** What every v1 header starts with. */
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The longest v1 header, CRLF included (the specification's bound). */
export const PROXY_V1_MAX = 107;
/** The v2 header's fixed part: signature, version and command, family, length. */
const V2_FIXED = 16;
/** The default limit of a v2 header's size in bytes. */
export const PROXY_HEADER_DEFAULT_MAX = 4096;
/** The smallest limit that can be set: a v2 header with UNIX addresses and no TLV. */
export const PROXY_HEADER_MIN_MAX = V2_FIXED + 216;
/** The largest limit: what the v2 length field can say (16 + 65535). */
export const PROXY_HEADER_MAX_MAX = V2_FIXED + 0xffff;

/**
 * What the header says the balancer carried: 'TCP4', 'TCP6', 'UDP4',
 * 'UDP6', 'UNIX' (stream), 'UNIX_DGRAM', or 'UNKNOWN' (v1 `PROXY UNKNOWN`,
 * v2 AF_UNSPEC: no addresses).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export type ProxyTransport = 'TCP4' | 'TCP6' | 'UDP4' | 'UDP6' | 'UNIX' | 'UNIX_DGRAM' | 'UNKNOWN';

/**
 * The SSL TLV of a v2 header (PP2_TYPE_SSL): what the balancer knows of the
 * client's TLS connection it terminated.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface ProxySsl {
  /** PP2_CLIENT_SSL (1), PP2_CLIENT_CERT_CONN (2), PP2_CLIENT_CERT_SESS (4), or'ed. */
  readonly client: number;
  /** 0 when the client presented a certificate that was verified, else non-zero. */
  readonly verify: number;
  /** PP2_SUBTYPE_SSL_VERSION: e.g. 'TLSv1.3'. */
  readonly version?: string;
  /** PP2_SUBTYPE_SSL_CN: the client certificate's Common Name. */
  readonly cn?: string;
  /** PP2_SUBTYPE_SSL_CIPHER. */
  readonly cipher?: string;
  /** PP2_SUBTYPE_SSL_SIG_ALG. */
  readonly sigAlg?: string;
  /** PP2_SUBTYPE_SSL_KEY_ALG. */
  readonly keyAlg?: string;
}

/**
 * The TLVs of a v2 header: the known ones decoded, every one (known or not,
 * e.g. AWS's 0xEA) in `raw` in the order sent.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface ProxyTlvs {
  /** PP2_TYPE_ALPN: the protocol the client negotiated ('h2', 'http/1.1'). */
  readonly alpn?: string;
  /** PP2_TYPE_AUTHORITY: the host name the client asked for (TLS SNI). */
  readonly authority?: string;
  /** PP2_TYPE_UNIQUE_ID: the balancer's id of the connection (up to 128 bytes). */
  readonly uniqueId?: Buffer;
  /** PP2_TYPE_SSL. */
  readonly ssl?: ProxySsl;
  /** PP2_TYPE_NETNS: the network namespace's name. */
  readonly netns?: string;
  /** Every TLV as sent: type and value (a copy). */
  readonly raw: readonly ProxyTlv[];
}

/**
 * One TLV of a v2 header, as sent.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface ProxyTlv {
  /** Its type (PP2_TYPE_*: 0x01 ALPN, 0x02 authority, …; 0xE0–0xEF custom, e.g. AWS's 0xEA). */
  readonly type: number;
  /** Its value (a copy). */
  readonly value: Buffer;
}

/**
 * A parsed PROXY header.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface ProxyHeader {
  /** 1 (text) or 2 (binary). */
  readonly version: 1 | 2;
  /**
   * 'PROXY': a relayed connection, with the client's addresses (unless the
   * transport is 'UNKNOWN'). 'LOCAL' (v2): the balancer's own connection,
   * a health check: no addresses.
   */
  readonly command: 'PROXY' | 'LOCAL';
  /** What the balancer relayed. */
  readonly transport: ProxyTransport;
  /** The client's address (null for LOCAL and UNKNOWN). */
  readonly source: SockAddress | null;
  /** The address the client connected to, on the balancer (null for LOCAL and UNKNOWN). */
  readonly destination: SockAddress | null;
  /** The v2 TLVs; null for v1 and for a v2 header without any. */
  readonly tlvs: ProxyTlvs | null;
}

/**
 * Why a header is invalid (a `Listener` closes the connection with reason
 * `proxy_<reason>`):
 *
 * - 'signature': neither a v1 ('PROXY ') nor a v2 signature;
 * - 'v1_malformed': a v1 line that does not follow the grammar;
 * - 'v1_too_long': no CRLF within 107 bytes;
 * - 'v2_version': a v2 version other than 2;
 * - 'v2_command': a v2 command other than LOCAL and PROXY;
 * - 'v2_family': an unknown address family or transport;
 * - 'v2_too_long': a v2 header longer than the limit;
 * - 'v2_truncated': an address block shorter than its family needs;
 * - 'v2_tlv': a TLV running past the header, or a malformed SSL TLV;
 * - 'v2_checksum': a CRC32C TLV that does not match.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export type ProxyHeaderError =
  'signature' | 'v1_malformed' | 'v1_too_long' | 'v2_version' | 'v2_command' | 'v2_family' | 'v2_too_long' | 'v2_truncated' | 'v2_tlv' | 'v2_checksum';

/**
 * What `parseProxyHeader` found: 'incomplete' (a valid beginning: wait for
 * more bytes), 'done' (the header, and how many bytes it took: what follows
 * is the connection's data), or 'invalid' (why, and a message).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export type ProxyParseResult =
  | {
      /** A valid beginning: more bytes are needed. */
      readonly status: 'incomplete';
    }
  | {
      /** A complete header. */
      readonly status: 'done';
      /** The header. */
      readonly header: ProxyHeader;
      /** Its length in bytes: what follows is the connection's data. */
      readonly length: number;
    }
  | {
      /** Not a valid header. */
      readonly status: 'invalid';
      /** Why. */
      readonly reason: ProxyHeaderError;
      /** Why, in words. */
      readonly message: string;
    };

const INCOMPLETE = Object.freeze({ status: 'incomplete' as const });

function invalid(reason: ProxyHeaderError, message: string): ProxyParseResult {
  return { status: 'invalid', reason, message };
}

/**
 * Parses a PROXY protocol header (v1 or v2) at the start of `data`: the
 * bytes received so far on a connection. Call it again with more bytes while
 * it answers 'incomplete'; a header split anywhere, down to single bytes,
 * parses the same. It never looks further than the header (107 bytes for
 * v1, `maxHeaderBytes` for v2), so what the caller holds stays within that
 * bound: an 'incomplete' answer means fewer bytes than the bound arrived.
 *
 * IPv6 addresses are reported in their canonical text form ('::1'), as the
 * engines report a socket's addresses.
 *
 * @param data the bytes received so far
 * @param maxHeaderBytes the longest v2 header accepted, in bytes (default 4096; 232 to 65551)
 *
 * @throws Nothing for any bytes (bad input is an 'invalid' result); the caller validates `maxHeaderBytes`.
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export function parseProxyHeader(data: Uint8Array, maxHeaderBytes: number = PROXY_HEADER_DEFAULT_MAX): ProxyParseResult {
  const n = data.length;
  if (n === 0) return INCOMPLETE;
  if (data[0] === 0x0d) {
    const k = Math.min(n, V2_SIGNATURE.length);
    for (let i = 0; i < k; i++) {
      if (data[i] !== V2_SIGNATURE[i]) return invalid('signature', 'the connection did not start with a PROXY protocol header (bad v2 signature)');
    }
    return parseV2(data, maxHeaderBytes);
  }
  const k = Math.min(n, V1_PREFIX.length);
  for (let i = 0; i < k; i++) {
    if (data[i] !== V1_PREFIX[i]) return invalid('signature', 'the connection did not start with a PROXY protocol header');
  }
  return parseV1(data);
}

// ---------------------------------------------------------------- v1

const PORT = /^(?:0|[1-9][0-9]{0,4})$/;

function parseV1(data: Uint8Array): ProxyParseResult {
  const end = Math.min(data.length, PROXY_V1_MAX);
  let cr = -1;
  for (let i = V1_PREFIX.length; i < end; i++) {
    const c = data[i] as number;
    if (c === 0x0d) {
      if (i + 2 > PROXY_V1_MAX) return invalid('v1_too_long', 'PROXY v1 header longer than 107 bytes');
      if (i + 1 >= data.length) return INCOMPLETE;
      if (data[i + 1] !== 0x0a) return invalid('v1_malformed', 'PROXY v1 header: CR not followed by LF');
      cr = i;
      break;
    }
    // Printable ASCII only: anything else cannot be part of the grammar.
    if (c < 0x20 || c > 0x7e) return invalid('v1_malformed', 'PROXY v1 header: a byte outside printable ASCII');
  }
  if (cr < 0) return data.length >= PROXY_V1_MAX ? invalid('v1_too_long', 'PROXY v1 header longer than 107 bytes') : INCOMPLETE;
  const line = Buffer.from(data.buffer, data.byteOffset + V1_PREFIX.length, cr - V1_PREFIX.length).toString('latin1');
  const length = cr + 2;
  if (line.startsWith('UNKNOWN') && (line.length === 7 || line[7] === ' ')) {
    // "PROXY UNKNOWN" and whatever follows up to CRLF: the receiver ignores it.
    return done({ version: 1, command: 'PROXY', transport: 'UNKNOWN', source: null, destination: null, tlvs: null }, length);
  }
  const parts = line.split(' ');
  if (parts.length !== 5) return invalid('v1_malformed', 'PROXY v1 header: expected "PROXY TCP4|TCP6 src dst sport dport"');
  const [proto, src, dst, sport, dport] = parts as [string, string, string, string, string];
  let family: 'IPv4' | 'IPv6';
  if (proto === 'TCP4') {
    if (!isIPv4(src) || !isIPv4(dst)) return invalid('v1_malformed', 'PROXY v1 header: TCP4 with an address that is not IPv4');
    family = 'IPv4';
  } else if (proto === 'TCP6') {
    if (!isIPv6(src) || !isIPv6(dst) || src.includes('%') || dst.includes('%')) {
      return invalid('v1_malformed', 'PROXY v1 header: TCP6 with an address that is not IPv6');
    }
    family = 'IPv6';
  } else {
    return invalid('v1_malformed', 'PROXY v1 header: the protocol is none of TCP4, TCP6, UNKNOWN');
  }
  const sp = port(sport);
  const dp = port(dport);
  if (sp < 0 || dp < 0) return invalid('v1_malformed', 'PROXY v1 header: a port that is not a decimal number from 0 to 65535');
  const source = ipAddress(src, sp, family);
  const destination = ipAddress(dst, dp, family);
  return done({ version: 1, command: 'PROXY', transport: proto, source, destination, tlvs: null }, length);
}

function port(s: string): number {
  if (!PORT.test(s)) return -1;
  const p = Number(s);
  return p <= 65535 ? p : -1;
}

function ipAddress(address: string, port: number, family: 'IPv4' | 'IPv6'): SockAddress {
  const canonical = family === 'IPv6' ? new SocketAddress({ address, family: 'ipv6' }).address : address;
  return { address: canonical, port, family };
}

function done(header: ProxyHeader, length: number): ProxyParseResult {
  return { status: 'done', header, length };
}

// ---------------------------------------------------------------- v2

const FAMILIES: Record<number, { transport: ProxyTransport; addrLen: number } | undefined> = {
  0x00: { transport: 'UNKNOWN', addrLen: 0 },
  0x11: { transport: 'TCP4', addrLen: 12 },
  0x12: { transport: 'UDP4', addrLen: 12 },
  0x21: { transport: 'TCP6', addrLen: 36 },
  0x22: { transport: 'UDP6', addrLen: 36 },
  0x31: { transport: 'UNIX', addrLen: 216 },
  0x32: { transport: 'UNIX_DGRAM', addrLen: 216 },
};

const PP2_TYPE_ALPN = 0x01;
const PP2_TYPE_AUTHORITY = 0x02;
const PP2_TYPE_CRC32C = 0x03;
const PP2_TYPE_UNIQUE_ID = 0x05;
const PP2_TYPE_SSL = 0x20;
const PP2_TYPE_NETNS = 0x30;

function parseV2(data: Uint8Array, maxHeaderBytes: number): ProxyParseResult {
  const n = data.length;
  if (n > 12) {
    const verCmd = data[12] as number;
    if (verCmd >> 4 !== 2) return invalid('v2_version', `PROXY v2 header: version ${verCmd >> 4}, not 2`);
    if ((verCmd & 0x0f) > 1) return invalid('v2_command', `PROXY v2 header: command ${verCmd & 0x0f} is neither LOCAL (0) nor PROXY (1)`);
  }
  if (n > 13 && FAMILIES[data[13] as number] === undefined) {
    return invalid('v2_family', `PROXY v2 header: unknown address family and transport 0x${(data[13] as number).toString(16).padStart(2, '0')}`);
  }
  if (n < V2_FIXED) return INCOMPLETE;
  const len = ((data[14] as number) << 8) | (data[15] as number);
  const total = V2_FIXED + len;
  if (total > maxHeaderBytes) return invalid('v2_too_long', `PROXY v2 header of ${total} bytes, over the limit of ${maxHeaderBytes}`);
  const local = ((data[12] as number) & 0x0f) === 0;
  const fam = FAMILIES[data[13] as number] as { transport: ProxyTransport; addrLen: number };
  // Known at 16 bytes: an address block too short for its family.
  if (!local && len < fam.addrLen) {
    return invalid('v2_truncated', `PROXY v2 header: ${len} bytes of addresses, ${fam.transport} needs ${fam.addrLen}`);
  }
  if (n < total) return INCOMPLETE;
  const buf = Buffer.from(data.buffer, data.byteOffset, total);
  let source: SockAddress | null = null;
  let destination: SockAddress | null = null;
  let transport = fam.transport;
  // A LOCAL header's addresses are ignored (the specification), as is the whole block of AF_UNSPEC.
  if (local) transport = 'UNKNOWN';
  else if (fam.addrLen === 12) {
    source = { address: ipv4(buf, 16), port: buf.readUInt16BE(24), family: 'IPv4' };
    destination = { address: ipv4(buf, 20), port: buf.readUInt16BE(26), family: 'IPv4' };
  } else if (fam.addrLen === 36) {
    source = { address: ipv6(buf, 16), port: buf.readUInt16BE(48), family: 'IPv6' };
    destination = { address: ipv6(buf, 32), port: buf.readUInt16BE(50), family: 'IPv6' };
  } else if (fam.addrLen === 216) {
    source = { path: unixPath(buf, 16), family: 'unix' };
    destination = { path: unixPath(buf, 124), family: 'unix' };
  }
  // TLVs follow the address block (for AF_UNSPEC there is no known block: none are read).
  let tlvs: ProxyTlvs | null = null;
  if (fam.addrLen > 0 && len >= fam.addrLen && len > fam.addrLen) {
    const r = parseTlvs(buf, V2_FIXED + fam.addrLen);
    if (typeof r === 'string') return r === 'v2_checksum' ? invalid(r, 'PROXY v2 header: CRC32C mismatch') : invalid('v2_tlv', `PROXY v2 header: ${r}`);
    tlvs = r;
  }
  return done({ version: 2, command: local ? 'LOCAL' : 'PROXY', transport, source, destination, tlvs }, total);
}

function ipv4(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

function ipv6(buf: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(at + i).toString(16));
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

/** A 108-byte sun_path: up to the first NUL (an abstract name, NUL first, up to the next one, shown with its NUL). */
function unixPath(buf: Buffer, at: number): string {
  const block = buf.subarray(at, at + 108);
  const from = block[0] === 0 ? 1 : 0;
  let end = block.indexOf(0, from);
  if (end < 0) end = block.length;
  return block.toString('utf8', 0, end);
}

type MutableTlvs = { -readonly [K in keyof ProxyTlvs]: ProxyTlvs[K] };

function parseTlvs(buf: Buffer, from: number): MutableTlvs | string {
  const raw: ProxyTlv[] = [];
  const out: MutableTlvs = { raw };
  let at = from;
  while (at < buf.length) {
    if (at + 3 > buf.length) return 'a TLV header runs past the end of the header';
    const type = buf[at] as number;
    const len = buf.readUInt16BE(at + 1);
    const start = at + 3;
    if (start + len > buf.length) return `TLV 0x${type.toString(16)} of ${len} bytes runs past the end of the header`;
    const value = Buffer.from(buf.subarray(start, start + len));
    raw.push({ type, value });
    switch (type) {
      case PP2_TYPE_ALPN:
        out.alpn = value.toString('latin1');
        break;
      case PP2_TYPE_AUTHORITY:
        out.authority = value.toString('utf8');
        break;
      case PP2_TYPE_CRC32C: {
        if (len !== 4) return 'a CRC32C TLV that is not 4 bytes';
        const copy = Buffer.from(buf);
        copy.fill(0, start, start + 4);
        if (crc32c(copy) !== value.readUInt32BE(0)) return 'v2_checksum';
        break;
      }
      case PP2_TYPE_UNIQUE_ID:
        if (len > 128) return 'a unique id TLV over 128 bytes';
        out.uniqueId = value;
        break;
      case PP2_TYPE_SSL: {
        const ssl = parseSsl(value);
        if (ssl === null) return 'a malformed SSL TLV';
        out.ssl = ssl;
        break;
      }
      case PP2_TYPE_NETNS:
        out.netns = value.toString('latin1');
        break;
      default:
        break;
    }
    at = start + len;
  }
  return out;
}

function parseSsl(value: Buffer): ProxySsl | null {
  if (value.length < 5) return null;
  const ssl: { -readonly [K in keyof ProxySsl]: ProxySsl[K] } = { client: value[0] as number, verify: value.readUInt32BE(1) };
  let at = 5;
  while (at < value.length) {
    if (at + 3 > value.length) return null;
    const type = value[at] as number;
    const len = value.readUInt16BE(at + 1);
    const start = at + 3;
    if (start + len > value.length) return null;
    const text = value.toString('latin1', start, start + len);
    if (type === 0x21) ssl.version = text;
    else if (type === 0x22) ssl.cn = value.toString('utf8', start, start + len);
    else if (type === 0x23) ssl.cipher = text;
    else if (type === 0x24) ssl.sigAlg = text;
    else if (type === 0x25) ssl.keyAlg = text;
    at = start + len;
  }
  return ssl;
}

let CRC32C_TABLE: Uint32Array | null = null;

/** CRC-32C (Castagnoli), as the PP2_TYPE_CRC32C TLV carries it. */
function crc32c(buf: Uint8Array): number {
  let table = CRC32C_TABLE;
  if (table === null) {
    table = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      table[i] = c >>> 0;
    }
    CRC32C_TABLE = table;
  }
  let crc = 0xffffffff;
  for (let i = 0; i < buf.length; i++) crc = (table[(crc ^ (buf[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
