/**
 * TLS for DangaSocket, on Node's own `tls` (which does the cryptography):
 * listening and connecting TLS sockets, and STARTTLS (`startTls()`), which
 * turns an open connection, native or stream, into a TLS one.
 */
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { SockAddress, StartTlsOptions, Transport } from '../../core/contract.js';
import type { ListenSock } from './listen-sock.js';
import { releaseTlsControl, requireInternals, tlsVerifyError } from './node-internals.js';
import { listenTcp } from './sockets.js';
import { StreamSock, type StreamSockOptions } from './stream-sock.js';

/**
 * The StreamSock of a TLS socket. An end of the stream before the handshake
 * completed is an error (ECONNRESET, as tls.Server and tls.connect report
 * it), so that eventErr, not a quiet end of stream, tells of a peer that
 * went away mid-handshake.
 */
export function tlsStreamSock(socket: tls.TLSSocket, options: Omit<StreamSockOptions, 'endError'> = {}): StreamSock {
  let secure = false;
  socket.once('secure', () => {
    secure = true;
  });
  const endError = (): Error | null => {
    if (secure) return null;
    const err = new Error('TLS connection closed before the handshake completed') as Error & { code: string };
    err.code = 'ECONNRESET';
    return err;
  };
  return new StreamSock(socket, { ...options, endError });
}

/**
 * Throws ERR_DANGA_NODE_UNSUPPORTED, before anything is set up, where this
 * runtime lacks an internal the server side of TLS needs with `options`
 * (otherwise the first connection's handshake would find out).
 */
function checkServerTls(options: Record<string, unknown>): void {
  requireInternals('make a server-side TLS socket', ['tls.TLSSocket#_releaseControl']);
  if (options.requestCert === true) {
    requireInternals("verify a TLS client's certificate (requestCert)", ['tls.TLSSocket#_handle.verifyError']);
  }
}

/** Node's server default: a handshake that takes longer fails with ERR_TLS_HANDSHAKE_TIMEOUT. */
const HANDSHAKE_TIMEOUT_MS = 120_000;

/**
 * The server side of TLS over `stream`. tls.Server is not used: it only
 * hands out a connection once its handshake succeeded, and handshake errors
 * would never reach the DangaSocket; here the connection is the object's
 * from the start and its handshake errors reach eventErr.
 */
export function serverTlsSocket(stream: Duplex, options: Record<string, unknown>): tls.TLSSocket {
  const { secureContext, isServer: _ignored, ...rest } = options;
  const ctx = (secureContext as tls.SecureContext | undefined) ?? tls.createSecureContext(rest);
  const requestCert = rest.requestCert === true;
  const rejectUnauthorized = rest.rejectUnauthorized !== false;
  const socket = new tls.TLSSocket(stream, {
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    ...rest,
    isServer: true,
    secureContext: ctx,
    requestCert,
    rejectUnauthorized,
  } as tls.TLSSocketOptions);
  // Every TLS error (the handshake timeout included) is an 'error' from now
  // on, as tls.connect arranges for client sockets.
  releaseTlsControl(socket);
  socket.once('secure', () => {
    if (!requestCert) return;
    // What tls.Server does once the handshake is done: Node verifies the
    // client's certificate itself, after OpenSSL accepted the handshake.
    const verifyError = tlsVerifyError(socket);
    if (verifyError === null) {
      socket.authorized = true;
      return;
    }
    // A string code at run time, as Node sets it (@types/node says Error).
    (socket as { authorizationError: unknown }).authorizationError = verifyError.code ?? verifyError.message;
    if (rejectUnauthorized) socket.destroy(verifyError);
  });
  return socket;
}

/** The client side of TLS over `stream` (tls.connect verifies the server's certificate and name). */
function clientTlsSocket(stream: Duplex, options: Record<string, unknown>, remote: SockAddress | null): tls.TLSSocket {
  const { isServer: _ignored, ...rest } = options;
  const opts: tls.ConnectionOptions = { ...(rest as tls.ConnectionOptions), socket: stream };
  // The name the certificate must match: the peer's address unless told.
  if (opts.host === undefined && opts.servername === undefined && remote !== null && remote.family !== 'unix') {
    opts.host = remote.address;
  }
  return tls.connect(opts);
}

/**
 * STARTTLS (the engine's `startTls`): the connection under `old`, native or
 * stream, continues as TLS, with the bytes the user pushed back and those
 * the old transport had read but not handed out fed to TLS first.
 */
export function upgradeToTls(old: Transport, options: StartTlsOptions, unread: readonly Buffer[]): Transport {
  // Bad keys or certificates fail here, before the connection changes hands,
  // so the caller can go on with the plain connection.
  const { isServer: _isServer, ...contextOptions } = options;
  if (options.isServer === true) checkServerTls(options);
  if (options.secureContext === undefined) {
    options = { ...options, secureContext: tls.createSecureContext(contextOptions) };
  }
  const addresses = { local: old.localAddress(), remote: old.remoteAddress() };
  const id = old.fd;
  // A user's stream given to the constructor stays what sock() returns (as
  // its TLS socket); a helper's Sock becomes the new StreamSock.
  const userStream = old.handle !== old;
  // The stream keeps what the old transport read and nobody took; TLSSocket
  // feeds that to TLS before anything newer. A native socket hands Node a dup
  // of its fd and keeps its own open (the number reserved) until it closes.
  const stream = old.release();
  for (let i = unread.length - 1; i >= 0; i--) stream.unshift(unread[i]);
  let tlsSocket: tls.TLSSocket;
  try {
    tlsSocket = options.isServer === true ? serverTlsSocket(stream, options) : clientTlsSocket(stream, options, addresses.remote);
  } catch (err) {
    // Options tls rejects only now: a native socket takes its fd back (its
    // dup is closed with the stream), so the plain connection goes on.
    const native = old as Transport & { _unrelease?(): void };
    if (native._unrelease !== undefined) {
      stream.destroy();
      native._unrelease();
    }
    throw err;
  }
  return tlsStreamSock(tlsSocket, { id, addresses, handle: userStream ? tlsSocket : undefined });
}

/** A listening TCP socket whose connections speak TLS (server side) from the first byte. */
export function listenTlsOn(host: string, port: number, backlog: number, options: Record<string, unknown>): ListenSock {
  checkServerTls(options);
  const ctx = (options.secureContext as tls.SecureContext | undefined) ?? tls.createSecureContext(options);
  const tlsOptions = { ...options, secureContext: ctx };
  return listenTcp(host, port, backlog, false, (socket, hints) => tlsStreamSock(serverTlsSocket(socket, tlsOptions), { addresses: hints }));
}

/** A TLS client connection; writable once TCP is connected (data written earlier goes out after the handshake). */
export function connectTlsTo(host: string, port: number, options: Record<string, unknown>): StreamSock {
  // (StreamSock makes the socket half-open, as a native socket is.)
  const socket = tls.connect({ ...(options as tls.ConnectionOptions), host, port });
  return tlsStreamSock(socket);
}
