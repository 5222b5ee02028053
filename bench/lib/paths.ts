/** Where things are: the repository root, bench/ sources, compiled bench/ output. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const name = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name;
        if (name === 'danga-socket') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the danga-socket package root above ${start}`);
    dir = up;
  }
}

/** dist/bench/lib */
const here = dirname(fileURLToPath(import.meta.url));
/** compiled bench/ (dist/bench) */
export const distBench = resolve(here, '..');
/** the repository root */
export const root = findRoot(here);
/** bench/ sources (C, Perl, results) */
export const benchSrc = join(root, 'bench');
export const buildDir = join(benchSrc, 'build');
export const resultsDir = join(benchSrc, 'results');
