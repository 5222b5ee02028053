/**
 * The test matrix, declared once: which test files run in which pass of
 * `npm test`, and why a test skips in a pass where its file runs.
 *
 * Read by scripts/run-tests.mjs (which files each pass runs, with what
 * environment), by test/helpers.ts (`skipOn()`, `skipOnSim()`, `NEEDS_KERNEL`,
 * `NEEDS_EPOLL`, `testPass()`), and by scripts/matrix-docs.mjs, which writes
 * the tables between the `matrix:` markers in CONTRIBUTING.md and
 * docs/simulation.md (`npm run lint` fails when they are stale; `npm run
 * format` rewrites them). Data only, no imports: the docs script transpiles
 * this file on its own.
 *
 * A new test file under an existing folder needs no entry: the folder's rule
 * covers it. A file no rule matches makes the runner fail, naming the file.
 */

/** A pass of `npm test`: one run of the test runner over a set of files, on one engine. */
export interface PassDef {
  /** What the pass is, for the docs and the runner's heading. */
  readonly what: string;
  /** DANGA_ENGINE for the test processes; null: unset (the default choice, and the pass must not be forced). */
  readonly engine: 'epoll' | 'node' | 'sim' | null;
  /** The per-file timeout, ms. */
  readonly timeoutMs: number;
  /** Whether each process loads test/open-handles.ts (names the handles a file left open). */
  readonly openHandles: boolean;
}

/**
 * The passes, in the order the runner runs them. `DANGA_TEST_PASSES`
 * (comma-separated) picks some; `sim` names both sim passes.
 */
export const PASSES = {
  epoll: {
    what: 'the native epoll engine (skipped when the addon is not built)',
    engine: 'epoll',
    timeoutMs: 120_000,
    openHandles: true,
  },
  node: {
    what: 'the node engine (Node streams), always',
    engine: 'node',
    timeoutMs: 120_000,
    openHandles: true,
  },
  'sim-ambient': {
    what: 'DANGA_ENGINE=sim: the whole process on the sim engine, one seeded simulated network per test file, the virtual clock (DANGA_SIM_SEED, default 1); a hang fails within a minute, nothing waits for real time',
    engine: 'sim',
    timeoutMs: 60_000,
    openHandles: true,
  },
  'sim-simulate': {
    what: 'the loop loaded on a real engine; the tests call simulate(), which swaps its own engine in for each simulation',
    engine: null,
    timeoutMs: 120_000,
    openHandles: true,
  },
  package: {
    what: 'the packed package, installed with real npm (which engine it picks is what it checks): once, after the other passes, and not when DANGA_ENGINE is set',
    engine: null,
    timeoutMs: 600_000,
    openHandles: false,
  },
} as const satisfies Record<string, PassDef>;

/** The name of a pass. */
export type Pass = keyof typeof PASSES;

/** Which passes run the test files a pattern matches, and why. */
export interface FileRule {
  /**
   * Test files under test/, by their source name: `*` matches within one
   * folder, `**` across folders; `core/**` is every test file under test/core.
   */
  readonly files: string;
  readonly passes: readonly Pass[];
  readonly why: string;
  /**
   * The per-file timeout (ms) for these files where it is longer than their pass's: a hang guard,
   * not a measure (a file past it fails). Load tests that take minutes on a busy 2-core machine.
   */
  readonly timeoutMs?: number;
}

const REAL: readonly Pass[] = ['epoll', 'node'];
const CORE: readonly Pass[] = ['epoll', 'node', 'sim-ambient'];

/** The first rule that matches a file decides its passes: exceptions first, then the rules by folder. */
export const FILES: readonly FileRule[] = [
  {
    files: 'sim/conformance.test.ts',
    passes: ['epoll', 'node', 'sim-ambient', 'sim-simulate'],
    why: 'the core semantics over the engine-neutral API only: on every engine, and once more inside simulate()',
  },
  {
    files: 'core/**',
    passes: CORE,
    why: 'the core suite (test/core mirrors src/core): on both real engines and the ambient simulation; a test that needs a kernel skips there with its reason',
  },
  {
    files: 'integration/**',
    passes: CORE,
    why: 'what crosses modules (the original event test, level-triggering, byte integrity, bad input): like the core suite',
  },
  {
    files: 'sim/**',
    passes: ['sim-simulate'],
    why: "the simulation's own tests and the seeded properties: they call simulate() themselves (or start DANGA_ENGINE=sim children), so no real-engine pass adds anything",
  },
  {
    files: 'engines/**',
    passes: REAL,
    why: 'the real engines themselves (the addon, Node stream adoption, TCP_CORK and writev effects, the engine choice): each file tests the engine of its pass',
  },
  {
    files: 'workers/**',
    passes: REAL,
    why: 'worker threads load the library on their own engine, and the load comes from a C client and real processes (systemd-socket-activate, upgrades)',
    // group.test.ts alone runs 150 rolling reloads and 70 crashes under load from a C client: it
    // took 115 s and 200 s in two runs with other test suites on the same 2 cores (its 100-reload
    // test 59 s and 102 s), past the passes' 120 s.
    timeoutMs: 600_000,
  },
  {
    files: 'examples/**',
    passes: REAL,
    why: 'the examples against real clients and child processes (nc, curl, h2load, HAProxy, openssl s_client)',
  },
  {
    files: 'matrix.test.ts',
    passes: ['node'],
    why: 'this matrix itself (its patterns, a rule for every file, the skip helpers): needs no engine of its own, so the pass that always runs',
  },
  {
    files: '*.test.ts',
    passes: REAL,
    why: 'the public socket and TLS helpers (test/sockets.test.ts, test/tls.test.ts): fd inheritance, SO_REUSEPORT, real EMFILE, TLS and STARTTLS over real sockets',
  },
  {
    files: 'package/**',
    passes: ['package'],
    why: 'the packed tarball installed three ways with real npm, its consumers (ESM, TypeScript, CommonJS), arm64, Deno and Bun',
  },
];

