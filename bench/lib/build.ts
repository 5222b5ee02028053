/** Compiles the C programs on demand into bench/build/ (git-ignored). */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { benchSrc, buildDir } from './paths.js';

export const CFLAGS = ['-O2', '-Wall', '-Wextra'];

const built = new Map<string, string>();

/** Builds bench/<srcRel> into bench/build/<name> when missing or older than its source. */
export function ensureBuilt(name: string, srcRel: string): string {
  const cached = built.get(name);
  if (cached) return cached;
  const src = join(benchSrc, srcRel);
  const out = join(buildDir, name);
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(buildDir, { recursive: true });
    const cc = process.env.CC || 'cc';
    const r = spawnSync(cc, [...CFLAGS, '-o', out, src], { encoding: 'utf8' });
    if (r.error) throw new Error(`cannot run ${cc}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${cc} failed on ${srcRel}:\n${r.stderr}`);
    if (r.stderr.trim()) process.stderr.write(`${cc} warnings for ${srcRel}:\n${r.stderr}`);
  }
  built.set(name, out);
  return out;
}
