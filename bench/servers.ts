/**
 * The servers compared.  Adding a server is one line in SERVERS below.
 *
 * A server is a program that takes `--port P --mode echo|sink`, prints the
 * port it listens on (127.0.0.1) as the first token of its first stdout line
 * (optionally followed by `engine=<name>`), then serves until SIGTERM:
 *   echo  writes back everything it reads;
 *   sink  reads and discards, and at end of stream answers "<bytes read>\n".
 * Servers with `heap: true` also answer `mem\n` on stdin with one JSON line
 * holding `heapUsed` (see servers/control.ts).  Resident memory is read from
 * /proc/PID/status for every server.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt } from './lib/build.js';
import { distBench, benchSrc } from './lib/paths.js';

/** baseline: the ratio denominator (Node net); ceiling: the other one (C); subject: what the targets apply to. */
export type Role = 'baseline' | 'ceiling' | 'subject' | 'reference';

/** In-process timer implementations of timers.ts. */
export type TimerImpl = 'danga' | 'settimeout';

export interface ServerDef {
  id: string;
  label: string;
  role: Role;
  /** argv of the server; called once per start (may build it first) */
  command: () => string[];
  /** extra environment; DANGA_ENGINE is removed from the inherited one unless set here */
  env?: Record<string, string>;
  /** answers `mem` on stdin with its V8 heap */
  heap?: boolean;
  /** engine the server must report (`engine=` on its port line), when it reports one */
  engine?: string;
  /** timer implementation to run in the timer scenarios, with the same env */
  timers?: TimerImpl;
  /** returns why the server cannot run on this machine, or null */
  unavailable?: () => string | null;
  /**
   * A file server (`--mode file --root DIR --state DIR`): it runs in the file
   * scenarios only, and only file servers do.
   */
  files?: boolean;
  /** cannot pick its own port: the runner passes a free one */
  needsPort?: boolean;
  /**
   * A server of several workers (threads or processes): it runs in the
   * `workers` scenarios only, and only such servers do. It may print
   * `pids=P,Q,…` on its port line (processes whose CPU counts with its own:
   * a cluster's workers) and answers `stats` on stdin (servers/control.ts).
   */
  workers?: number;
  /**
   * the server this one's figure is divided by, round by round: the
   * one-worker server of the same kind (workers), the read(4096) echo
   * (readsize)
   */
  scalesFrom?: string;
  /**
   * workers scenarios: run on the server CPU only, not on both CPUs (a
   * diagnostic: 2 workers that never share the load generator's CPU)
   */
  serverCpuOnly?: boolean;
  /** runs in these scenarios only (by id) */
  only?: string[];
  /** more load generator arguments for this server (e.g. `--proxy 2`: it expects a PROXY header) */
  loadgenArgs?: string[];
  /** a job server (`--mode job`, job-protocol.ts): it runs in the job and memory scenarios only, and only job servers do */
  job?: boolean;
  /** a copy of server `baseOf` running a baseline checkout's library (`--baseline DIR`) */
  baseOf?: string;
}

interface Extra {
  env?: Record<string, string>;
  only?: string[];
  loadgenArgs?: string[];
  engine?: string;
  timers?: TimerImpl;
  files?: boolean;
  workers?: number;
  scalesFrom?: string;
  serverCpuOnly?: boolean;
  unavailable?: () => string | null;
  job?: boolean;
}

const node = (id: string, label: string, role: Role, script: string, x: Extra = {}): ServerDef => ({
  id,
  label,
  role,
  heap: true,
  command: () => [process.execPath, '--expose-gc', join(distBench, 'servers', script)],
  ...x,
});

const native = (id: string, label: string, role: Role, src: string): ServerDef => ({
  id,
  label,
  role,
  command: () => [ensureBuilt(id, src)],
});

const perl = (id: string, label: string, role: Role, script: string, modules: string[]): ServerDef => ({
  id,
  label,
  role,
  command: () => ['perl', join(benchSrc, 'servers', script)],
  unavailable: () => {
    const r = spawnSync('perl', [...modules.map((m) => `-M${m}`), '-e1'], { encoding: 'utf8' });
    if (r.error) return `perl not found (${r.error.message})`;
    return r.status === 0 ? null : `perl ${modules.map((m) => `-M${m}`).join(' ')} -e1 failed: ${r.stderr.trim().split('\n')[0]}`;
  },
});

