/**
 * The node engine: DangaSocket over Node's own sockets and streams. It runs
 * the loop when the native addon is not there (or DANGA_ENGINE=node), and,
 * whichever engine runs the loop, it drives the Node streams (and TLS
 * sockets) given to the constructor.
 */
import { Duplex } from 'node:stream';
import { invalidArgValue } from '../../core/errors.js';
import type { Engine, Transport } from '../../core/contract.js';
import { NodeDriver } from './driver.js';
import { ListenSock } from './listen-sock.js';
import { adoptFd, connectTcp, connectUnix, listenFd, listenTcp, listenUnix, socketPair } from './sockets.js';
import { StreamSock } from './stream-sock.js';
import { connectTlsTo, listenTlsOn, upgradeToTls } from './tls.js';

export { StreamSock } from './stream-sock.js';
export { ListenSock } from './listen-sock.js';

/**
 * The node engine. It needs nothing but Node's streams, and the few Node
 * internals listed in node-internals.ts: each is checked when first needed
 * (not here: making the engine costs nothing, and the package loads on a
 * runtime that lacks some), and a runtime without one gets an Error with
 * code ERR_DANGA_NODE_UNSUPPORTED naming it from the call that needs it.
 */
export function createNodeEngine(): Engine {
  return {
    name: 'node',
    createDriver: () => new NodeDriver(),
    adopt: (sock: unknown) => (typeof sock === 'number' ? adoptFd(sock) : adoptStream(sock)),
    startTls: upgradeToTls,
    listenTcp: (host, port, backlog, reusePort) => listenTcp(host, port, backlog, reusePort),
    listenFd: (fd) => listenFd(fd),
    connectTcp,
    listenTls: listenTlsOn,
    connectTls: connectTlsTo,
    listenUnix,
    connectUnix,
    socketPair,
  };
}

/** The transport of each user stream, so a stream wrapped again (after stealSocket()) keeps its id. */
const adopted = new WeakMap<object, StreamSock>();

/** True for a Node Duplex, or an object that quacks like one. */
function isDuplex(value: object): value is Duplex {
  if (value instanceof Duplex) return true;
  const v = value as Record<string, unknown>;
  return (
    typeof v.read === 'function' &&
    typeof v.write === 'function' &&
    typeof v.end === 'function' &&
    typeof v.on === 'function' &&
    typeof v.destroy === 'function' &&
    typeof v.readableLength === 'number' &&
    typeof v.writableLength === 'number'
  );
}

/**
 * Adopts what the node engine drives, under either engine: its own Socks
 * (StreamSock, ListenSock: the TLS helpers make them under epoll too) and
 * any Node Duplex (net.Socket, tls.TLSSocket, …), for which `sock()` then
 * returns the stream itself.
 */
function adoptStream(sock: unknown): Transport | null {
  if (sock instanceof StreamSock || sock instanceof ListenSock) return sock;
  if (sock === null || typeof sock !== 'object' || !isDuplex(sock)) return null;
  if (sock.readableObjectMode || sock.writableObjectMode) {
    throw invalidArgValue('sock', 'is a stream in object mode; DangaSocket needs a byte stream');
  }
  const known = adopted.get(sock);
  if (known !== undefined && !known.closed) return known;
  const t = new StreamSock(sock, { handle: sock });
  adopted.set(sock, t);
  return t;
}
