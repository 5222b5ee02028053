/**
 * SimSock: a socket of the simulated network as user code and the loop see
 * it, with the semantics of a non-blocking Linux socket (the epoll engine is
 * the reference): level-triggered readiness computed from its state, reads
 * and writes that take what there is or fail with a negative errno, end of
 * stream readable for ever, SO_ERROR consumed by the first read or write
 * that reports it, a descriptor number held until close.
 *
 * It is a face only: the kernel's state of the socket is its Endpoint
 * (endpoint.ts), and every syscall is carried out by the network
 * (network.ts), where the faults are drawn. A close with unread data, or
 * data arriving after close, resets a TCP connection, as Linux does; Unix
 * ends (socketPair, listenUnix/connectUnix) have no delay and no reset, a
 * peer's close is end of stream and a hangup, and a write after it fails
 * with EPIPE.
 */
import { constants as osConstants } from 'node:os';
import type { Duplex } from 'node:stream';
import type { Sock, SockAddress, Transport } from '../../core/contract.js';
import { describe, invalidArgValue, stateError, systemError } from '../../core/errors.js';
import type { Endpoint } from './endpoint.js';
import type { SimNetwork } from './network.js';

const E = osConstants.errno;

/** A socket of the simulated network: the Sock the helpers return and the Transport the loop drives. */
export class SimSock implements Sock, Transport {
  readonly engine = 'sim' as const;
  lastError = 0;
  /** Bytes written into the network so far (for properties: what a write callback may assume is out). */
  bytesWritten = 0;
  /** Bytes read from the network so far. */
  bytesRead = 0;
  readonly #net: SimNetwork;
  readonly #ep: Endpoint;

  /** @internal made by the sim engine, over an endpoint of `net` */
  constructor(net: SimNetwork, ep: Endpoint) {
    this.#net = net;
    this.#ep = ep;
  }

  /** The (simulated) file descriptor: a small number, the lowest free one, as the kernel gives them; -1 once closed. */
  get fd(): number {
    return this.#ep.closed ? -1 : this.#ep.fd;
  }

  get closed(): boolean {
    return this.#ep.closed;
  }

  get handle(): SimSock {
    return this;
  }

  /** What the trace calls it: fdN, or cN for an end not accepted yet. */
  get name(): string {
    return this.#ep.name;
  }

  /** True for a listening socket. */
  get listening(): boolean {
    return this.#ep.listening;
  }

  accept(): SimSock | null {
    const ep = this.#ep;
    if (ep.closed) throw invalidArgValue('this', 'is a closed socket');
    if (!ep.listening) throw systemError(-E.EINVAL, 'accept', 'on a socket that is not listening');
    const accepted = this.#net.accept(ep);
    return accepted === null ? null : new SimSock(this.#net, accepted);
  }

  localAddress(): SockAddress | null {
    return this.#ep.closed ? null : this.#ep.local;
  }

  remoteAddress(): SockAddress | null {
    const ep = this.#ep;
    if (ep.closed || ep.connecting || ep.peer === null) return null;
    return ep.remote;
  }

  close(): void {
    if (this.#ep.closed) return;
    this.#net.close(this.#ep);
  }

  socketError(): number {
    return this.#net.socketError(this.#ep);
  }

  setNoDelay(_on?: boolean): void {}

  shutdown(how: 'read' | 'write' | 'both' = 'write'): void {
    if (how !== 'read' && how !== 'write' && how !== 'both') {
      throw invalidArgValue('how', `must be 'read', 'write' or 'both'. Received ${describe(how)}`);
    }
    const ep = this.#ep;
    if (ep.closed || ep.peer === null || ep.connecting) return;
    this.#net.shutdown(ep, how);
  }

  // ---------------------------------------------------------------- Transport

  attach(mask: number, onReady: () => void): number {
    return this.#net.attach(this.#ep, mask, onReady);
  }

  setInterest(mask: number): number {
    return this.#net.setInterest(this.#ep, mask);
  }

  detach(): number {
    return this.#net.detach(this.#ep);
  }

  readiness(): number {
    return this.#ep.readiness();
  }

  /** The readiness as the trace shows it. */
  readinessText(): string {
    return this.#ep.readinessText();
  }

  read(max: number): Buffer | null {
    const r = this.#net.read(this.#ep, max);
    if (typeof r !== 'number') {
      this.bytesRead += r.length;
      return r;
    }
    if (r < 0) this.lastError = r;
    return null;
  }

  write(buf: Buffer, offset: number, length: number): number {
    const n = this.#net.write(this.#ep, buf, offset, length);
    if (n > 0) this.bytesWritten += n;
    return n;
  }

  writev(list: readonly unknown[], start: number, count: number, firstOffset: number): number {
    const n = this.#net.writev(this.#ep, list, start, count, firstOffset);
    if (n > 0) this.bytesWritten += n;
    return n;
  }

  /** TCP_CORK has no effect on the simulated network (nothing is sent in frames); 0 for TCP, as the kernel says. */
  setCork(_on: boolean): number {
    if (this.#ep.closed) return -E.EBADF;
    return this.#ep.unix ? -E.EOPNOTSUPP : 0;
  }

  /** STARTTLS is not simulated. */
  release(): Duplex {
    throw stateError('ERR_DANGA_SIM_UNSUPPORTED', 'TLS (startTls) is not simulated: the simulated network has no Node stream to give TLS');
  }
}
