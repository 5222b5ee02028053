/**
 * The native Linux epoll engine.
 */
import { invalidArgType, invalidArgValue, stateError, systemError, type SystemErrorWhere } from '../../core/errors.js';
import type { Engine } from '../../core/contract.js';
import type { NativeBinding, SetupFailure } from './binding.js';
import { EpollDriver } from './driver.js';
import { ExclusiveListenSock, NativeSock } from './native-sock.js';

export { NativeSock } from './native-sock.js';

/**
 * Adopts an fd handed to the constructor as a number: it must be an open
 * socket. From then on the addon owns it (it is closed with the object, or
 * at the teardown of this environment).
 */
function adoptFd(b: NativeBinding, fd: number): NativeSock {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw invalidArgType('sock', 'a Sock, a stream or a socket fd', fd);
  const type = b.fdType(fd);
  if (type < 0) throw invalidArgValue('sock', `is fd ${fd}, which is not open`, systemError(type, 'fstat'));
  if (type !== 1 && type !== 3) throw invalidArgValue('sock', `is fd ${fd}, which is not a socket`);
  const rc = b.adopt(fd);
  if (rc < 0) throw systemError(rc, 'fcntl', `fd ${fd}`);
  return new NativeSock(b, fd, type === 1);
}

/** The fd a listen/connect call returned, or the error for the step that failed. */
function opened(r: number | SetupFailure, where: SystemErrorWhere): number {
  if (typeof r === 'number') return r;
  throw systemError(r.errno, r.syscall, where);
}

/** Builds the epoll engine over a loaded binding. */
export function createEpollEngine(b: NativeBinding): Engine {
  return {
    name: 'epoll',
    createDriver: () => new EpollDriver(b),
    adopt: (sock: unknown) => {
      if (sock instanceof NativeSock) return sock;
      if (typeof sock === 'number') return adoptFd(b, sock);
      return null;
    },
    // TLS is Node's: the composition root puts the node engine's TLS here.
    startTls: () => {
      throw stateError('ERR_DANGA_NO_TLS', 'the epoll engine has no TLS of its own');
    },
    listenTls: () => {
      throw stateError('ERR_DANGA_NO_TLS', 'the epoll engine has no TLS of its own');
    },
    connectTls: () => {
      throw stateError('ERR_DANGA_NO_TLS', 'the epoll engine has no TLS of its own');
    },
    listenTcp: (host, port, backlog, reusePort) => new NativeSock(b, opened(b.listenTcp(host, port, backlog, reusePort), { address: host, port })),
    listenFd: (fd, exclusive) => {
      const sock = adoptFd(b, fd);
      return exclusive ? new ExclusiveListenSock(b, sock.fd) : sock;
    },
    connectTcp: (host, port) => new NativeSock(b, opened(b.connectTcp(host, port), { address: host, port })),
    listenUnix: (path, backlog) => new NativeSock(b, opened(b.listenUnix(path, backlog), { path })),
    connectUnix: (path) => new NativeSock(b, opened(b.connectUnix(path), { path })),
    socketPair: () => {
      const pair = b.socketpair();
      if (typeof pair === 'number') throw systemError(pair, 'socketpair');
      return [new NativeSock(b, pair[0]), new NativeSock(b, pair[1])];
    },
  };
}
