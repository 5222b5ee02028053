/**
 * What an engine provides: the loop driver, adoption of sockets into
 * transports, and the socket helpers. Arguments arrive validated.
 */
import type { EngineName, LoopDriver, Sock, Transport } from '../core/transport.js';

export interface Engine {
  readonly name: EngineName;
  /** The loop driver (called once). */
  createDriver(): LoopDriver;
  /** The transport for `sock`, or null when this engine does not handle that kind of value. */
  adopt(sock: unknown): Transport | null;
  listenTcp(host: string, port: number, backlog: number, reusePort: boolean): Sock;
  connectTcp(host: string, port: number): Sock;
  listenUnix(path: string, backlog: number): Sock;
  connectUnix(path: string): Sock;
  socketPair(): [Sock, Sock];
}
