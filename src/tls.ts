/**
 * TLS helpers: a listening socket whose connections speak TLS, and a TLS
 * client connection. They ask the loop's engine, as the socket helpers do:
 * under both real engines Node's `tls` does the cryptography (the sockets
 * are stream sockets, which share the loop with native ones); inside a
 * simulation they throw ERR_DANGA_SIM_UNSUPPORTED and open nothing. For
 * STARTTLS, see `DangaSocket#startTls()`.
 */
import type tls from 'node:tls';
import { validateInteger, validateObject } from './core/errors.js';
import { listenOnHost, validateHost } from './socket-args.js';
import type { Sock } from './core/contract.js';
import { reactor } from './core/loop.js';
import './engines/install.js';

/**
 * Options of `listenTls`: where to listen, plus those of `tls.createSecureContext` (key, cert, ca, …) and server TLS options (requestCert, rejectUnauthorized, ALPNProtocols, SNICallback, handshakeTimeout).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface ListenTlsOptions extends tls.SecureContextOptions {
  /** IP literal or "localhost"; default "::" falling back to "0.0.0.0". */
  host?: string;
  /** 0 picks a free port (see `localAddress()`). */
  port: number;
  /** Default 511. */
  backlog?: number;
  /**
   * Ask clients for a certificate (as `tls.createServer`).
   */
  requestCert?: boolean;
  /**
   * With `requestCert`: refuse clients whose certificate does not verify (default true).
   */
  rejectUnauthorized?: boolean;
  /**
   * Protocols offered for ALPN (as `tls.createServer`).
   */
  ALPNProtocols?: string[] | Uint8Array[] | Uint8Array;
  /**
   * Picks the secure context by server name (as `tls.createServer`).
   */
  SNICallback?: tls.TlsOptions['SNICallback'];
  /** ms; default 120000, as Node's tls.Server. */
  handshakeTimeout?: number;
  /**
   * A context made with `tls.createSecureContext`, instead of key/cert/…
   */
  secureContext?: tls.SecureContext;
  [option: string]: unknown;
}

/**
 * Options of `connectTls`: where to connect, plus those of `tls.connect` (ca, servername, checkServerIdentity, cert/key for client certificates, …).
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface ConnectTlsOptions extends Omit<tls.ConnectionOptions, 'host' | 'port' | 'socket' | 'path'> {
  /** IP literal or "localhost" (then the certificate must name "localhost"). */
  host: string;
  /**
   * Port, 1 to 65535.
   */
  port: number;
}

/**
 * A listening TCP socket whose accepted connections are TLS (server side).
 * `accept()` returns a connection at once, before its handshake: data written
 * early goes out once the handshake is done, and handshake or certificate
 * failures reach the connection's `eventErr(err)`, with the TLS Error as
 * `err`.
 *
 * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) / RangeError (code `ERR_OUT_OF_RANGE`) / TypeError (code `ERR_INVALID_ARG_VALUE`) for bad options, as `listenTcp`; Node's own errors for bad TLS
 *   options (a key that does not parse, …); a system error when listening fails; an Error (code `ERR_DANGA_NODE_UNSUPPORTED`) on a runtime that
 *   lacks a Node internal the server side of TLS needs (Bun, with `requestCert`).
 * @original new in danga-socket (not in Danga::Socket 1.62): Danga::Socket 1.62 has no TLS
 */
export function listenTls(options: ListenTlsOptions): Sock {
  const o = validateObject('options', options);
  const port = validateInteger('options.port', o.port, 0, 65535);
  const backlog = o.backlog === undefined ? 511 : validateInteger('options.backlog', o.backlog, 0, 0x7fffffff);
  const { host, port: _port, backlog: _backlog, ...tlsOptions } = o;
  return listenOnHost(host, (h) => reactor.engine.listenTls(h, port, backlog, tlsOptions));
}

/**
 * Starts a TLS client connection. It becomes writable once TCP is connected;
 * what is written before the handshake is done goes out after it. The
 * server's certificate is checked against `ca` (default: Node's root CAs)
 * and against `servername`, else the host. Failures reach `eventErr(err)`, with
 * the TLS error (e.g. code 'DEPTH_ZERO_SELF_SIGNED_CERT',
 * 'ERR_TLS_CERT_ALTNAME_INVALID') as `err`.
 *
 * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) / RangeError (code `ERR_OUT_OF_RANGE`) / TypeError (code `ERR_INVALID_ARG_VALUE`) for bad options, as `connectTcp`; Node's own errors for bad TLS
 *   options. Handshake and certificate failures do not throw: they reach `eventErr`.
 * @original new in danga-socket (not in Danga::Socket 1.62): Danga::Socket 1.62 has no TLS
 */
export function connectTls(options: ConnectTlsOptions): Sock {
  const o = validateObject('options', options);
  const host = validateHost('options.host', o.host);
  const port = validateInteger('options.port', o.port, 1, 65535);
  const { host: givenHost, port: _port, ...tlsOptions } = o;
  if (givenHost === 'localhost' && tlsOptions.servername === undefined) tlsOptions.servername = 'localhost';
  return reactor.engine.connectTls(host, port, tlsOptions);
}
