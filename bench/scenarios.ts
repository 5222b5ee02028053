/**
 * The scenarios.  Each is measured on every selected server, servers in
 * alternation (A B C A B C …), `rounds` times.
 */

export type Kind = 'echo' | 'stream' | 'churn' | 'idle' | 'timers' | 'file' | 'workers' | 'readsize' | 'job' | 'memory' | 'syscalls';

export interface Metric {
  /** the key of a sample holding the figure */
  key: string;
  label: string;
  unit: string;
  higherIsBetter: boolean;
}

export interface Target {
  /** subject ÷ Node net, at least (higher-is-better) or at most (cost) */
  vsNet?: number;
  /** subject ÷ C ceiling, at least (higher-is-better) or at most (cost) */
  vsC?: number;
  /** the figure is below (a cost) or above this server's (by id), same run */
  beats?: string;
  /** absolute upper bound of the figure */
  maxValue?: number;
  /** server CPU seconds per GiB served ÷ the baseline's, at most (file scenarios) */
  cpuVsNet?: number;
  /** the figure ÷ the `scalesFrom` server's (workers: one worker's; readsize: read(4096)'s), same round, at most */
  maxScaling?: number;
  text: string;
}

export interface Scenario {
  id: string;
  title: string;
  kind: Kind;
  metric: Metric;
  target?: Target;
  /**
   * Targets for particular servers, by server id, in place of `target`
   * (null: none). The stream engine has its own, lower, bar.
   */
  serverTargets?: Record<string, Target | null>;
  /**
   * The throughput shown beside the figure (the figure being the server's
   * CPU per operation): round trips, requests, messages, connections per
   * second, or MiB/s.
   */
  throughput?: Metric;
  /** part of --quick */
  quick: boolean;
  /** the servers that run it, by id (a baseline copy `X-base` runs where `X` does); default: by kind */
  servers?: string[];
  /** server mode (default: echo; `lines`: the line echo through readLine) and load generator --lines */
  lines?: boolean;
  /** job and memory scenarios: every K'th request is a text line (`--text-every`) */
  textEvery?: number;
  /** job and memory scenarios: the store command on K distinct keys of `valueSize` bytes (`--keys`, `--value-size`) */
  keys?: number;
  quickKeys?: number;
  valueSize?: number;
  /** syscalls scenarios: the load generator mode (echo or job) */
  load?: 'echo' | 'job';
  /** load generator settings (echo, stream, churn, idle) */
  conns?: number;
  depth?: number;
  size?: number;
  bytes?: number;
  quickBytes?: number;
  quickConns?: number;
  /** timer scenarios */
  timerKind?: 'fire' | 'cancel';
  timers?: number;
  /**
   * Extra environment for the server (e.g. DANGA_IDLE_TIMEOUT: every
   * connection gets that idle timeout, in seconds; the servers without one
   * ignore it).
   */
  serverEnv?: Record<string, string>;
  /**
   * idle scenarios: seconds over which the server's CPU is measured, after
   * `settleS` seconds with the connections open (the V8 work the setup
   * leaves behind runs in that time; quick: a fifth of each)
   */
  quietS?: number;
  settleS?: number;
  /**
   * file scenarios: each client fetches a file of `fileBytes` random bytes
   * (made once in bench/build/files/) over keep-alive, again and again;
   * `conns` clients. The ratios are to Node http (×net) and nginx (×C).
   */
  fileBytes?: number;
}

