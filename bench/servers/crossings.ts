/**
 * Counts the crossings between JavaScript and the native addon (lib.ts turns
 * it on with BENCH_COUNT_CROSSINGS=1): every call of one of its functions
 * (JavaScript → C) and every call of the event callback given to its `init`
 * (C → JavaScript, `callback`). It wraps the addon's exports as Node loads the
 * `.node` file, before the library does, so the library is not touched. No
 * import of the library here: the Node `net` servers load this too (control.ts).
 */
import { createRequire } from 'node:module';

/** Calls by addon function name; `callback`: C → JavaScript (the event callback). */
const counts: Record<string, number> = {};

/** The crossings counted so far (empty unless BENCH_COUNT_CROSSINGS=1). */
export function crossings(): Record<string, number> {
  return { ...counts };
}

type Fn = (...args: unknown[]) => unknown;

/** Wraps the addon when Node loads it (call before the library is imported). */
export function countCrossings(): void {
  const require = createRequire(import.meta.url);
  const Module = require('node:module') as { _extensions: Record<string, (m: { exports: unknown }, file: string) => void> };
  const load = Module._extensions['.node']!;
  Module._extensions['.node'] = (m, file) => {
    load(m, file);
    const orig = m.exports as Record<string, unknown>;
    if (typeof orig.read !== 'function' || typeof orig.init !== 'function') return;
    const wrapped: Record<string, unknown> = {};
    for (const name of Object.keys(Object.getOwnPropertyDescriptors(orig))) {
      const f = orig[name];
      if (typeof f !== 'function') {
        wrapped[name] = f;
        continue;
      }
      counts[name] = 0;
      wrapped[name] =
        name === 'init'
          ? (events: unknown, cb: Fn) => {
              counts.init!++;
              counts.callback = 0;
              return (f as Fn).call(orig, events, (...a: unknown[]) => {
                counts.callback!++;
                return cb(...a);
              });
            }
          : (...a: unknown[]) => {
              counts[name]!++;
              return (f as Fn).apply(orig, a);
            };
    }
    m.exports = wrapped;
  };
}
