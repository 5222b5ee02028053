#!/usr/bin/env node
// `npm run prebuild` (and `npm pack`/`npm publish`, through "prepack"): builds
// the Node-API addon with prebuildify (--napi, stripped) into
// prebuilds/<platform>-<arch>/node.napi.<libc>.node, which the package ships
// and node-gyp-build loads at run time, so that users need no compiler.
//
// - linux-x64 (glibc), for this machine: required; a failed build exits 1.
// - linux-arm64 (glibc), with Debian's cross compiler (g++-aarch64-linux-gnu)
//   when it is installed; skipped with a note when it is not, except under
//   `npm publish` (or with --require-arm64), which refuses to ship without
//   it. It cannot be run here: it is checked with readelf (ELF64, AArch64).
//
// The build runs in a scratch copy of binding.gyp and native/, so build/
// (the addon `npm test` runs) is left alone. prebuilds/ is generated and
// git-ignored; it is emptied first, so a tarball never carries a stale one.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findNodeGyp, localNodeDir } from './build-native.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'prebuilds');
const requireArm64 = process.argv.includes('--require-arm64') || process.env.npm_command === 'publish';
const ARM64_PREFIX = 'aarch64-linux-gnu-';

function fail(message) {
  console.error(`prebuild: error: ${message}`);
  process.exit(1);
}

function onPath(cmd) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && existsSync(path.join(dir, cmd)));
}

if (process.platform !== 'linux') fail(`prebuilds are made on Linux (the epoll addon is Linux-only), this is ${process.platform}`);

// prebuildify spawns node-gyp as a program: give it node-gyp's script (it
// has a shebang), and the local Node headers, so that nothing is downloaded.
const [nodeGypCmd, nodeGypScript] = findNodeGyp();
const nodeGyp = nodeGypScript ?? nodeGypCmd;
const nodedir = localNodeDir();
const prebuildify = path.join(path.dirname(createRequire(import.meta.url).resolve('prebuildify/package.json')), 'bin.js');

const stage = mkdtempSync(path.join(os.tmpdir(), 'danga-prebuild-'));
try {
  cpSync(path.join(root, 'binding.gyp'), path.join(stage, 'binding.gyp'));
  cpSync(path.join(root, 'native'), path.join(stage, 'native'), { recursive: true });
  writeFileSync(path.join(stage, 'package.json'), JSON.stringify({ name: 'danga-socket', private: true }));

  const builds = [{ arch: os.arch(), env: {} }];
  if (onPath(`${ARM64_PREFIX}gcc`) && onPath(`${ARM64_PREFIX}g++`)) {
    builds.push({
      arch: 'arm64',
      args: ['--arch', 'arm64', '--strip-bin', `${ARM64_PREFIX}strip`],
      env: { CC: `${ARM64_PREFIX}gcc`, CXX: `${ARM64_PREFIX}g++`, LINK: `${ARM64_PREFIX}g++`, AR: `${ARM64_PREFIX}ar` },
      machine: 'AArch64',
    });
  } else if (requireArm64) {
    fail(`the linux-arm64 prebuild needs the cross compiler ${ARM64_PREFIX}gcc (apt-get install g++-aarch64-linux-gnu)`);
  } else {
    console.log(`prebuild: note: linux-arm64 skipped (no ${ARM64_PREFIX}gcc; apt-get install g++-aarch64-linux-gnu)`);
  }

  rmSync(out, { recursive: true, force: true });
  for (const b of builds) {
    const args = [prebuildify, '--napi', '--strip', '--tag-libc', `--target=node@${process.versions.node}`, `--node-gyp=${nodeGyp}`, '--quiet'];
    const r = spawnSync(process.execPath, [...args, ...(b.args ?? [])], {
      cwd: stage,
      encoding: 'utf8',
      env: { ...process.env, ...b.env, ...(nodedir === null ? {} : { npm_config_nodedir: nodedir }) },
    });
    if (r.status !== 0) {
      process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
      fail(`prebuildify for linux-${b.arch} ${r.error ? `could not run: ${r.error.message}` : `exited with ${r.status}`}`);
    }
    const dir = path.join(stage, 'prebuilds', `linux-${b.arch}`);
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
    if (files.length !== 1) fail(`expected one .node file in prebuilds/linux-${b.arch}, found ${files.length}`);
    const file = path.join(dir, files[0]);
    if (b.machine !== undefined) {
      // Cannot be loaded here: check what it was built for.
      const elf = spawnSync('readelf', ['-h', file], { encoding: 'utf8' });
      if (elf.status !== 0) fail(`readelf -h ${files[0]}: ${elf.error?.message ?? elf.stderr}`);
      if (!/Class:\s+ELF64/.test(elf.stdout) || !new RegExp(`Machine:\\s+${b.machine}`).test(elf.stdout)) {
        fail(`prebuilds/linux-${b.arch}/${files[0]} is not an ELF64 ${b.machine} object:\n${elf.stdout}`);
      }
    } else {
      const native = createRequire(import.meta.url)(file);
      if (typeof native.init !== 'function') fail(`prebuilds/linux-${b.arch}/${files[0]} loads but does not export init()`);
    }
    mkdirSync(path.join(out, `linux-${b.arch}`), { recursive: true });
    cpSync(file, path.join(out, `linux-${b.arch}`, files[0]));
    console.log(`prebuild: prebuilds/linux-${b.arch}/${files[0]}${b.machine ? ` (${b.machine}, checked with readelf; not runnable here)` : ''}`);
  }
} finally {
  rmSync(stage, { recursive: true, force: true });
}
