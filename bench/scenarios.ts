/**
 * The scenarios.  Each is measured on every selected server, servers in
 * alternation (A B C A B C …), `rounds` times.
 */

export type Kind = 'echo' | 'stream' | 'churn' | 'idle' | 'timers' | 'file' | 'workers';

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
  /** subject ÷ C ceiling, at least */
  vsC?: number;
  /** absolute upper bound of the figure */
  maxValue?: number;
  /** server CPU seconds per GiB served ÷ the baseline's, at most (file scenarios) */
  cpuVsNet?: number;
  /** the figure ÷ the one-worker server's (`scalesFrom`), same round, at most (workers scenarios) */
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
  /** part of --quick */
  quick: boolean;
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
const MIB: Metric = { key: 'mibPerSec', label: 'MiB/s', unit: 'MiB/s', higherIsBetter: true };
const CONNS: Metric = { key: 'rate', label: 'connections/s', unit: '/s', higherIsBetter: true };
const IDLE: Metric = { key: 'rssPerConn', label: 'RSS bytes/connection', unit: 'B', higherIsBetter: false };
const TIMER: Metric = { key: 'nsPerTimer', label: 'CPU ns/timer', unit: 'ns', higherIsBetter: false };
const IDLE_CPU: Metric = { key: 'idleCpuPct', label: 'server CPU while idle', unit: '%', higherIsBetter: false };
const CPU_PER_RT: Metric = { key: 'cpuPerOp', label: 'server CPU µs/round trip', unit: 'µs', higherIsBetter: false };
const REQS: Metric = { key: 'rate', label: 'requests/s', unit: '/s', higherIsBetter: true };

const KiB = 1024;
const GiB = 1024 * 1024 * 1024;

/** 2 workers cost at most 1.1× one worker's CPU per round trip (issue 17: linear scaling keeps it flat). */
const SCALES: Target = { maxScaling: 1.1, text: '2 workers ≤1.1× CPU/round trip of 1' };

/** The issue sets the stream engine one target only (pingpong-50). */
const NO_STREAM_TARGET: Record<string, Target | null> = { 'danga-node': null };

// prettier-ignore
export const SCENARIOS: Scenario[] = [
  { id: 'pingpong-1', title: '64 B ping-pong, 1 connection', kind: 'echo', conns: 1, depth: 1, size: 64, metric: RATE, quick: true },
  { id: 'pingpong-50', title: '64 B ping-pong, 50 connections', kind: 'echo', conns: 50, depth: 1, size: 64, metric: RATE, quick: true,
    target: { vsNet: 1.6, vsC: 0.85, text: '≥1.6× net, ≥0.85× C' },
    serverTargets: { 'danga-node': { vsNet: 0.9, text: '≥0.9× net' } } },
  { id: 'pingpong-1000', title: '64 B ping-pong, 1000 connections', kind: 'echo', conns: 1000, depth: 1, size: 64, metric: RATE, quick: true,
    target: { vsNet: 1.5, text: '≥1.5× net' }, serverTargets: NO_STREAM_TARGET },
  { id: 'msg16k-20', title: '16 KiB messages, 20 connections', kind: 'echo', conns: 20, depth: 1, size: 16 * KiB, metric: RATE, quick: true,
    target: { vsNet: 1.3, text: '≥1.3× net' }, serverTargets: NO_STREAM_TARGET },
  { id: 'pipelined-10x16', title: '64 B pipelined, 10 connections × 16 in flight', kind: 'echo', conns: 10, depth: 16, size: 64, metric: RATE, quick: true,
    target: { vsNet: 1.0, text: '≥1.0× net' }, serverTargets: NO_STREAM_TARGET },
  { id: 'stream-1g', title: '1 GiB streamed one way (client → server) on 1 connection', kind: 'stream', bytes: GiB, quickBytes: GiB / 8, metric: MIB, quick: true,
    target: { vsNet: 1.0, text: '≥1.0× net' }, serverTargets: NO_STREAM_TARGET },
  { id: 'churn', title: 'connection churn: connect, one 64 B echo, close (50 at a time)', kind: 'churn', conns: 50, size: 64, metric: CONNS, quick: true,
    target: { vsNet: 1.3, text: '≥1.3× net' }, serverTargets: NO_STREAM_TARGET },
  { id: 'idle-timeout', title: '64 B ping-pong, 50 connections, each with a 30 s idle timeout (compare pingpong-50)', kind: 'echo', conns: 50, depth: 1, size: 64, metric: RATE, quick: true,
    serverEnv: { DANGA_IDLE_TIMEOUT: '30' } },
  { id: 'idle-9000', title: '9,000 idle connections: memory per connection over the empty server', kind: 'idle', conns: 9000, quickConns: 2000, size: 64, metric: IDLE, quick: true,
    target: { maxValue: 1536, text: '≤1.5 KiB RSS/conn' }, serverTargets: NO_STREAM_TARGET },
  { id: 'idle-timeout-15000', title: '15,000 idle connections, each with a 1 h idle timeout: server CPU over 10 s of quiet, 20 s after they opened', kind: 'idle', conns: 15000, quickConns: 2000, size: 64, metric: IDLE_CPU, quick: true,
    serverEnv: { DANGA_IDLE_TIMEOUT: '3600' }, settleS: 20, quietS: 10, target: { maxValue: 1, text: '≤1% CPU' }, serverTargets: NO_STREAM_TARGET },
  { id: 'timers-10k', title: '10,000 random timers (1–1000 ms) added and fired', kind: 'timers', timerKind: 'fire', timers: 10_000, metric: TIMER, quick: false,
    target: { vsNet: 1.0, text: '≤1.0× setTimeout' }, serverTargets: NO_STREAM_TARGET },
  { id: 'timers-100k', title: '100,000 random timers added and fired', kind: 'timers', timerKind: 'fire', timers: 100_000, metric: TIMER, quick: true,
    target: { vsNet: 1.0, text: '≤1.0× setTimeout' }, serverTargets: NO_STREAM_TARGET },
  { id: 'timers-1m', title: '1,000,000 random timers added and fired', kind: 'timers', timerKind: 'fire', timers: 1_000_000, metric: TIMER, quick: false,
    target: { vsNet: 1.0, text: '≤1.0× setTimeout' }, serverTargets: NO_STREAM_TARGET },
  { id: 'timers-cancel-100k', title: '100,000 random timers added and cancelled', kind: 'timers', timerKind: 'cancel', timers: 100_000, metric: TIMER, quick: true,
    target: { vsNet: 1.0, text: '≤1.0× setTimeout' }, serverTargets: NO_STREAM_TARGET },
  { id: 'file-1g', title: 'static files: 1 client downloading a 1 GiB file (keep-alive, again and again)', kind: 'file', conns: 1, fileBytes: GiB, metric: MIB, quick: true,
    target: { vsNet: 1.5, cpuVsNet: 1 / 3, vsC: 0.8, text: '≥1.5× Node http, ≤1/3 its CPU/GiB, ≥0.8× nginx' } },
  { id: 'file-64k-50', title: 'static files: 50 keep-alive clients fetching a 64 KiB file', kind: 'file', conns: 50, fileBytes: 64 * KiB, metric: REQS, quick: true,
    target: { vsNet: 1.3, vsC: 0.8, text: '≥1.3× Node http, ≥0.8× nginx' } },
  { id: 'workers', title: 'every core: 64 B ping-pong, 50 connections, on 1 and 2 workers (server CPU per round trip)', kind: 'workers', conns: 50, depth: 1, size: 64,
    metric: CPU_PER_RT, quick: true, serverTargets: { 'danga-w2': SCALES } },
];