/** nginx, when installed: the file scenarios' ceiling (sendfile on). */
const nginx = (id: string, label: string): ServerDef => ({
  id,
  label,
  role: 'ceiling',
  files: true,
  needsPort: true,
  command: () => ['sh', join(benchSrc, 'servers', 'nginx-static.sh')],
  unavailable: () => {
    const r = spawnSync('sh', ['-c', 'command -v nginx || test -x /usr/sbin/nginx'], { encoding: 'utf8' });
    return r.status === 0 ? null : 'nginx is not installed (apt-get install nginx-light)';
  },
});

/** Node ≥ 22.12 (22.x) or ≥ 23.1 has `net` `reusePort`; null when this one does. */
export function noReusePort(version = process.versions.node): string | null {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const has = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  return has ? null : `Node ${version} has no net reusePort (Node ≥ 22.12 or ≥ 23.1)`;
}

/** A `workers` server: `n` workers, BENCH_WORKERS (and the rest of `env`) in its environment. */
const group = (id: string, label: string, role: Role, script: string, n: number, x: Extra = {}): ServerDef =>
  node(id, label, role, script, { ...x, workers: n, env: { ...x.env, BENCH_WORKERS: String(n) } });

// prettier-ignore
export const SERVERS: ServerDef[] = [
  native('c', 'C epoll (ceiling)', 'ceiling', 'servers/c-echo.c'),
  node('net', 'Node net', 'baseline', 'net-echo.js', { timers: 'settimeout' }),
  node('danga', 'DangaSocket (epoll)', 'subject', 'danga-echo.js', { engine: 'epoll', timers: 'danga' }),
  node('danga-node', 'DangaSocket (stream engine)', 'subject', 'danga-echo.js', { env: { DANGA_ENGINE: 'node' }, engine: 'node', timers: 'danga' }),
  // the cost of the PROXY protocol option on churn: the library's Listener without it and with it (a v2 header per connection)
  node('danga-listener', 'DangaSocket Listener (epoll)', 'subject', 'danga-listener-echo.js', { engine: 'epoll', only: ['churn'] }),
  node('danga-proxy', 'DangaSocket Listener + PROXY v2 (epoll)', 'subject', 'danga-listener-echo.js', { env: { DANGA_PROXY: '1' }, engine: 'epoll', only: ['churn'], loadgenArgs: ['--proxy', '2'] }),
  perl('perl', 'Perl Danga::Socket 1.62', 'reference', 'perl-echo.pl', ['Danga::Socket']),
  // the readsize scenario: the same echo on the epoll engine, read(4096) and read(1 << 20) per event; the second's CPU per round trip ÷ the first's, same round
  node('danga-read4k', 'DangaSocket read(4096) (epoll)', 'reference', 'danga-echo.js', { env: { BENCH_READ_SIZE: '4096' }, engine: 'epoll', only: ['readsize-16b-50'] }),
  node('danga-read1m', 'DangaSocket read(1 << 20) (epoll)', 'subject', 'danga-echo.js',
    { env: { BENCH_READ_SIZE: String(1 << 20) }, engine: 'epoll', only: ['readsize-16b-50'], scalesFrom: 'danga-read4k' }),
  // the job-server scenarios (job-*, memory-*): the same protocol on Node net (the baseline) and on the library's helpers
  node('net-job', 'Node net (hand-written framing)', 'baseline', 'net-job.js', { job: true }),
  node('danga-job', 'DangaSocket helpers (epoll)', 'subject', 'danga-job.js', { job: true, engine: 'epoll' }),
  node('danga-job-node', 'DangaSocket helpers (stream engine)', 'subject', 'danga-job.js', { job: true, env: { DANGA_ENGINE: 'node' }, engine: 'node' }),
  // job-50 only: danga-job looking at the first byte with peekByte() (no Buffer made) rather than peek(1)
  node('danga-job-byte', 'DangaSocket helpers, peekByte (epoll)', 'reference', 'danga-job.js', { job: true, env: { BENCH_JOB_PEEK: 'byte' }, engine: 'epoll' }),
  // the file scenarios (file-*): their own baseline and ceiling
  node('node-http', 'Node http + createReadStream', 'baseline', 'node-http-static.js', { files: true }),
  node('danga-static', 'DangaSocket static-server (epoll, sendfile)', 'subject', 'danga-static.js', { engine: 'epoll', files: true }),
  nginx('nginx', 'nginx (sendfile on)'),
  // the workers scenario: 1 and 2 workers of each kind
  group('danga-w1', 'DangaSocket WorkerGroup, 1 worker', 'subject', 'danga-group.js', 1, { engine: 'epoll' }),
  group('danga-w2', 'DangaSocket WorkerGroup, 2 workers (reuseport)', 'subject', 'danga-group.js', 2, { engine: 'epoll', scalesFrom: 'danga-w1' }),
  group('danga-w2-shared', 'DangaSocket WorkerGroup, 2 workers (shared)', 'subject', 'danga-group.js', 2,
    { engine: 'epoll', scalesFrom: 'danga-w1', env: { BENCH_GROUP_MODE: 'shared' } }),
  group('danga-w2-handoff', 'DangaSocket WorkerGroup, 2 workers (handoff)', 'subject', 'danga-group.js', 2,
    { engine: 'epoll', scalesFrom: 'danga-w1', env: { BENCH_GROUP_MODE: 'handoff' } }),
  group('danga-w2-1cpu', 'DangaSocket WorkerGroup, 2 workers (reuseport) on the server CPU only', 'reference', 'danga-group.js', 2,
    { engine: 'epoll', scalesFrom: 'danga-w1', serverCpuOnly: true }),
  group('cluster-1', 'Node cluster (round-robin), 1 worker', 'reference', 'cluster-echo.js', 1),
  group('cluster-2', 'Node cluster (round-robin), 2 workers', 'reference', 'cluster-echo.js', 2, { scalesFrom: 'cluster-1' }),
  group('net-rp-1', 'Node net reusePort, 1 worker thread', 'reference', 'net-reuseport.js', 1, { unavailable: () => noReusePort() }),
  group('net-rp-2', 'Node net reusePort, 2 worker threads', 'reference', 'net-reuseport.js', 2, { scalesFrom: 'net-rp-1', unavailable: () => noReusePort() }),
];

