/**
 * The 'handoff' mode of a worker group: the supervisor accepts, in the main
 * thread's loop, and hands each connection's fd to the less loaded of two
 * workers picked at random. File descriptors are process-wide, so the
 * number is enough; who owns it is settled through a shared table:
 *
 * - the supervisor dups the accepted fd (the dup belongs to no environment),
 *   closes its own, writes the receiving worker's id into the table at the
 *   fd's number and posts the number;
 * - the worker claims it (its id → 0, atomically) and adopts it in the same
 *   synchronous step: from then on its environment owns it (closed at its
 *   teardown);
 * - when a worker dies, the fds still marked with its id were accepted by
 *   no worker: the supervisor takes them back and hands them to another,
 *   so they are neither reset nor leaked.
 */
import { DangaSocket } from '../core/danga-socket.js';
import type { Sock } from '../core/contract.js';
import { systemError } from '../core/errors.js';
import type { NativeBinding } from '../engines/epoll/binding.js';

/** The claim table's size (Int32 entries): fds at or above it are not handed off (closed). */
export const CLAIM_TABLE_SIZE = 1 << 20;

/** Most connections taken per readable event. */
const ACCEPT_BATCH = 256;
const OUT_OF_RESOURCES = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

/** Where the acceptor sends what it accepted (an unowned fd): the group marks it in the table and posts it, or keeps it until a worker is ready. */
export type HandTo = (fd: number, entry: number) => void;

/**
 * Claims fd `fd` for the worker `id`: true when it was handed to that worker
 * and is now its own (the caller adopts it before anything else runs).
 */
export function claim(table: Int32Array, fd: number, id: number): boolean {
  return fd >= 0 && fd < table.length && Atomics.compareExchange(table, fd, id, 0) === id;
}

/**
 * The supervisor's accept loop over one listening socket (in the main
 * thread's loop): each accepted socket becomes an unowned dup, marked
 * HANDED, given to `handTo`.
 */
export class HandoffAcceptor extends DangaSocket<Sock> {
  readonly #b: NativeBinding;
  readonly #limit: number;
  readonly #entry: number;
  readonly #handTo: HandTo;
  #paused = false;

  constructor(sock: Sock, b: NativeBinding, limit: number, entry: number, handTo: HandTo) {
    super(sock);
    this.#b = b;
    this.#limit = limit;
    this.#entry = entry;
    this.#handTo = handTo;
    this.watchRead(true);
  }

  override eventRead(): void {
    const listening = this.requireSock();
    for (let i = 0; i < ACCEPT_BATCH; i++) {
      let sock: Sock | null;
      try {
        sock = listening.accept();
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (!OUT_OF_RESOURCES.has(code)) continue; // one connection gone before it was accepted
        // Out of fds: wait for some (connections stay in the kernel's queue).
        this.#pause(0.1);
        return;
      }
      if (sock === null) return;
      const dup = this.#b.dup(sock.fd);
      sock.close();
      if (dup < 0) {
        process.emitWarning(`${systemError(dup, 'dup').message}: a connection was dropped by the hand-off`, { code: 'DANGA_HANDOFF_FAILED' });
        continue;
      }
      if (dup >= this.#limit) {
        this.#b.close(dup);
        continue;
      }
      this.#handTo(dup, this.#entry);
    }
  }

  #pause(seconds: number): void {
    if (this.#paused) return;
    this.#paused = true;
    this.watchRead(false);
    DangaSocket.addTimer(seconds, () => {
      this.#paused = false;
      if (!this.closed) this.watchRead(true);
    });
  }

  override eventErr(): void {
    this.close('error');
  }

  override eventHup(): void {
    this.close('hup');
  }

  override onShutdown(): void {
    this.close('shutdown');
  }
}
