/**
 * Engine choice, made once when the library loads:
 *
 * - `DANGA_ENGINE=epoll`: the native addon, or a clear error without it;
 * - `DANGA_ENGINE=node`: the portable engine over Node streams;
 * - unset: the addon when it loads, else the portable engine with one warning.
 *
 * Whatever runs the loop, Node streams given to the constructor are driven
 * by the stream transport, so both kinds share one loop.
 */
import { registerTransportFactory, setEngineName } from '../core/danga-socket.js';
import { setDriverFactory } from '../core/loop.js';
import type { Engine } from './engine.js';
import { loadBinding, nativeLoadError } from './epoll/binding.js';
import { createEpollEngine } from './epoll/index.js';
import { adoptStream, createNodeEngine } from './node/index.js';

function choose(): Engine {
  const wanted = process.env.DANGA_ENGINE ?? '';
  if (wanted !== '' && wanted !== 'epoll' && wanted !== 'node') {
    throw new Error(`DANGA_ENGINE must be "epoll" or "node", not ${JSON.stringify(wanted)}`);
  }
  if (wanted !== 'node') {
    const binding = loadBinding();
    if (binding !== null) return createEpollEngine(binding);
    if (wanted === 'epoll') {
      const err = new Error(
        `DANGA_ENGINE=epoll, but the native addon could not be loaded: ${String((nativeLoadError() as Error)?.message ?? nativeLoadError())}`,
        { cause: nativeLoadError() },
      );
      (err as Error & { code: string }).code = 'ERR_DANGA_NO_EPOLL';
      throw err;
    }
  }
  const node = createNodeEngine();
  if (node === null) {
    throw new Error(
      `danga-socket: the native addon could not be loaded (${String((nativeLoadError() as Error)?.message)}) and the stream engine is not available`,
    );
  }
  if (wanted !== 'node') {
    process.emitWarning(
      `danga-socket: native epoll addon not available (${String((nativeLoadError() as Error)?.message ?? 'not built')}); using the portable stream engine`,
      { code: 'DANGA_NO_EPOLL' },
    );
  }
  return node;
}

/** The engine in use. */
export const engine: Engine = choose();
setEngineName(engine.name);
setDriverFactory(() => engine.createDriver());
registerTransportFactory((sock) => engine.adopt(sock));
registerTransportFactory(adoptStream);