/** The DangaSocket servers that `--baseline DIR` copies, running DIR's library (or, for the file server, DIR's own script). */
const BASELINE_COPIES = ['danga', 'danga-node', 'danga-job', 'danga-job-node', 'danga-static', 'danga-read4k', 'danga-read1m'];

/**
 * `--baseline DIR`: a copy `<id>-base` of each DangaSocket server, running the
 * current tree's server script on the library built in DIR (another checkout,
 * built: DIR/dist/src/index.js, BENCH_DANGA_LIB); the file server runs DIR's
 * own compiled server script (it uses examples/, which imports the library
 * directly). Measured in the same run, in alternation with the rest.
 */
export function baselineServers(dir: string): ServerDef[] {
  return SERVERS.filter((s) => BASELINE_COPIES.includes(s.id)).map((s) => ({
    ...s,
    id: `${s.id}-base`,
    label: `${s.label} [baseline]`,
    role: 'reference' as const,
    baseOf: s.id,
    timers: undefined,
    env: { ...s.env, BENCH_DANGA_LIB: dir },
    // a copy is divided by the copy of its denominator: the baseline's ratio beside this tree's
    ...(s.scalesFrom === undefined ? {} : { scalesFrom: `${s.scalesFrom}-base` }),
    ...(s.files ? { command: () => [process.execPath, '--expose-gc', join(dir, 'dist', 'bench', 'servers', 'danga-static.js')] } : {}),
    unavailable: () =>
      existsSync(join(dir, 'dist', 'src', 'index.js')) ? null : `${join(dir, 'dist', 'src', 'index.js')} is missing (build the baseline: npm install)`,
  }));
}

export const BASELINE_ID = SERVERS.find((s) => s.role === 'baseline' && !s.files)?.id ?? 'net';
export const CEILING_ID = SERVERS.find((s) => s.role === 'ceiling' && !s.files)?.id ?? 'c';
/** The file scenarios' denominators: Node http (the idiomatic Node file server) and nginx. */
export const FILE_BASELINE_ID = 'node-http';
export const FILE_CEILING_ID = 'nginx';