const RATE: Metric = { key: 'rate', label: 'round trips/s', unit: '/s', higherIsBetter: true };
const MSGS: Metric = { key: 'rate', label: 'messages/s', unit: '/s', higherIsBetter: true };
/** Server CPU per operation (from /proc, over the measured window): the primary figure of every load scenario. */
const cpu = (per: string): Metric => ({ key: 'cpuPerOp', label: `server CPU µs/${per}`, unit: 'µs', higherIsBetter: false });
const CPU_GIB: Metric = { key: 'cpuPerGiB', label: 'server CPU s/GiB', unit: 's', higherIsBetter: false };
const RSS_PEAK: Metric = { key: 'rssPeak', label: 'peak RSS', unit: 'MiB', higherIsBetter: false };
const RSS_KEY: Metric = { key: 'rssPerValue', label: 'RSS bytes per kept value', unit: 'B', higherIsBetter: false };
const SYSCALLS: Metric = { key: 'syscallsPerOp', label: 'read+write+epoll_ctl calls per message', unit: 'calls', higherIsBetter: false };
const MIB: Metric = { key: 'mibPerSec', label: 'MiB/s', unit: 'MiB/s', higherIsBetter: true };
const CONNS: Metric = { key: 'rate', label: 'connections/s', unit: '/s', higherIsBetter: true };
const IDLE: Metric = { key: 'rssPerConn', label: 'RSS bytes/connection', unit: 'B', higherIsBetter: false };
const TIMER: Metric = { key: 'nsPerTimer', label: 'CPU ns/timer', unit: 'ns', higherIsBetter: false };
const IDLE_CPU: Metric = { key: 'idleCpuPct', label: 'server CPU while idle', unit: '%', higherIsBetter: false };
const CPU_PER_RT: Metric = cpu('round trip');
const REQS: Metric = { key: 'rate', label: 'requests/s', unit: '/s', higherIsBetter: true };

const KiB = 1024;
const GiB = 1024 * 1024 * 1024;

/** 2 workers cost at most 1.1× one worker's CPU per round trip (issue 17: linear scaling keeps it flat). */
const SCALES: Target = { maxScaling: 1.1, text: '2 workers ≤1.1× CPU/round trip of 1' };

/** read(1 << 20) costs at most 1.1× read(4096)'s CPU per round trip (issue 21: read(n) costs what arrived, not n). */
const READ_FLAT: Target = { maxScaling: 1.1, text: 'read(1 << 20) ≤1.1× read(4096) CPU/round trip' };

/** The issue sets the stream engine one target only (pingpong-50). */
const NO_STREAM_TARGET: Record<string, Target | null> = { 'danga-node': null };

/** The syscall scenarios' target (issue 21): no more read+write+epoll_ctl per message than the C server (2% for noise: connection setup, a few extra wake-ups). */
const SYSCALLS_C: Target = { vsC: 1.02, text: "≤ C's read+write+epoll_ctl per message" };
/** The job-server scenario's target (issue 21): the epoll engine at most 0.8× Node net's CPU per message, and below the node engine's. */
const JOB: Target = { vsNet: 0.8, beats: 'danga-job-node', text: '≤0.8× net CPU/message, below the node engine' };
/** A throughput target of the past, `≥x× net`, in CPU terms: `≤1/x× net` CPU per operation. */
const cpuNet = (x: number, extra = ''): Target => ({ vsNet: +(1 / x).toFixed(2), text: `≤${(1 / x).toFixed(2)}× net CPU/op${extra}` });

