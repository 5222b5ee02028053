/**
 * The node engine's socket helpers: listen and connect over TCP and Unix
 * sockets, the socket pair, and adopting an fd. They give the results the
 * epoll engine's give, as far as Node allows (docs/engines-and-tls.md).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { fstatSync, statSync } from 'node:fs';
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import { dirname } from 'node:path';
import { noop } from '../../core/constants.js';
import { errnoOf, invalidArgType, invalidArgValue, stateError, systemError } from '../../core/errors.js';
import { ListenSock, type AcceptWrapper } from './listen-sock.js';
import { listenSync } from './node-internals.js';
import { duplexPair } from './pair.js';
import { StreamSock, type AddressHints } from './stream-sock.js';

const E = osConstants.errno;
/** sun_path holds 108 bytes, the terminating NUL included. */
const UNIX_PATH_MAX = 107;
/**
 * Documented (Node >= 20.16): Node publishes a failed listen's Error here,
 * synchronously, before it emits 'error' on the next tick.
 */
const LISTEN_ERROR_CHANNEL = 'tracing:net.server.listen:error';

/** Errors of bind(2): the epoll engine reports these with syscall 'bind'. */
const BIND_ERRORS = new Set([E.EADDRINUSE, E.EADDRNOTAVAIL, E.EACCES, E.EAFNOSUPPORT, E.EINVAL, E.ENAMETOOLONG, E.ENOENT, E.EEXIST, E.ENOTDIR, E.EROFS]);

/** Which syscall a listen error belongs to: Node says 'listen' for all of them. */
function listenSyscall(negErrno: number): string {
  return BIND_ERRORS.has(-negErrno) ? 'bind' : 'listen';
}

/**
 * Binds and listens at once (see `listenSync`), and throws a failure the way
 * the epoll engine does: `code` 'EADDRINUSE', `syscall` 'bind', message
 * "bind EADDRINUSE 127.0.0.1:7000". Node emits the failure as the server's
 * 'error' only on the next tick; the Error itself is taken, synchronously,
 * from the documented diagnostics channel Node publishes it on.
 *
 * On a Node without that channel (before 20.16) the failure is known now but
 * not its cause: nothing is thrown, and the ListenSock reports the server's
 * 'error' through eventErr instead (docs/engines-and-tls.md).
 */
function listenNow(
  server: net.Server,
  address: string,
  port: number,
  addressType: 4 | 6 | -1,
  backlog: number,
  detail: string,
  extra: Record<string, unknown>,
): void {
  const failure = listenFailure(server, address, port, addressType, backlog);
  if (failure === null) return;
  // Thrown here instead of emitted on the next tick; the server is dropped.
  server.on('error', noop);
  let negErrno = errnoOf(failure, -E.EINVAL);
  if (addressType === -1 && negErrno === -E.EACCES) negErrno = missingDirectory(address) ?? negErrno;
  throw Object.assign(systemError(negErrno, listenSyscall(negErrno), detail), extra);
}

/**
 * The Error of a listen that failed at once, or null: listening, or (Node
 * before 20.16) failed without saying why yet.
 */
function listenFailure(server: net.Server, address: string, port: number, addressType: 4 | 6 | -1, backlog: number): Error | null {
  // (Assigned in the listener: typed so that TypeScript does not narrow it to null.)
  let failure = null as Error | null;
  const onListenError = (message: unknown): void => {
    if (typeof message !== 'object' || message === null || !('server' in message) || !('error' in message)) return;
    if (message.server === server && message.error instanceof Error) failure ??= message.error;
  };
  subscribe(LISTEN_ERROR_CHANNEL, onListenError);
  let listening: boolean;
  try {
    listening = listenSync(server, address, port, addressType, backlog);
  } finally {
    unsubscribe(LISTEN_ERROR_CHANNEL, onListenError);
  }
  return listening ? null : failure;
}

/**
 * libuv reports a Unix socket path in a directory that does not exist as
 * EACCES (as Windows would); bind(2), and so the epoll engine, says ENOENT
 * (or ENOTDIR). Returns that negative errno when the directory is missing.
 */
function missingDirectory(path: string): number | null {
  if (path.startsWith('\0')) return null; // abstract: no directory
  try {
    statSync(dirname(path));
    return null;
  } catch (err) {
    const n = errnoOf(err, 0);
    return n === -E.ENOENT || n === -E.ENOTDIR ? n : null;
  }
}

