/**
 * The package as users get it: packed once (`npm pack`, with fresh prebuilds
 * from `scripts/prebuild.mjs`), checked with publint and attw, and installed
 * with real npm into scratch projects, three ways:
 *
 *   (a) `npm install`: the install script finds the prebuild, compiles nothing → epoll
 *   (b) `npm install --ignore-scripts` (pnpm, Bun, Yarn by default) → epoll, from the prebuild
 *   (c) as (b) with prebuilds/ removed (a platform without one) → node, with the one warning
 *
 * In each, an ESM consumer and a TypeScript consumer (strict, module NodeNext,
 * compiled with this project's tsc) do an echo round trip on loopback and
 * report `DangaSocket.engine()`. Nothing is downloaded: the runtime
 * dependency (node-gyp-build) is packed from this project's node_modules and
 * installed beside the tarball, with `--offline`.
 *
 * The (b) install is also used, unchanged, by
 *
 *   - a CommonJS consumer (`require('danga-socket')`, Node's require(esm)),
 *   - the arm64 Node from the registry under qemu-user: the linux-arm64
 *     prebuild loaded and driven (an echo round trip on the epoll engine),
 *   - Deno and Bun from the registry: the same round trip, on the node engine
 *     after the one DANGA_NO_EPOLL warning (their loops are not libuv).
 *
 * Those runtimes are fetched by `node scripts/runtimes.mjs fetch` (.ci/run
 * does it) into a cache outside the repository; a test whose runtime (or
 * qemu) cannot be had skips with a note. Each runs under a time limit: a
 * hang is a failure that says so, never a stuck suite.
 *
 * scripts/run-tests.mjs runs this file once, after the per-engine runs (the
 * engine is the subject here, not a setting).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const npmCli = process.env.npm_execpath?.endsWith('.js') ? [process.execPath, process.env.npm_execpath] : ['npm'];
const hostPrebuild = `prebuilds/linux-${process.arch}/danga-socket.glibc.node`;
/** A guard against a hung child only: no assertion depends on how long anything takes. */
const HANG_GUARD_MS = 300_000;
/** The same for one echo round trip on another runtime (a few seconds under qemu): past it, the run has hung. */
const RUNTIME_GUARD_MS = 60_000;

const skip =
  process.platform !== 'linux'
    ? `prebuilds are made and loaded on Linux only (this is ${process.platform})`
    : !existsSync(path.join(root, 'dist', 'src', 'index.js'))
      ? 'dist/src is not built (run npm test, which compiles first)'
      : false;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end (async, so that the installs can overlap); killed (SIGKILL) after `guardMs`. */
function run(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv(), guardMs = HANG_GUARD_MS): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: guardMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const guard = setTimeout(() => (timedOut = true), guardMs);
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(guard);
      if (timedOut && status === null) stderr += `\n(killed by ${signal}: still running after ${guardMs / 1000} s: it hung)`;
      resolve({ status, stdout, stderr });
    });
  });
}

