/**
 * The native Linux epoll engine.
 */
import { invalidArgType, invalidArgValue, systemError } from '../../core/errors.js';
import type { Engine } from '../engine.js';
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
  // The driver owns the epoll fd: it exists before the first socket is
  // registered with it, whichever comes first, the loop or a socket.
  let driver: EpollDriver | null = null;
  const ensureDriver = (): EpollDriver => (driver ??= new EpollDriver(b));
  return {
    name: 'epoll',
    createDriver: ensureDriver,
    adopt(sock: unknown) {
      if (sock instanceof NativeSock) {
        ensureDriver();
        return sock;
      }
      if (typeof sock === 'number') {
        ensureDriver();
        return adoptFd(b, sock);
      }
      return null;
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