/** Why a test skips: for each pass where it skips, the reason it gives there. */
export interface SkipDef {
  readonly on: Partial<Record<Pass, string>>;
}

/**
 * The reasons a test skips in a pass that runs its file, by key
 * (`skipOn(key)` in test/helpers.ts; `skipOnSim(key)` for the ones that
 * skip in the ambient simulation only). A tool that is not installed
 * (openssl, prlimit, HAProxy) is the test's own business, not the matrix's.
 */
export const SKIPS = {
  nodeNet: {
    on: { 'sim-ambient': 'a real Node client or server (node:net) is outside the simulated network' },
  },
  child: {
    on: {
      'sim-ambient': 'a server in a child process (its own fd limit under prlimit, signals, exit code) is outside the simulated network',
    },
  },
  nodeStream: {
    on: {
      'sim-ambient':
        'Node streams given to the constructor (net.Socket, PassThrough) are driven by the node engine; the sim engine refuses them (ERR_DANGA_SIM_UNSUPPORTED)',
    },
  },
  worker: {
    on: { 'sim-ambient': "a worker thread loads the library on its own engine; tearing down the driver's handles is a real engine's" },
  },
  nodeLoop: {
    on: {
      'sim-ambient':
        "fairness against Node's own loop (its timers, immediates and net I/O beside a busy loop): the sim runner yields to Node with one setImmediate per step by construction, and virtual time does not wait for Node's timers",
    },
  },
  fd: {
    on: { 'sim-ambient': 'real fds (files, foreign fds, non-socket fds given to the constructor) need a kernel' },
  },
  realTime: {
    on: {
      'sim-ambient': 'a Node timer (real time) wakes the waiting loop: virtual time does not wait for real time, the loop jumps to its own next timer',
    },
  },
  tls: {
    on: { 'sim-ambient': "TLS is Node's (tls.TLSSocket over a real socket); the simulated network has none" },
  },
  foreignFds: {
    on: {
      node: 'foreign fds (addOtherFds/otherFds) need the native epoll engine; the node engine throws ERR_DANGA_NO_EPOLL (tested in engines/node/driver.test.ts)',
      'sim-ambient':
        'foreign fds (addOtherFds/otherFds) need a kernel; the sim engine throws ERR_DANGA_SIM_UNSUPPORTED (tested in integration/bad-input.test.ts)',
    },
  },
  acceptSpin: {
    on: {
      // Node accepts by itself there: libuv's EMFILE trick accepts and closes the excess, and the
      // engine's accept() throws EMFILE once per failure it notices (a probe at most every 10 ms).
      node: 'on the node engine libuv closes the excess connections under EMFILE and accept() throws EMFILE at most once per probe (test/engines/node/listen-sock.test.ts): there is no level-triggered spin to reproduce',
    },
  },
  nodeDriver: {
    on: { epoll: 'the epoll engine watches foreign fds (tested in core/loop.test.ts)' },
  },
  addonLoaded: {
    on: { node: 'this pass is the node engine; the addon may not be built' },
  },
  handoffElsewhere: {
    on: { epoll: "this pass runs on the epoll engine, where 'handoff' works (its own tests run here)" },
  },
} as const satisfies Record<string, SkipDef>;

/** The key of a skip reason. */
export type SkipKey = keyof typeof SKIPS;

/** The skip reasons that apply in the ambient simulation only (`skipOnSim()`, `NEEDS_KERNEL`). */
export type SimSkipKey = { [K in SkipKey]: keyof (typeof SKIPS)[K]['on'] extends 'sim-ambient' ? K : never }[SkipKey];

/** A pattern of `FILES` as a regular expression over paths relative to test/ ('/'-separated). */
export function patternRegExp(files: string): RegExp {
  let re = '';
  for (let i = 0; i < files.length; i++) {
    const c = files[i] as string;
    if (c === '*' && files[i + 1] === '*') {
      // `**/` (or a trailing `**`): any folders, or none.
      re += files[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += files[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else re += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The rule for a test file (its path relative to test/, source or compiled name), or undefined when none matches. */
export function ruleFor(file: string): FileRule | undefined {
  const source = file.replace(/\.js$/, '.ts');
  return FILES.find((r) => patternRegExp(r.files).test(source));
}
