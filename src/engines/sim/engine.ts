/**
 * The sim engine: the Engine contract over a simulated network. Its sockets
 * are SimSock faces over the network's endpoints; what the network cannot
 * simulate (real fds, Node streams, TLS) fails at once with
 * ERR_DANGA_SIM_UNSUPPORTED, opening nothing.
 */
import { stateError } from '../../core/errors.js';
import type { Engine, LoopDriver, Transport } from '../../core/contract.js';
import type { SimNetwork } from './network.js';
import { SimSock } from './sim-sock.js';

function unsupported(what: string): Error {
  return stateError(
    'ERR_DANGA_SIM_UNSUPPORTED',
    `${what} is not simulated: in a simulation (simulate(), DANGA_ENGINE=sim) only sockets of the simulated network run`,
  );
}

/** The engine over `net`, with `driver` as its loop driver. */
export function createSimEngine(net: SimNetwork, driver: LoopDriver): Engine {
  return {
    name: 'sim',
    createDriver: () => driver,
    adopt: (sock: unknown): Transport | null => {
      if (sock instanceof SimSock) return sock;
      if (typeof sock === 'number') throw unsupported(`a real fd (${sock})`);
      if (sock !== null && typeof sock === 'object' && typeof (sock as { pipe?: unknown }).pipe === 'function') throw unsupported('a Node stream');
      return null;
    },
    startTls: () => {
      throw unsupported('TLS (startTls)');
    },
    listenTls: () => {
      throw unsupported('TLS (listenTls)');
    },
    connectTls: () => {
      throw unsupported('TLS (connectTls)');
    },
    listenTcp: (host, port, backlog) => new SimSock(net, net.listenTcp(host, port, backlog)),
    listenFd: (fd) => {
      throw unsupported(`a real fd (${fd})`);
    },
    connectTcp: (host, port) => new SimSock(net, net.connectTcp(host, port)),
    listenUnix: (path, backlog) => new SimSock(net, net.listenUnix(path, backlog)),
    connectUnix: (path) => new SimSock(net, net.connectUnix(path)),
    socketPair: () => {
      const [a, b] = net.socketPair();
      return [new SimSock(net, a), new SimSock(net, b)];
    },
  };
}