function ok(r: Run, what: string): Run {
  assert.equal(r.status, 0, `${what} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The cached binary of a runtime from scripts/runtimes.mjs (node24-arm64, deno, bun), or null. */
function runtimeBinary(name: string): string | null {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'runtimes.mjs'), 'path', name], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/**
 * The environment without what `npm test` exports to its scripts (the
 * project's prefix, package fields, DANGA_ENGINE), which would otherwise make
 * the scratch npm act on this project; the npm cache is kept.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'INIT_CWD' || k === 'DANGA_ENGINE' || k === 'NODE_OPTIONS' || k.startsWith('NODE_TEST')) continue;
    env[k] = v;
  }
  if (process.env.npm_config_cache !== undefined) env.npm_config_cache = process.env.npm_config_cache;
  return env;
}

const npm = (args: readonly string[], cwd: string): Promise<Run> => run(npmCli[0]!, [...npmCli.slice(1), ...args], cwd);

/** The two consumers: the same echo round trip, in plain ESM and in strict TypeScript. */
const ESM_CONSUMER = `
import { DangaSocket, Listener, connectTcp, listenTcp } from 'danga-socket';

class Echo extends DangaSocket {
  constructor(sock) { super(sock); this.watchRead(true); }
  eventRead() {
    const buf = this.read(65536);
    if (buf === null) this.close('eof');
    else this.write(buf);
  }
  eventHup() { this.close('hup'); }
  eventErr() { this.close('err'); }
}

class Client extends DangaSocket {
  received = '';
  constructor(sock) { super(sock); this.watchRead(true); this.write('ping\\n'); }
  eventRead() {
    const buf = this.read(65536);
    if (buf === null) return this.close('eof');
    this.received += buf.toString();
    if (this.received === 'ping\\n') DangaSocket.stop();
  }
  eventHup() { this.close('hup'); DangaSocket.stop(); }
  eventErr() { this.close('err'); DangaSocket.stop(); }
}

const listener = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (sock) => new Echo(sock));
const address = listener.sock().localAddress();
const client = new Client(connectTcp({ host: '127.0.0.1', port: address.port }));
await DangaSocket.eventLoop();
console.log(JSON.stringify({ consumer: 'esm', engine: DangaSocket.engine(), echoed: client.received }));
DangaSocket.reset();
`;

/** The ESM consumer, reporting the runtime and architecture it ran on too. */
const RUNTIME_CONSUMER = ESM_CONSUMER.replace(
  "console.log(JSON.stringify({ consumer: 'esm', engine: DangaSocket.engine(), echoed: client.received }));",
  'const v = process.versions;\n' +
    "const runtime = v.deno ? 'deno ' + v.deno : v.bun ? 'bun ' + v.bun : 'node ' + v.node;\n" +
    "console.log(JSON.stringify({ consumer: 'esm', engine: DangaSocket.engine(), echoed: client.received, runtime, arch: process.arch }));",
);

/** The same round trip from CommonJS: require() of the ES module package (Node's require(esm)). */
const CJS_CONSUMER = `
const { DangaSocket, Listener, connectTcp, listenTcp } = require('danga-socket');

class Echo extends DangaSocket {
  constructor(sock) { super(sock); this.watchRead(true); }
  eventRead() {
    const buf = this.read(65536);
    if (buf === null) this.close('eof');
    else this.write(buf);
  }
  eventHup() { this.close('hup'); }
  eventErr() { this.close('err'); }
}

class Client extends DangaSocket {
  received = '';
  constructor(sock) { super(sock); this.watchRead(true); this.write('ping\\n'); }
  eventRead() {
    const buf = this.read(65536);
    if (buf === null) return this.close('eof');
    this.received += buf.toString();
    if (this.received === 'ping\\n') DangaSocket.stop();
  }
  eventHup() { this.close('hup'); DangaSocket.stop(); }
  eventErr() { this.close('err'); DangaSocket.stop(); }
}

const listener = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (sock) => new Echo(sock));
const address = listener.sock().localAddress();
const client = new Client(connectTcp({ host: '127.0.0.1', port: address.port }));
DangaSocket.eventLoop().then(() => {
  console.log(JSON.stringify({ consumer: 'cjs', engine: DangaSocket.engine(), echoed: client.received }));
  DangaSocket.reset();
});
`;

const TS_CONSUMER = `
import { DangaSocket, Listener, connectTcp, listenTcp, type EngineName, type Sock } from 'danga-socket';

class Echo extends DangaSocket {
  constructor(sock: Sock) {
    super(sock);
    this.watchRead(true);
  }
  override eventRead(): void {
    const buf: Buffer | null = this.read(65536);
    if (buf === null) this.close('eof');
    else this.write(buf);
  }
  override eventHup(): void {
    this.close('hup');
  }
  override eventErr(): void {
    this.close('err');
  }
}

class Client extends DangaSocket {
  received = '';
  constructor(sock: Sock) {
    super(sock);
    this.watchRead(true);
    this.write('ping\\n');
  }
  override eventRead(): void {
    const buf = this.read(65536);
    if (buf === null) return this.close('eof');
    this.received += buf.toString();
    if (this.received === 'ping\\n') DangaSocket.stop();
  }
  override eventHup(): void {
    this.close('hup');
    DangaSocket.stop();
  }
  override eventErr(): void {
    this.close('err');
    DangaSocket.stop();
  }
}

