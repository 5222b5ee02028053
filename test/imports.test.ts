/**
 * The module graph of src/ has no import cycle, type-only imports included
 * (a type-only circle, such as the sim network and its socket class reading
 * each other's fields, is the same coupling even when the compiled
 * JavaScript drops it). In particular `core/` and `engines/sim/` do not
 * import each other in a circle: an engine depends on the core, never the
 * other way round. Read from the TypeScript sources with the compiler's own
 * pre-processor, so that every import form counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));
const src = join(root, 'src');

/** module (path relative to src/) -> the modules of src/ it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const files = readdirSync(src, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  for (const file of files) {
    const text = readFileSync(join(src, file), 'utf8');
    const deps: string[] = [];
    for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const target = relative(src, resolve(dirname(join(src, file)), ref.fileName.replace(/\.js$/, '.ts')));
      deps.push(target);
    }
    graph.set(file, deps);
  }
  return graph;
}

/** The cycles of `graph` (its strongly connected components of more than one module, or a module importing itself). */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

test('src/ has no import cycle (core/ and engines/sim/ among the modules checked)', () => {
  const graph = importGraph();
  assert.ok(graph.has(join('core', 'loop.ts')) && graph.has(join('engines', 'sim', 'network.ts')), 'the walk finds the sources');
  // The walk sees the edges it must judge: the engine depends on the core's contract.
  assert.ok(graph.get(join('engines', 'sim', 'engine.ts'))!.includes(join('core', 'contract.ts')));
  assert.deepEqual(cycles(graph), []);
});

test('the cycle check finds a circle, a type-only one included', () => {
  const graph = importGraph();
  // The circle as it was: the network reading the socket class's fields, the socket class calling the network.
  const network = join('engines', 'sim', 'network.ts');
  const face = join('engines', 'sim', 'sim-sock.ts');
  const withCircle = new Map(graph);
  withCircle.set(network, [...graph.get(network)!, face]);
  assert.deepEqual(cycles(withCircle), [[network, face].sort()]);
  // And a core module importing an engine closes a circle through the engine's imports of the core.
  const engine = join('engines', 'sim', 'engine.ts');
  const upward = new Map(graph);
  upward.set(join('core', 'contract.ts'), [...graph.get(join('core', 'contract.ts'))!, engine]);
  const found = cycles(upward);
  assert.equal(found.length, 1);
  assert.ok(found[0]!.includes(engine) && found[0]!.includes(join('core', 'contract.ts')));
});
