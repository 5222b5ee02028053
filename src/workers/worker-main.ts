/**
 * The entry point of a worker group's worker thread: listens on dups of the
 * supervisor's sockets, imports the user's module, calls its setup function
 * with a `WorkerContext`, tells the supervisor it is ready, and runs the
 * loop until the supervisor asks for a graceful shutdown.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DangaSocket } from '../core/danga-socket.js';
import { Listener, type ConnectionFactory, type ListenerOptions } from '../core/listener.js';
import type { Sock } from '../core/contract.js';
import { stateError, systemError, validateFunction, validateInteger } from '../core/errors.js';
import { reactor } from '../core/loop.js';
import { loadBinding } from '../engines/epoll/binding.js';
import '../engines/install.js';
import { serializeError, type FromWorker, type ToWorker, type WorkerMode, type WorkerStart } from './protocol.js';
import type { WorkerContext } from './context.js';

const port = parentPort;
if (port === null) throw stateError('ERR_DANGA_NOT_A_WORKER', 'worker-main runs in a worker thread of a WorkerGroup');
const start = workerData as WorkerStart;
const post = (m: FromWorker): void => port.postMessage(m);

/** Listens on a dup of each supervisor fd: the worker's close (or teardown) closes only its own dup. */
function listenOnDups(fds: readonly (readonly number[])[], mode: WorkerMode): Sock[][] {
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

  serve(index: number, factory: ConnectionFactory, options?: ListenerOptions): Listener[] {
    validateInteger('index', index, 0, this.sockets.length - 1);
    validateFunction('factory', factory);
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