const listener = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (sock: Sock) => new Echo(sock));
const address = listener.requireSock().localAddress();
if (address === null || address.family === 'unix') throw new Error('no TCP address');
const client = new Client(connectTcp({ host: '127.0.0.1', port: address.port }));
await DangaSocket.eventLoop();
const engine: EngineName = DangaSocket.engine();
console.log(JSON.stringify({ consumer: 'ts', engine, echoed: client.received }));
DangaSocket.reset();
`;

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    target: 'ES2022',
    outDir: 'out',
    skipLibCheck: false,
    noEmitOnError: true,
    types: ['node'],
    typeRoots: [path.join(root, 'node_modules', '@types')],
  },
  files: ['consumer.ts'],
};

interface Report {
  consumer: string;
  engine: string;
  echoed: string;
}

describe('the packed package, installed as users install it', { skip }, () => {
  let scratch = '';
  let tarball = '';
  let packed: { size: number; unpackedSize: number; files: { path: string }[] } | undefined;
  const installs = new Map<string, Promise<string>>();
  let tsCompiled: Promise<string> | undefined;

  /** A scratch project with the tarball (and node-gyp-build, packed here) installed; its folder. */
  async function install(name: string, flags: readonly string[], after?: (dir: string) => void): Promise<string> {
    const dir = path.join(scratch, name);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, type: 'module' }));
    const deps = [
      tarball,
      path.join(
        scratch,
        readdirSync(scratch).find((f) => f.startsWith('node-gyp-build-'))!,
      ),
    ];
    ok(await npm(['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', ...flags, ...deps], dir), `npm install ${flags.join(' ')}`);
    after?.(dir);
    writeFileSync(path.join(dir, 'consumer.mjs'), ESM_CONSUMER);
    writeFileSync(path.join(dir, 'runtime-consumer.mjs'), RUNTIME_CONSUMER);
    writeFileSync(path.join(dir, 'consumer.cjs'), CJS_CONSUMER);
    writeFileSync(path.join(dir, 'consumer.ts'), TS_CONSUMER);
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    return dir;
  }

  /**
   * The TypeScript consumer is type-checked and compiled once, against the
   * types of the (b) install (every install has the same types), and its
   * output copied to the others.
   */
  async function compileTs(dir: string): Promise<void> {
    const compiled = await (tsCompiled ??= installs.get('b')!.then(async (b) => {
      ok(await run(process.execPath, [tsc, '-p', 'tsconfig.json'], b), 'tsc (strict, NodeNext) of the TypeScript consumer');
      return path.join(b, 'out');
    }));
    if (compiled !== path.join(dir, 'out')) cpSync(compiled, path.join(dir, 'out'), { recursive: true });
  }

  /** Runs both consumers; their reports and what they printed on stderr. */
  async function consume(dir: string): Promise<{ reports: Report[]; stderr: string[] }> {
    await compileTs(dir);
    const runs = await Promise.all([run(process.execPath, ['consumer.mjs'], dir), run(process.execPath, [path.join('out', 'consumer.js')], dir)]);
    return {
      reports: runs.map(
        (r, i) =>
          JSON.parse(
            ok(r, i === 0 ? 'the ESM consumer' : 'the TypeScript consumer')
              .stdout.trim()
              .split('\n')
              .pop()!,
          ) as Report,
      ),
      stderr: runs.map((r) => r.stderr),
    };
  }

  before(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'danga-consumer-'));
    // Fresh prebuilds from the C sources as they are, then one pack (its
    // lifecycle scripts off: dist/ is already compiled, and recompiling it
    // here would gain nothing).
    ok(await run(process.execPath, [path.join(root, 'scripts', 'prebuild.mjs')], root), 'npm run prebuild');
    const r = ok(await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], root), 'npm pack');
    const info = JSON.parse(r.stdout) as [{ filename: string; size: number; unpackedSize: number; files: { path: string }[] }];
    packed = info[0];
    tarball = path.join(scratch, info[0].filename);
    ok(
      await npm(['pack', '--ignore-scripts', '--pack-destination', scratch, path.join(root, 'node_modules', 'node-gyp-build')], root),
      'npm pack node-gyp-build',
    );
    installs.set('a', install('a', []));
    installs.set('b', install('b', ['--ignore-scripts']));
    installs.set(
      'c',
      install('c', ['--ignore-scripts'], (dir) => rmSync(path.join(dir, 'node_modules', 'danga-socket', 'prebuilds'), { recursive: true })),
    );
    // (each test awaits its own install; a failed one fails that test only)
    for (const p of installs.values()) p.catch(() => {});
  });

  after(() => {
    if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
  });

  test('npm pack ships only what users need, prebuild included', (t) => {
    const files = packed!.files.map((f) => f.path).sort();
    const allowed = [
      /^package\.json$/,
      /^README\.md$/,
      /^CHANGELOG\.md$/,
      /^LICENSE$/,
      /^binding\.gyp$/,
      /^scripts\/build-native\.mjs$/,
      /^native\/[a-z_]+\.[ch]$/,
      /^prebuilds\/linux-(x64|arm64)\/danga-socket\.glibc\.node$/,
      /^dist\/src\/.+\.(js|d\.ts)$/,
    ];
    assert.deepEqual(
      files.filter((f) => !allowed.some((re) => re.test(f))),
      [],
      'files in the tarball that users do not need',
    );
    for (const need of ['dist/src/index.js', 'dist/src/index.d.ts', hostPrebuild, 'binding.gyp', 'native/binding.c', 'CHANGELOG.md', 'LICENSE']) {
      assert.ok(files.includes(need), `${need} is in the tarball`);
    }
    const arm64 = 'prebuilds/linux-arm64/danga-socket.glibc.node';
    if (onPath('aarch64-linux-gnu-gcc')) assert.ok(files.includes(arm64), `${arm64} is in the tarball (the cross compiler is installed)`);
    else t.diagnostic(`${arm64} not built: no aarch64-linux-gnu-gcc here (apt-get install g++-aarch64-linux-gnu)`);
    t.diagnostic(`tarball ${packed!.size} bytes, unpacked ${packed!.unpackedSize} bytes, ${files.length} files`);
  });

  test('publint and attw are clean on the tarball', async () => {
    ok(await run(process.execPath, [path.join(root, 'scripts', 'lint-package.mjs'), tarball], root), 'npm run lint:package');
  });

  test('(a) npm install: the install script takes the prebuild, compiles nothing; epoll', async () => {
    const dir = await installs.get('a')!;
    const pkg = path.join(dir, 'node_modules', 'danga-socket');
    assert.ok(existsSync(path.join(pkg, hostPrebuild)));
    assert.ok(!existsSync(path.join(pkg, 'build')), 'nothing was compiled (no build/)');
    const { reports, stderr } = await consume(dir);
    assert.deepEqual(reports, [
      { consumer: 'esm', engine: 'epoll', echoed: 'ping\n' },
      { consumer: 'ts', engine: 'epoll', echoed: 'ping\n' },
    ]);
    for (const s of stderr) assert.doesNotMatch(s, /DANGA_NO_EPOLL/);
  });

  test('(b) npm install --ignore-scripts: epoll, from the prebuild', async (t) => {
    const dir = await installs.get('b')!;
    const pkg = path.join(dir, 'node_modules', 'danga-socket');
    assert.ok(!existsSync(path.join(pkg, 'build')), 'no install script ran');
    const { reports, stderr } = await consume(dir);
    assert.deepEqual(reports, [
      { consumer: 'esm', engine: 'epoll', echoed: 'ping\n' },
      { consumer: 'ts', engine: 'epoll', echoed: 'ping\n' },
    ]);
    for (const s of stderr) assert.doesNotMatch(s, /DANGA_NO_EPOLL/);
    t.diagnostic(`installed size (node_modules/danga-socket): ${duBytes(pkg)} bytes`);
  });

  test('(c) --ignore-scripts without prebuilds: the node engine, with the one DANGA_NO_EPOLL warning', async () => {
    const dir = await installs.get('c')!;
    const { reports, stderr } = await consume(dir);
    assert.deepEqual(reports, [
      { consumer: 'esm', engine: 'node', echoed: 'ping\n' },
      { consumer: 'ts', engine: 'node', echoed: 'ping\n' },
    ]);
    for (const s of stderr) {
      assert.equal(s.match(/\[DANGA_NO_EPOLL\]/g)?.length, 1, `one warning:\n${s}`);
      assert.match(s, /native epoll addon not available \(No native build was found for platform=linux/);
    }
  });

  test(
    "(b) CommonJS: require('danga-socket') (require(esm)); epoll",
    { skip: process.features.require_module === true ? false : `Node ${process.version} cannot require() an ES module (Node >= 20.19 / 22.12 can)` },
    async () => {
      const dir = await installs.get('b')!;
      const r = ok(await run(process.execPath, ['consumer.cjs'], dir), 'the CommonJS consumer');
      assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), { consumer: 'cjs', engine: 'epoll', echoed: 'ping\n' });
      assert.doesNotMatch(r.stderr, /DANGA_NO_EPOLL/);
    },
  );

  /** The (b) install's round trip on another runtime: its report, and what it printed on stderr. */
  async function roundTripOn(
    what: string,
    cmd: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv = cleanEnv(),
  ): Promise<{ report: Record<string, string>; stderr: string }> {
    const dir = await installs.get('b')!;
    const r = ok(await run(cmd, [...args, 'runtime-consumer.mjs'], dir, env, RUNTIME_GUARD_MS), `the echo round trip on ${what}`);
    return { report: JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, string>, stderr: r.stderr };
  }

  const arm64Node = runtimeBinary('node24-arm64');
  const qemu = onPath('qemu-aarch64') ? 'qemu-aarch64' : null;
  const arm64Sysroot = '/usr/aarch64-linux-gnu';
  test(
    'arm64 under qemu-user: the linux-arm64 prebuild loads and does the echo round trip on the epoll engine',
    {
      skip:
        qemu === null
          ? 'qemu-aarch64 is not installed (apt-get install qemu-user)'
          : !existsSync(path.join(arm64Sysroot, 'lib', 'ld-linux-aarch64.so.1'))
            ? `no arm64 libraries in ${arm64Sysroot} (apt-get install g++-aarch64-linux-gnu)`
            : arm64Node === null
              ? 'the arm64 Node is not cached (node scripts/runtimes.mjs fetch node24-arm64)'
              : false,
    },
    async (t) => {
      const dir = await installs.get('b')!;
      assert.ok(
        existsSync(path.join(dir, 'node_modules', 'danga-socket', 'prebuilds', 'linux-arm64', 'danga-socket.glibc.node')),
        'the tarball has the linux-arm64 prebuild (the cross compiler is installed)',
      );
      const { report, stderr } = await roundTripOn('arm64 Node under qemu', qemu!, ['-L', arm64Sysroot, arm64Node!]);
      assert.deepEqual(report, { consumer: 'esm', engine: 'epoll', echoed: 'ping\n', runtime: report.runtime, arch: 'arm64' });
      assert.doesNotMatch(stderr, /DANGA_NO_EPOLL/);
      t.diagnostic(`arm64 (qemu-aarch64, ${report.runtime}): engine ${report.engine}, echo round trip ok`);
    },
  );

  for (const [name, args] of [
    ['deno', ['run', '--allow-all', '--no-lock']],
    ['bun', []],
  ] as const) {
    const binary = runtimeBinary(name);
    test(
      `${name === 'deno' ? 'Deno' : 'Bun'}: the package imports, the epoll engine steps aside (one DANGA_NO_EPOLL warning), the node engine does the echo round trip`,
      { skip: binary === null ? `${name} is not cached (node scripts/runtimes.mjs fetch ${name})` : false },
      async (t) => {
        const env = { ...cleanEnv(), DENO_NO_UPDATE_CHECK: '1', DENO_NO_PROMPT: '1', BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' };
        const { report, stderr } = await roundTripOn(name, binary!, args, env);
        assert.deepEqual(report, { consumer: 'esm', engine: 'node', echoed: 'ping\n', runtime: report.runtime, arch: process.arch });
        assert.match(report.runtime!, new RegExp(`^${name} `));
        assert.equal(stderr.match(/\[DANGA_NO_EPOLL\]/g)?.length, 1, `one warning:\n${stderr}`);
        assert.match(stderr, /the epoll engine cannot drive this runtime's event loop/);
        t.diagnostic(`${report.runtime}: engine ${report.engine}, echo round trip ok`);
      },
    );
  }
});

/** True when `cmd` is on PATH. */
function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && existsSync(path.join(dir, cmd)));
}

/** Bytes in the files under `dir` (their sizes, not their blocks). */
function duBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}
