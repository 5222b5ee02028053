/**
 * The composition root: chooses the engine once, when the library loads, and
 * installs it in the loop.
 *
 * - `DANGA_ENGINE=epoll`: the native addon, or a clear error without it;
 * - `DANGA_ENGINE=node`: the node engine, over Node streams;
 * - unset: the addon when it loads, else the node engine with one warning.
 *
 * Whichever engine runs the loop, Node streams given to the constructor (and
 * TLS, which is Node's) are driven by the node engine, so both kinds of
 * socket share one loop: the installed engine is the epoll engine with the
 * node engine's adoption of streams and its STARTTLS behind it.
 */
import { reactor } from '../core/loop.js';
import type { Engine } from '../core/contract.js';
import { describe } from '../core/errors.js';
import { loadBinding, nativeLoadError } from './epoll/binding.js';
import { createEpollEngine } from './epoll/index.js';
import { createNodeEngine } from './node/index.js';

function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return err === null || err === undefined ? 'not built' : describe(err);
}

function choose(): Engine {
  const wanted = process.env.DANGA_ENGINE ?? '';
  if (wanted !== '' && wanted !== 'epoll' && wanted !== 'node') {
    throw new Error(`DANGA_ENGINE must be "epoll" or "node", not ${JSON.stringify(wanted)}`);
  }
  const streams = createNodeEngine();
  if (wanted !== 'node') {
    const binding = loadBinding();
    if (binding !== null) {
      const native = createEpollEngine(binding);
      return {
        ...native,
        adopt: (sock) => native.adopt(sock) ?? streams.adopt(sock),
        startTls: (old, options, unread) => streams.startTls(old, options, unread),
      };
    }
    if (wanted === 'epoll') {
      const err = new Error(`DANGA_ENGINE=epoll, but the native addon could not be loaded: ${reasonOf(nativeLoadError())}`, {
        cause: nativeLoadError(),
      });
      (err as Error & { code: string }).code = 'ERR_DANGA_NO_EPOLL';
      throw err;
    }
    process.emitWarning(`danga-socket: native epoll addon not available (${reasonOf(nativeLoadError())}); using the node engine`, { code: 'DANGA_NO_EPOLL' });
  }
  return streams;
}

/** The engine in use (installed in the loop). */
export const engine: Engine = choose();
reactor.install(engine);
