/**
 * TLS for DangaSocket, on Node's own `tls` (which does the cryptography):
 * listening and connecting TLS sockets, and STARTTLS (`startTls()`), which
 * turns an open connection, native or stream, into a TLS one.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { stateError } from '../../core/errors.js';
import type { StartTlsOptions } from '../../core/danga-socket.js';
import type { SockAddress, Transport } from '../../core/transport.js';
import { StreamSock, type StreamSockOptions } from './stream-transport.js';
import { ListenSock, listenTcp } from './stream-sock.js';

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

/** Node's server default: a handshake that takes longer fails with ERR_TLS_HANDSHAKE_TIMEOUT. */
const HANDSHAKE_TIMEOUT_MS = 120_000;

/** Internals of a server-side TLSSocket used to check a client certificate, as tls.Server does. */
interface ServerTlsInternals {
  _handle?: { verifyError?(): (Error & { code?: string }) | null } | null;
  _releaseControl?(): boolean;
}

/**
 * The server side of TLS over `stream`. tls.Server is not used: it only
 * hands out a connection once its handshake succeeded, and handshake errors
 * would never reach the DangaSocket; here the connection is the object's
 * from the start and its handshake errors reach eventErr.
 */
export function serverTlsSocket(stream: Duplex, options: Record<string, unknown>): tls.TLSSocket {
  const { secureContext, isServer: _ignored, ...rest } = options;
  const ctx = (secureContext as tls.SecureContext | undefined) ?? tls.createSecureContext(rest as tls.SecureContextOptions);
  const requestCert = rest.requestCert === true;
  const rejectUnauthorized = rest.rejectUnauthorized !== false;
  const socket = new tls.TLSSocket(stream as net.Socket, {
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    ...rest,
    isServer: true,
    secureContext: ctx,
    requestCert,
    rejectUnauthorized,
  } as tls.TLSSocketOptions);
  socket.once('secure', () => {
    const internals = socket as unknown as ServerTlsInternals;
    if (requestCert) {
      // What tls.Server does once the handshake is done: Node verifies the
      // client's certificate itself, after OpenSSL accepted the handshake.
      const verifyError = internals._handle?.verifyError?.() ?? null;
      if (verifyError) {
        socket.authorizationError = (verifyError.code ?? verifyError.message) as unknown as Error;
        if (rejectUnauthorized) {
          socket.destroy(verifyError);
          return;
        }
      } else {
        socket.authorized = true;
      }
    }
    // From here on TLS errors are emitted as 'error', as tls.Server arranges.
    internals._releaseControl?.();
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
 * The upgrader of `startTls()` (registered with the core): the connection
 * under `old` continues as TLS, with the bytes the user pushed back and those
 * the old transport had read but not handed out fed to TLS first.
 */
export function upgradeToTls(old: Transport, options: StartTlsOptions, unread: Buffer[]): Transport {
  // Bad keys or certificates fail here, before the connection changes hands,
  // so the caller can go on with the plain connection.
  const { isServer: _isServer, ...contextOptions } = options;
  if (options.secureContext === undefined) {
    options = { ...options, secureContext: tls.createSecureContext(contextOptions as tls.SecureContextOptions) };
  }
  const addresses = { local: old.localAddress(), remote: old.remoteAddress() };
  const id = old.fd;
  let stream: Duplex;
  let userStream = false;
  let native: ReleasableTransport | null = null;
  if (old instanceof StreamSock) {
    userStream = old.handle !== old;
    // The stream keeps what it read and nobody took; TLSSocket feeds that to
    // TLS before anything newer.
    stream = old._release();
  } else if (old.engine === 'epoll' && old.fd >= 0 && typeof (old as ReleasableTransport).release === 'function') {
    // A native socket: Node drives a dup of its fd from here on, and the old
    // Sock keeps its own fd open (the number reserved for this object) until
    // the new transport closes.
    native = old as ReleasableTransport;
    stream = native.release();
  } else {
    throw stateError('ERR_DANGA_NO_TLS', 'startTls() cannot upgrade this kind of socket');
  }
  for (let i = unread.length - 1; i >= 0; i--) stream.unshift(unread[i] as Buffer);
  let tlsSocket: tls.TLSSocket;
  try {
    tlsSocket = options.isServer === true ? serverTlsSocket(stream, options) : clientTlsSocket(stream, options, addresses.remote);
  } catch (err) {
    if (native !== null) {
      // (Options tls rejects): nothing changes hands, the plain connection goes on.
      stream.destroy();
      native._unrelease?.();
    }
    throw err;
  }
  const t = tlsStreamSock(tlsSocket, { id, addresses, handle: userStream ? tlsSocket : undefined });
  if (native !== null) {
    const reserved = native;
    const closeTls = t.close.bind(t);
    t.close = (): void => {
      closeTls();
      reserved.close();
    };
  }
  return t;
}

/** A native socket's transport: it can give its connection to Node (see NativeSock.release). */
type ReleasableTransport = Transport & { release(): Duplex; _unrelease?(): void };

/** A listening TCP socket whose connections speak TLS (server side) from the first byte. */
export function listenTlsOn(host: string, port: number, backlog: number, options: Record<string, unknown>): ListenSock {
  const ctx = (options.secureContext as tls.SecureContext | undefined) ?? tls.createSecureContext(options as tls.SecureContextOptions);
  const tlsOptions = { ...options, secureContext: ctx };
  return listenTcp(host, port, backlog, false, (socket, hints) => tlsStreamSock(serverTlsSocket(socket, tlsOptions), { addresses: hints }));
}

/** A TLS client connection; writable once TCP is connected (data written earlier goes out after the handshake). */
export function connectTlsTo(host: string, port: number, options: Record<string, unknown>): StreamSock {
  // (StreamSock makes the socket half-open, as a native socket is.)
  const socket = tls.connect({ ...(options as tls.ConnectionOptions), host, port });
  return tlsStreamSock(socket);
}
