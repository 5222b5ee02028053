/**
 * The native Linux epoll engine.
 */
import { invalidArgType, invalidArgValue, stateError, systemError } from '../../core/errors.js';
import type { Engine } from '../../core/contract.js';
import type { NativeBinding } from './binding.js';
import { EpollDriver } from './driver.js';
import { NativeSock } from './native-sock.js';

export { NativeSock } from './native-sock.js';

/** Adopts an fd handed to the constructor as a number: it must be an open socket. */
function adoptFd(b: NativeBinding, fd: number): NativeSock {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw invalidArgType('sock', 'a Sock, a stream or a socket fd', fd);
  const type = b.fdType(fd);
  if (type < 0) throw invalidArgValue('sock', `is fd ${fd}, which is not open`, systemError(type, 'fstat'));
  if (type !== 1) throw invalidArgValue('sock', `is fd ${fd}, which is not a socket`);
  if (b.setNonBlocking !== undefined) {
    const rc = b.setNonBlocking(fd);
    if (rc < 0) throw systemError(rc, 'fcntl', `fd ${fd}`);
  }
  return new NativeSock(b, fd);
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
    // TLS is Node's: the composition root puts the node engine's STARTTLS here.
    startTls: () => {
      throw stateError('ERR_DANGA_NO_TLS', 'the epoll engine has no TLS of its own');
    },
    listenTcp: (host, port, backlog, reusePort) => new NativeSock(b, b.listenTcp(host, port, backlog, reusePort)),
    connectTcp: (host, port) => new NativeSock(b, b.connectTcp(host, port)),
    listenUnix: (path, backlog) => new NativeSock(b, b.listenUnix(path, backlog)),
    connectUnix: (path) => new NativeSock(b, b.connectUnix(path)),
    socketPair: () => {
      const [a, c] = b.socketpair();
      return [new NativeSock(b, a), new NativeSock(b, c)];
    },
  };
}