// prettier-ignore
export const SCENARIOS: Scenario[] = [
  { id: 'pingpong-1', title: '64 B ping-pong, 1 connection', kind: 'echo', conns: 1, depth: 1, size: 64, metric: cpu('round trip'), throughput: RATE, quick: true },
  { id: 'pingpong-50', title: '64 B ping-pong, 50 connections', kind: 'echo', conns: 50, depth: 1, size: 64, metric: cpu('round trip'), throughput: RATE, quick: true,
    target: { vsNet: 0.63, vsC: 1.1, text: '≤1.1× C CPU/round trip, ≤0.63× net' },
    serverTargets: { 'danga-node': { vsNet: 1.11, text: '≤1.11× net CPU/round trip' } } },
  { id: 'pingpong-1000', title: '64 B ping-pong, 1000 connections', kind: 'echo', conns: 1000, depth: 1, size: 64, metric: cpu('round trip'), throughput: RATE, quick: true,
    target: cpuNet(1.5), serverTargets: NO_STREAM_TARGET },
  { id: 'msg16k-20', title: '16 KiB messages, 20 connections', kind: 'echo', conns: 20, depth: 1, size: 16 * KiB, metric: cpu('round trip'), throughput: RATE, quick: true,
    target: cpuNet(1.3), serverTargets: NO_STREAM_TARGET },
  { id: 'pipelined-10x16', title: '64 B pipelined, 10 connections × 16 in flight', kind: 'echo', conns: 10, depth: 16, size: 64, metric: cpu('round trip'), throughput: RATE, quick: true,
    target: cpuNet(1.0), serverTargets: NO_STREAM_TARGET },
  { id: 'stream-1g', title: '1 GiB streamed one way (client → server) on 1 connection', kind: 'stream', bytes: GiB, quickBytes: GiB / 8, metric: CPU_GIB, throughput: MIB, quick: true,
    target: { vsNet: 1.0, text: '≤1.0× net CPU/GiB' }, serverTargets: NO_STREAM_TARGET },
  { id: 'churn', title: 'connection churn: connect, one 64 B echo, close (50 at a time)', kind: 'churn', conns: 50, size: 64, metric: cpu('connection'), throughput: CONNS, quick: true,
    target: cpuNet(1.3), serverTargets: NO_STREAM_TARGET },
  { id: 'idle-timeout', title: '64 B ping-pong, 50 connections, each with a 30 s idle timeout (compare pingpong-50)', kind: 'echo', conns: 50, depth: 1, size: 64, metric: cpu('round trip'), throughput: RATE, quick: true,
    serverEnv: { DANGA_IDLE_TIMEOUT: '30' } },
  { id: 'job-50', title: 'job server: 50 connections × 16 pipelined, Gearman-shaped 12 B head + ~40 B packets, every 8th request a text admin line', kind: 'job', conns: 50, depth: 16, size: 32, textEvery: 8,
    metric: cpu('message'), throughput: MSGS, quick: true, servers: ['net-job', 'danga-job', 'danga-job-node', 'danga-job-byte'], target: JOB, serverTargets: { 'danga-job-node': null, 'danga-job-byte': null } },
  { id: 'idle-9000', title: '9,000 idle connections: memory per connection over the empty server', kind: 'idle', conns: 9000, quickConns: 2000, size: 64, metric: IDLE, quick: true,
    target: { maxValue: 1536, text: '≤1.5 KiB RSS/conn' }, serverTargets: NO_STREAM_TARGET },
  { id: 'idle-timeout-15000', title: '15,000 idle connections, each with a 1 h idle timeout: server CPU over 10 s of quiet, 20 s after they opened', kind: 'idle', conns: 15000, quickConns: 2000, size: 64, metric: IDLE_CPU, quick: true,
    serverEnv: { DANGA_IDLE_TIMEOUT: '3600' }, settleS: 20, quietS: 10, target: { maxValue: 1, text: '≤1% CPU' }, serverTargets: NO_STREAM_TARGET },
  { id: 'memory-job-50', title: "memory under load: job-50's load, peak RSS (and the heap as the load leaves it)", kind: 'memory', conns: 50, depth: 16, size: 32, textEvery: 8,
    metric: RSS_PEAK, throughput: MSGS, quick: true, servers: ['net-job', 'danga-job', 'danga-job-node'] },
  { id: 'memory-keep-1k', title: "memory of kept reads: 50 connections × 4 pipelined 'set' of 1 KiB values over 100,000 keys, the server keeping each value as read", kind: 'memory', conns: 50, depth: 4, size: 32,
    keys: 100_000, quickKeys: 10_000, valueSize: KiB, metric: RSS_KEY, throughput: MSGS, quick: true, servers: ['net-job', 'danga-job', 'danga-job-node'],
    target: { maxValue: 2 * KiB, text: '≤2 KiB RSS per kept 1 KiB value' }, serverTargets: { 'danga-job-node': null } },
  { id: 'timers-10k', title: '10,000 random timers (1–1000 ms) added and fired', kind: 'timers', timerKind: 'fire', timers: 10_000, metric: TIMER, quick: false,
    target: { vsNet: 1.0, text: '≤1.0× setTimeout' }, serverTargets: NO_STREAM_TARGET },
  { id: 'timers-100k', title: '100,000 random timers added and fired', kind: 'timers', timerKind: 'fire', timers: 100_000, metric: TIMER, quick: true,
    target: { vsNet: 1.0, text: '≤1.0× setTimeout' }, serverTargets: NO_STREAM_TARGET },
  { id: 'timers-1m', title: '1,000,000 random timers added and fired', kind: 'timers', timerKind: 'fire', timers: 1_000_000, metric: TIMER, quick: false,
    target: { vsNet: 1.0, text: '≤1.0× setTimeout' }, serverTargets: NO_STREAM_TARGET },
  { id: 'timers-cancel-100k', title: '100,000 random timers added and cancelled', kind: 'timers', timerKind: 'cancel', timers: 100_000, metric: TIMER, quick: true,
    target: { vsNet: 1.0, text: '≤1.0× setTimeout' }, serverTargets: NO_STREAM_TARGET },
  { id: 'file-1g', title: 'static files: 1 client downloading a 1 GiB file (keep-alive, again and again)', kind: 'file', conns: 1, fileBytes: GiB, metric: CPU_GIB, throughput: MIB, quick: true,
    target: { vsNet: 1 / 3, vsC: 1.25, text: '≤1/3 Node http CPU/GiB, ≤1.25× nginx' } },
  { id: 'file-64k-50', title: 'static files: 50 keep-alive clients fetching a 64 KiB file', kind: 'file', conns: 50, fileBytes: 64 * KiB, metric: cpu('request'), throughput: REQS, quick: true,
    target: { vsNet: 0.77, vsC: 1.25, text: '≤0.77× Node http CPU/request, ≤1.25× nginx' } },
  { id: 'workers', title: 'every core: 64 B ping-pong, 50 connections, on 1 and 2 workers (server CPU per round trip)', kind: 'workers', conns: 50, depth: 1, size: 64,
    metric: CPU_PER_RT, throughput: RATE, quick: true, serverTargets: { 'danga-w2': SCALES } },
  { id: 'readsize-16b-50', title: '16 B ping-pong, 50 connections, the epoll echo reading with read(4096) and with read(1 << 20) (server CPU per round trip)', kind: 'readsize',
    conns: 50, depth: 1, size: 16, metric: CPU_PER_RT, throughput: RATE, quick: true, servers: ['danga-read4k', 'danga-read1m'], target: READ_FLAT },
  // syscalls per message (strace -c -f on the server) and crossings per message (the epoll engine's addon calls); not in a plain run: --syscalls
  { id: 'syscalls-pingpong-50', title: "syscalls per round trip: pingpong-50's load under strace -c", kind: 'syscalls', load: 'echo', conns: 50, depth: 1, size: 64,
    metric: SYSCALLS, quick: true, servers: ['c', 'danga', 'danga-node'], target: SYSCALLS_C, serverTargets: NO_STREAM_TARGET },
  { id: 'syscalls-pipelined-10x16', title: "syscalls per round trip: pipelined-10x16's load under strace -c", kind: 'syscalls', load: 'echo', conns: 10, depth: 16, size: 64,
    metric: SYSCALLS, quick: true, servers: ['c', 'danga', 'danga-node'], target: SYSCALLS_C, serverTargets: NO_STREAM_TARGET },
  { id: 'syscalls-lines-50', title: 'syscalls per line: 64 B lines ping-pong on 50 connections, the DangaSocket servers echoing through readLine (C: a byte echo)', kind: 'syscalls', load: 'echo', lines: true,
    conns: 50, depth: 1, size: 64, metric: SYSCALLS, quick: true, servers: ['c', 'danga', 'danga-node'], target: SYSCALLS_C, serverTargets: NO_STREAM_TARGET },
  { id: 'syscalls-job-50', title: "syscalls per message: job-50's load under strace -c", kind: 'syscalls', load: 'job', conns: 50, depth: 16, size: 32, textEvery: 8,
    metric: SYSCALLS, quick: true, servers: ['net-job', 'danga-job', 'danga-job-node'] },
];

/** The kinds that run only when asked for (`--syscalls`, or by id). */
export const ON_REQUEST: readonly Kind[] = ['syscalls'];
