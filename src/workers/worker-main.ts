/**
 * The entry point of a worker group's worker thread: listens on dups of the
 * supervisor's sockets, imports the user's module, calls its setup function
 * with a `WorkerContext`, tells the supervisor it is ready, and runs the
 * loop until the supervisor asks for a graceful shutdown.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DangaSocket } from '../core/danga-socket.js';
import { Listener, type ListenerOptions } from '../core/listener.js';
import type { Sock } from '../core/contract.js';
import { stateError, systemError, validateFunction, validateInteger } from '../core/errors.js';
import { kCloseHook, reactor } from '../core/loop.js';
import { loadBinding } from '../engines/epoll/binding.js';
import '../engines/install.js';
import { claim } from './handoff.js';
import { serializeError, type FromWorker, type ToWorker, type WorkerMode, type WorkerStart } from './protocol.js';
import type { ServeFactory, WorkerContext } from './context.js';

const port = parentPort;
if (port === null) throw stateError('ERR_DANGA_NOT_A_WORKER', 'worker-main runs in a worker thread of a WorkerGroup');
const start = workerData as WorkerStart;
const post = (m: FromWorker): void => port.postMessage(m);

/** Listens on a dup of each supervisor fd: the worker's close (or teardown) closes only its own dup. */
/**
 * 'handoff': a connection the supervisor accepted. Claimed and adopted in
 * one synchronous step (see handoff.ts); then served like an accepted one.
 * A factory that fails costs only its connection (closed, and a warning).
 */
function adoptHanded(fd: number, entry: number): void {
  const h = start.handoff!;
  if (!claim(h.table, fd, h.id)) return; // (not ours: taken back by the supervisor)
  let sock: Sock;
  try {
    sock = reactor.engine.adopt(fd) as Sock;
  } catch (err) {
    loadBinding()?.close(fd);
    process.emitWarning(`a handed-off connection (fd ${fd}) could not be adopted: ${String(err)}`, { code: 'DANGA_HANDOFF_FAILED' });
    return;
  }
  const serving = context?.handed.get(entry);
  if (serving === undefined || stopping) {
    sock.close();
    return;
  }
  reactor.stats.accepted++;
  if (serving.noDelay) sock.setNoDelay(true);
  let conn: unknown;
  try {
    conn = serving.factory(sock);
    if (!(conn instanceof DangaSocket))
      throw stateError('ERR_INVALID_RETURN_VALUE', `the serve() factory must return the DangaSocket serving the connection. Received ${typeof conn}`);
  } catch (err) {
    const owner = DangaSocket.descriptorMap().get(sock.fd);
    if (owner !== undefined && owner.sock() === sock) owner.close('factory_failed');
    else sock.close();
    process.emitWarning(`the serve() factory failed: ${String(err)}`, { code: 'DANGA_HANDOFF_FAILED' });
    return;
  }
  if (conn.closed) return;
  Atomics.add(h.load, 0, 1);
  conn[kCloseHook](() => Atomics.sub(h.load, 0, 1));
}

function listenOnDups(fds: readonly (readonly number[])[], mode: WorkerMode): Sock[][] {
  if (mode === 'handoff') return fds.map(() => []);
  const b = loadBinding();
  if (b === null) throw stateError('ERR_DANGA_NO_EPOLL', 'a worker group needs the native addon to share listening sockets');
  return fds.map((entry) =>
    entry.map((fd) => {
      const dup = b.dup(fd);
      if (dup < 0) throw systemError(dup, 'dup', `fd ${fd}`);
      try {
        return reactor.engine.listenFd(dup, mode === 'shared');
      } catch (err) {
        b.close(dup);
        throw err;
      }
    }),
  );
}

class Context implements WorkerContext {
  readonly slot = start.slot;
  readonly workers = start.workers;
  readonly mode = start.mode;
  readonly data = start.data;
  readonly sockets: readonly (readonly Sock[])[];
  readonly #handlers: ((msg: unknown) => void)[] = [];

  constructor(sockets: Sock[][]) {
    this.sockets = sockets;
  }

  /** 'handoff': per listen entry, the factory and TCP_NODELAY of its connections. */
  readonly handed = new Map<number, { factory: ServeFactory; noDelay: boolean }>();

  serve(index: number, factory: ServeFactory, options?: ListenerOptions): Listener[] {
    validateInteger('index', index, 0, this.sockets.length - 1);
    validateFunction('factory', factory);
    if (start.handoff !== null) {
      this.handed.set(index, { factory, noDelay: options?.noDelay ?? true });
      return [];
    }
    return this.sockets[index]!.map((sock) => new Listener(sock, factory, options));
  }

  onMessage(handler: (msg: unknown) => void): void {
    this.#handlers.push(validateFunction('handler', handler));
  }

  send(msg: unknown): void {
    post({ t: 'msg', data: msg });
  }

  deliver(msg: unknown): void {
    for (const h of this.#handlers) h(msg);
  }
}

let context: Context | null = null;
let stopping = false;

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'stats':
      post({ t: 'stats', id: m.id, stats: DangaSocket.stats() });
      break;
    case 'msg':
      context?.deliver(m.data);
      break;
    case 'conn':
      adoptHanded(m.fd, m.entry);
      break;
    case 'shutdown':
      if (stopping) break;
      stopping = true;
      // Listeners close at once (the supervisor's sockets stay open: the
      // slot's next worker, or the others, accept what waits), connections
      // drain; then the thread ends.
      void DangaSocket.shutdown({ timeout: m.timeout }).then(() => process.exit(0));
      break;
  }
});

try {
  const sockets = listenOnDups(start.fds, start.mode);
  context = new Context(sockets);
  const mod = (await import(start.module)) as Record<string, unknown>;
  const setup = mod[start.setup];
  if (typeof setup !== 'function') {
    throw stateError('ERR_DANGA_NO_SETUP', `the worker module ${start.module} has no exported function "${start.setup}" (found ${typeof setup})`);
  }
  await (setup as (ctx: WorkerContext) => unknown)(context);
} catch (err) {
  post({ t: 'failed', error: serializeError(err) });
  process.exit(1);
}
post({ t: 'ready' });
await DangaSocket.eventLoop();
process.exit(0);