/** A listening TCP socket on `host` (an IP literal), bound at once. */
export function listenTcp(host: string, port: number, backlog: number, reusePort: boolean, wrap?: AcceptWrapper): ListenSock {
  if (reusePort) {
    throw stateError('ERR_DANGA_NO_REUSEPORT', 'reusePort needs the epoll engine (Node 20 cannot set SO_REUSEPORT)');
  }
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  const family = net.isIPv6(host) ? 6 : 4;
  listenNow(server, host, port, family, backlog, `${family === 6 ? `[${host}]` : host}:${port}`, { address: host, port });
  return new ListenSock(server, null, backlog, wrap);
}

/**
 * A listening socket over `fd`, an fd the caller hands over (Node closes it
 * with the server). Node listens on it as it is (the socket is already bound
 * and listening: listen(2) again only sets the backlog).
 */
export function listenFd(fd: number): ListenSock {
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  const backlog = 511;
  // (Outside a cluster worker, listen({ fd }) opens the handle synchronously.)
  server.listen({ fd, backlog });
  if (!server.listening) {
    server.on('error', noop);
    throw invalidArgValue('fd', `is fd ${fd}, which Node cannot listen on`);
  }
  return new ListenSock(server, null, backlog);
}

function checkUnixPath(path: string, syscall: string): void {
  if (Buffer.byteLength(path) > UNIX_PATH_MAX) {
    // libuv would silently cut the path short.
    throw Object.assign(systemError(-E.ENAMETOOLONG, syscall, path), { path });
  }
}

/** A listening Unix stream socket at `path`, bound at once. */
export function listenUnix(path: string, backlog: number): ListenSock {
  checkUnixPath(path, 'bind');
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  listenNow(server, path, -1, -1, backlog, path, { path });
  return new ListenSock(server, path, backlog);
}

/** Starts a TCP connection; the socket becomes writable once connected. */
export function connectTcp(host: string, port: number): StreamSock {
  return new StreamSock(net.connect({ host, port, allowHalfOpen: true }));
}

/**
 * Connects to a Unix socket. Node connects asynchronously, so the errors a
 * native connect(2) returns at once are found with stat(2) first: no such
 * file (ENOENT), not a socket (ECONNREFUSED). A socket file with no listener
 * fails later, through eventErr.
 */
export function connectUnix(path: string): StreamSock {
  checkUnixPath(path, 'connect');
  if (!path.startsWith('\0')) {
    let isSocket: boolean;
    try {
      isSocket = statSync(path).isSocket();
    } catch (err) {
      throw Object.assign(systemError(errnoOf(err, -E.ENOENT), 'connect', path), { path });
    }
    if (!isSocket) throw Object.assign(systemError(-E.ECONNREFUSED, 'connect', path), { path });
  }
  const socket = net.connect({ path, allowHalfOpen: true });
  return new StreamSock(socket, { addresses: { local: { path: '', family: 'unix' }, remote: { path, family: 'unix' } } });
}

/** Two connected in-memory sockets (see pair.ts). */
export function socketPair(): [StreamSock, StreamSock] {
  const [a, b] = duplexPair();
  const unnamed: AddressHints = { local: { path: '', family: 'unix' }, remote: { path: '', family: 'unix' } };
  return [new StreamSock(a, { addresses: unnamed }), new StreamSock(b, { addresses: unnamed })];
}

/** Takes over an open socket fd (a number given to the constructor): Node drives it from then on. */
export function adoptFd(fd: number): StreamSock {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw invalidArgType('sock', 'a Sock, a stream or a socket fd', fd);
  let isSocket: boolean;
  try {
    isSocket = fstatSync(fd).isSocket();
  } catch (err) {
    throw invalidArgValue('sock', `is fd ${fd}, which is not open`, systemError(errnoOf(err, -E.EBADF), 'fstat'));
  }
  if (!isSocket) throw invalidArgValue('sock', `is fd ${fd}, which is not a socket`);
  let socket: net.Socket;
  try {
    socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
  } catch (err) {
    // Node drives stream sockets only (TCP and Unix stream), not datagram sockets.
    throw invalidArgValue('sock', `is fd ${fd}, which is not a stream socket Node can drive`, err);
  }
  return new StreamSock(socket);
}
