/** One measurement: one server (or timer implementation) under one scenario. */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Scenario } from '../scenarios.js';
import type { ServerDef } from '../servers.js';
import { buildDir, distBench, root } from './paths.js';
import { Proc, cpuSeconds, describeExit, sleep, vmRssBytes, wrap, type Pinning } from './proc.js';
import { busyCpus, cpuStat } from './quiet.js';

export type Sample = Record<string, number>;

export interface Settings {
  pin: Pinning;
  warmupS: number;
  durationS: number;
  quick: boolean;
  loadgen: string;
  round: number;
}

/** A failure that means the server cannot start at all (skip it for the rest of the run). */
export class StartError extends Error {}

function envFor(server: ServerDef, sc?: Scenario): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DANGA_ENGINE;
  delete env.DANGA_IDLE_TIMEOUT;
  return Object.assign(env, server.env ?? {}, sc?.serverEnv ?? {});
}

interface Running {
  proc: Proc;
  port: number;
  engine: string | null;
  /** more processes of the server (`pids=` on its port line: a cluster's workers) */
  pids: number[];
}

/**
 * The server's CPUs: the server CPU; in the workers scenarios both CPUs (the
 * load generator's too), for 1 worker as for 2, so that both run alike and
 * 2 workers can run at once (the load generator stays on its own CPU),
 * unless the server asks for the server CPU only (a diagnostic).
 */
function serverCpus(server: ServerDef, sc: Scenario, s: Settings): number | string | null {
  if (!s.pin.enabled) return null;
  return sc.kind === 'workers' && !server.serverCpuOnly ? `${s.pin.loadgenCpu},${s.pin.serverCpu}` : s.pin.serverCpu;
}

async function startServer(
  server: ServerDef,
  sc: Scenario,
  mode: 'echo' | 'sink' | 'file' | 'lines' | 'job',
  s: Settings,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<Running> {
  let argv: string[];
  try {
    const port = server.needsPort ? await freePort() : 0;
    argv = [...server.command(), '--port', String(port), '--mode', mode, ...extra];
  } catch (e) {
    throw new StartError((e as Error).message);
  }
  const proc = new Proc(server.id, wrap(argv, serverCpus(server, sc, s)), { ...envFor(server, sc), ...env }, root);
  let line: string;
  try {
    line = await proc.nextLine(15_000, 'printing its port');
  } catch (e) {
    await proc.stop();
    throw new StartError((e as Error).message);
  }
  const m = /^\s*(\d+)\b(.*)$/.exec(line);
  if (!m) {
    await proc.stop();
    throw new StartError(`${server.id}: expected its port on the first stdout line, got ${JSON.stringify(line)}`);
  }
  const engine = /\bengine=(\S+)/.exec(m[2] ?? '')?.[1] ?? null;
  if (server.engine && engine !== null && engine !== server.engine && !(engine === 'unknown' && server.engine === 'epoll')) {
    await proc.stop();
    throw new StartError(
      engine === 'unknown'
        ? `${server.id}: cannot confirm the ${server.engine} engine (DangaSocket.engine() is missing)`
        : `${server.id}: runs the ${engine} engine, expected ${server.engine}`,
    );
  }
  const port = Number(m[1]);
  const pids = (/\bpids=(\S+)/.exec(m[2] ?? '')?.[1] ?? '').split(',').filter(Boolean).map(Number);
  // A server told its port (nginx) prints it before it listens: wait until it accepts.
  if (server.needsPort && !(await accepting(port, 15_000))) {
    await proc.stop();
    throw new StartError(`${server.id}: not accepting on port ${port} within 15 s${proc.stderrHint()}`);
  }
  return { proc, port, engine, pids };
}

/** A port free now (for servers that cannot report the one they picked). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** True once a connection to 127.0.0.1:port succeeds (tried every 50 ms). */
async function accepting(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect({ host: '127.0.0.1', port }, () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return true;
    await sleep(50);
  }
  return false;
}

/** bench/build/files/<bytes>.bin: random bytes, made once (written aside, then renamed). */
export function benchFile(bytes: number): { dir: string; name: string } {
  const dir = join(buildDir, 'files');
  const name = `${bytes}.bin`;
  const path = join(dir, name);
  if (existsSync(path) && statSync(path).size === bytes) return { dir, name };
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    for (let done = 0; done < bytes;) {
      const chunk = randomBytes(Math.min(16 << 20, bytes - done));
      writeSync(fd, chunk);
      done += chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return { dir, name };
}

function lastJson(p: Proc, what: string): Record<string, unknown> {
  const lines = p.remainingLines().filter((l) => l.trim().startsWith('{'));
  const last = lines[lines.length - 1];
  if (last === undefined) throw new Error(`${what} printed no result (${p.exit ? describeExit(p.exit) : 'running'})${p.stderrHint()}`);
  const obj = JSON.parse(last) as Record<string, unknown>;
  if (typeof obj.error === 'string') throw new Error(`${what}: ${obj.error}${p.stderrHint()}`);
  return obj;
}

function numbers(obj: Record<string, unknown>, keys: Record<string, string>): Sample {
  const out: Sample = {};
  for (const [from, to] of Object.entries(keys)) {
    const v = obj[from];
    if (typeof v === 'number' && Number.isFinite(v)) out[to] = v;
  }
  return out;
}

function serverDied(srv: Running): string {
  return srv.proc.exit ? `\n  the server had ended (${describeExit(srv.proc.exit)})${srv.proc.stderrHint()}` : '';
}

async function runLoadgen(srv: Running, args: string[], s: Settings, timeoutS: number): Promise<Record<string, unknown>> {
  const argv = [s.loadgen, '--port', String(srv.port), ...[srv.proc.pid, ...srv.pids].flatMap((p) => ['--server-pid', String(p)]), ...args];
  const lg = new Proc('loadgen', wrap(argv, s.pin.enabled ? s.pin.loadgenCpu : null), process.env, root);
  const exit = await lg.waitExit(timeoutS * 1000);
  if (!exit) {
    await lg.stop(500);
    throw new Error(`the load generator did not finish within ${timeoutS} s${serverDied(srv)}`);
  }
  try {
    const r = lastJson(lg, 'load generator');
    if (exit.code !== 0) throw new Error(`load generator: ${describeExit(exit)}${lg.stderrHint()}`);
    if (srv.proc.exit) throw new Error(`the server ended during the run${serverDied(srv)}`);
    return r;
  } catch (e) {
    throw new Error((e as Error).message + serverDied(srv), { cause: e });
  }
}

async function memory(srv: Running, server: ServerDef): Promise<{ rss: number; heap: number | null }> {
  let heap: number | null = null;
  if (server.heap) {
    srv.proc.send('mem\n');
    const line = await srv.proc.nextLine(10_000, 'answering the mem request');
    heap = (JSON.parse(line) as { heapUsed: number }).heapUsed;
  }
  return { rss: vmRssBytes(srv.proc.pid), heap };
}

async function measureIdle(server: ServerDef, sc: Scenario, s: Settings): Promise<Sample> {
  const conns = (s.quick ? sc.quickConns : undefined) ?? sc.conns ?? 9000;
  const srv = await startServer(server, sc, 'echo', s);
  try {
    await sleep(300);
    const before = await memory(srv, server);
    const argv = [s.loadgen, '--port', String(srv.port), '--mode', 'idle', '--conns', String(conns), '--size', String(sc.size ?? 64)];
    const lg = new Proc('loadgen', wrap(argv, s.pin.enabled ? s.pin.loadgenCpu : null), process.env, root);
    try {
      const ready = JSON.parse(await lg.nextLine(120_000, 'opening the idle connections')) as { ready?: number; setup_s?: number; error?: string };
      if (ready.error) throw new Error(`load generator: ${ready.error}`);
      await sleep(500);
      if (srv.proc.exit) throw new Error('the server ended');
      // CPU over a quiet period, once settled, and before the memory figure:
      // its forced full GCs leave V8 work behind.
      let idleCpuPct: number | null = null;
      const quietS = (sc.quietS ?? 0) / (s.quick ? 5 : 1);
      if (quietS > 0) {
        await sleep(((sc.settleS ?? 0) / (s.quick ? 5 : 1)) * 1000);
        const cpu0 = cpuSeconds(srv.proc.pid);
        const t0 = performance.now();
        await sleep(quietS * 1000);
        idleCpuPct = (100 * (cpuSeconds(srv.proc.pid) - cpu0)) / ((performance.now() - t0) / 1000);
        if (srv.proc.exit) throw new Error('the server ended');
      }
      const after = await memory(srv, server);
      lg.closeStdin();
      const exit = await lg.waitExit(30_000);
      if (!exit) throw new Error('the load generator did not end after the idle phase');
      const end = lastJson(lg, 'load generator');
      const closed = typeof end.closed_by_server === 'number' ? end.closed_by_server : 0;
      if (closed > 0) throw new Error(`the server closed ${closed} idle connections`);
      const sample: Sample = {
        rssPerConn: (after.rss - before.rss) / conns,
        rssBase: before.rss,
        rssLoaded: after.rss,
        conns,
        setupS: ready.setup_s ?? NaN,
      };
      if (idleCpuPct !== null) sample.idleCpuPct = idleCpuPct;
      if (after.heap !== null && before.heap !== null) {
        sample.heapPerConn = (after.heap - before.heap) / conns;
        sample.heapBase = before.heap;
        sample.heapLoaded = after.heap;
      }
      return sample;
    } catch (e) {
      throw new Error((e as Error).message + serverDied(srv), { cause: e });
    } finally {
      await lg.stop(500);
    }
  } finally {
    await srv.proc.stop();
  }
}

async function measureTimers(server: ServerDef, sc: Scenario, s: Settings): Promise<Sample> {
  const count = sc.timers ?? 100_000;
  const argv = [
    process.execPath,
    join(distBench, 'timers.js'),
    '--impl',
    server.timers!,
    '--kind',
    sc.timerKind ?? 'fire',
    '--count',
    String(count),
    '--seed',
    String(s.round + 1),
  ];
  const p = new Proc(`timers/${server.id}`, wrap(argv, s.pin.enabled ? s.pin.serverCpu : null), envFor(server), root);
  const timeoutS = 60 + count / 5000;
  const before = cpuStat();
  const t0 = performance.now();
  const exit = await p.waitExit(timeoutS * 1000);
  const after = cpuStat();
  const wallS = (performance.now() - t0) / 1000;
  if (!exit) {
    await p.stop(500);
    throw new Error(`the timer run did not finish within ${timeoutS} s${p.stderrHint()}`);
  }
  if (exit.code !== 0) throw new Error(`the timer run failed (${describeExit(exit)})${p.stderrHint()}`);
  const r = lastJson(p, 'timer run');
  if (server.engine && typeof r.engine === 'string' && r.engine !== server.engine && r.engine !== 'unknown') {
    throw new Error(`timers ran on the ${r.engine} engine, expected ${server.engine}`);
  }
  if (typeof r.firedAfterCancel === 'number' && r.firedAfterCancel > 0) throw new Error(`${r.firedAfterCancel} cancelled timers fired`);
  const out = numbers(r, { nsPerTimer: 'nsPerTimer', cpuS: 'cpuS', wallS: 'wallS', addS: 'addS', overrunMs: 'overrunMs' });
  // CPU the rest of the machine used meanwhile: everything busy minus the whole timer process
  const procCpuS = typeof r.procCpuS === 'number' ? r.procCpuS : out.cpuS;
  if (before && after && procCpuS !== undefined) out.otherCpu = Math.max(0, busyCpus(before, after, wallS) - procCpuS / wallS);
  return out;
}

const LOADGEN_KEYS = {
  rate: 'rate',
  p50_us: 'p50',
  p99_us: 'p99',
  server_cpu: 'serverCpu',
  loadgen_cpu: 'loadgenCpu',
  count: 'count',
  other_cpu: 'otherCpu',
  irq_cpu: 'irqCpu',
  steal_cpu: 'stealCpu',
  server_switches: 'serverSwitches',
};

/**
 * The primary figure of the load scenarios: the server's CPU per operation,
 * µs (CPU seconds over the window ÷ the operations in it), robust to a
 * saturated load generator, unlike throughput.
 */
function withCpuPerOp(out: Sample): Sample {
  if (out.serverCpu !== undefined && out.rate) out.cpuPerOp = (out.serverCpu / out.rate) * 1e6;
  return out;
}

/** The job and memory scenarios' load generator arguments. */
function jobArgs(sc: Scenario, s: Settings): string[] {
  const args = ['--mode', 'job', '--conns', String(sc.conns ?? 50), '--depth', String(sc.depth ?? 16), '--size', String(sc.size ?? 32)];
  if (sc.textEvery) args.push('--text-every', String(sc.textEvery));
  const keys = (s.quick ? sc.quickKeys : undefined) ?? sc.keys;
  if (keys) args.push('--keys', String(keys), '--value-size', String(sc.valueSize ?? 1024));
  return args;
}

/** The load generator arguments of an echo-shaped scenario (echo, churn, the syscall counts of an echo). */
function echoArgs(sc: Scenario, kind: 'echo' | 'churn'): string[] {
  const args = ['--mode', kind, '--conns', String(sc.conns ?? 1), '--size', String(sc.size ?? 64)];
  if (sc.depth) args.push('--depth', String(sc.depth));
  if (sc.lines) args.push('--lines');
  return args;
}

/** A load generator run over the measured window (warm-up, then the measured seconds): `args` plus the window. */
function runMeasured(srv: Running, args: string[], s: Settings): Promise<Record<string, unknown>> {
  const window = ['--warmup', String(s.warmupS), '--duration', String(s.durationS), '--timeout', '20'];
  return runLoadgen(srv, [...args, ...window], s, s.warmupS + s.durationS + 60);
}

async function measureFile(server: ServerDef, sc: Scenario, s: Settings): Promise<Sample> {
  const bytes = sc.fileBytes ?? 65536;
  const { dir, name } = benchFile(bytes);
  const state = mkdtempSync(join(tmpdir(), `danga-bench-${server.id}-`));
  try {
    const srv = await startServer(server, sc, 'file', s, ['--root', dir, '--state', state]);
    try {
      const r = await runMeasured(srv, ['--mode', 'http', '--path', `/${name}`, '--conns', String(sc.conns ?? 1)], s);
      const out = withCpuPerOp(numbers(r, { ...LOADGEN_KEYS, mib_s: 'mibPerSec', elapsed_s: 'seconds' }));
      // server CPU seconds per GiB of bodies served
      if (out.serverCpu !== undefined && out.mibPerSec) out.cpuPerGiB = (out.serverCpu * 1024) / out.mibPerSec;
      return out;
    } finally {
      await srv.proc.stop();
    }
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
}

/** max ÷ min of the workers' figures (1 for one worker; Infinity when one worker got none). */
function balance(values: number[]): number {
  const min = Math.min(...values);
  return min > 0 ? Math.max(...values) / min : Infinity;
}

/**
 * The workers scenarios: ping-pong as `echo`, the server's CPU summed over
 * its threads and processes; the figure is server CPU per round trip (µs).
 * Then the server's `stats`: the balance (max ÷ min over the workers) of
 * the connections each accepted and of the bytes each read (the whole run).
 */
async function measureWorkers(server: ServerDef, sc: Scenario, s: Settings): Promise<Sample> {
  const srv = await startServer(server, sc, 'echo', s);
  try {
    const args = ['--mode', 'echo', '--conns', String(sc.conns ?? 50), '--size', String(sc.size ?? 64), '--depth', String(sc.depth ?? 1)];
    const out = numbers(await runMeasured(srv, args, s), LOADGEN_KEYS);
    if (out.serverCpu === undefined || !out.rate) throw new Error(`no server CPU or no round trips (${JSON.stringify(out)})`);
    out.cpuPerOp = (out.serverCpu / out.rate) * 1e6;
    // the server's threads' wake-ups (switches onto a CPU) per round trip: what less batching costs
    if (out.serverSwitches !== undefined && out.count) out.switchesPerOp = out.serverSwitches / out.count;
    srv.proc.send('stats\n');
    const reply = JSON.parse(await srv.proc.nextLine(10_000, 'answering the stats request')) as {
      workers?: { accepted: number; bytesIn: number }[];
      error?: string;
    };
    if (!Array.isArray(reply.workers)) throw new Error(`${server.id}: stats: ${reply.error ?? 'no workers'}`);
    const want = server.workers ?? 1;
    if (reply.workers.length !== want) throw new Error(`${server.id}: ${reply.workers.length} workers answered, expected ${want}`);
    const accepted = reply.workers.map((w) => w.accepted);
    if (accepted.reduce((a, b) => a + b, 0) !== (sc.conns ?? 50))
      throw new Error(`${server.id}: the workers accepted ${accepted.join(' + ')} connections, not ${sc.conns ?? 50}`);
    out.workers = want;
    out.connsMin = Math.min(...accepted);
    out.connsMax = Math.max(...accepted);
    out.balanceConns = balance(accepted);
    out.balanceBytes = balance(reply.workers.map((w) => w.bytesIn));
    out.round = s.round;
    return out;
  } finally {
    await srv.proc.stop();
  }
}

export async function measure(server: ServerDef, sc: Scenario, s: Settings): Promise<Sample> {
  switch (sc.kind) {
    case 'job': {
      const srv = await startServer(server, sc, 'job', s);
      try {
        return withCpuPerOp(numbers(await runMeasured(srv, jobArgs(sc, s), s), LOADGEN_KEYS));
      } finally {
        await srv.proc.stop();
      }
    }
    case 'memory':
      return measureMemory(server, sc, s);
    case 'syscalls':
      return measureSyscalls(server, sc, s);
    case 'workers':
      return measureWorkers(server, sc, s);
    case 'file':
      return measureFile(server, sc, s);
    case 'timers':
      return measureTimers(server, sc, s);
    case 'idle':
      return measureIdle(server, sc, s);
    case 'stream': {
      const bytes = (s.quick ? sc.quickBytes : undefined) ?? sc.bytes ?? 1 << 30;
      const srv = await startServer(server, sc, 'sink', s);
      try {
        const r = await runLoadgen(srv, ['--mode', 'stream', '--bytes', String(bytes), '--timeout', '300'], s, 320);
        const out = numbers(r, {
          mib_s: 'mibPerSec',
          elapsed_s: 'seconds',
          server_cpu: 'serverCpu',
          loadgen_cpu: 'loadgenCpu',
          other_cpu: 'otherCpu',
          irq_cpu: 'irqCpu',
          steal_cpu: 'stealCpu',
        });
        out.bytes = bytes;
        if (out.serverCpu !== undefined && out.mibPerSec) out.cpuPerGiB = (out.serverCpu * 1024) / out.mibPerSec;
        return out;
      } finally {
        await srv.proc.stop();
      }
    }
    case 'echo':
    case 'readsize':
    case 'churn': {
      const srv = await startServer(server, sc, sc.lines ? 'lines' : 'echo', s);
      try {
        const args = echoArgs(sc, sc.kind === 'churn' ? 'churn' : 'echo');
        // churn closes with RST: orderly closes would pile up >100k TIME_WAIT sockets that slow the next measurements
        if (sc.kind === 'churn') args.push('--rst');
        args.push(...(server.loadgenArgs ?? []));
        const r = await runMeasured(srv, args, s);
        return withCpuPerOp(numbers(r, LOADGEN_KEYS));
      } finally {
        await srv.proc.stop();
      }
    }
  }
}

/** One JSON line answered on the control channel. */
async function ask(srv: Running, command: string): Promise<Record<string, number>> {
  srv.proc.send(`${command}\n`);
  return JSON.parse(await srv.proc.nextLine(10_000, `answering ${command}`)) as Record<string, number>;
}

/** VmHWM (the peak resident set since the start) of a process in bytes. */
function vmHwmBytes(pid: number): number {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/**
 * Memory under load: the server's RSS before, at the middle of the measured
 * window (with its heap as the load leaves it: `mem-live`, no GC), its peak
 * (VmHWM), and after the load (after a full GC: `mem`). With stored values
 * (`keys`), the RSS the values added (after − before) per value kept
 * (`jobstats`), and of it what stays reachable after a GC: ArrayBuffer
 * memory (`external`) and V8 heap per value. Node servers only for the heap
 * figures.
 */
async function measureMemory(server: ServerDef, sc: Scenario, s: Settings): Promise<Sample> {
  const srv = await startServer(server, sc, 'job', s);
  try {
    await sleep(300);
    const empty = server.heap ? await ask(srv, 'mem') : null;
    const rssBase = vmRssBytes(srv.proc.pid);
    const running = runMeasured(srv, jobArgs(sc, s), s);
    await sleep((s.warmupS + s.durationS / 2) * 1000);
    const live = server.heap && !srv.proc.exit ? await ask(srv, 'mem-live') : null;
    const rssLive = srv.proc.exit ? NaN : vmRssBytes(srv.proc.pid);
    const out = withCpuPerOp(numbers(await running, LOADGEN_KEYS));
    const peak = vmHwmBytes(srv.proc.pid);
    const after = server.heap ? await ask(srv, 'mem') : null;
    const rssAfter = vmRssBytes(srv.proc.pid);
    const MiB = 2 ** 20;
    Object.assign(out, { rssBase: rssBase / MiB, rssLoaded: rssLive / MiB, rssPeak: peak / MiB, rssAfter: rssAfter / MiB });
    if (live)
      Object.assign(out, {
        heapUsed: live.heapUsed! / MiB,
        heapTotal: live.heapTotal! / MiB,
        external: live.external! / MiB,
        arrayBuffers: live.arrayBuffers! / MiB,
      });
    if (after) Object.assign(out, { heapUsedGc: after.heapUsed! / MiB, externalGc: after.external! / MiB, arrayBuffersGc: after.arrayBuffers! / MiB });
    if (sc.keys) {
      const st = await ask(srv, 'jobstats');
      const keys = (s.quick ? sc.quickKeys : undefined) ?? sc.keys;
      if (st.keys !== keys) throw new Error(`${server.id} kept ${st.keys} values, expected ${keys} (too short a run for every key?)`);
      out.values = st.keys!;
      out.valueBytes = st.valueBytes!;
      out.rssPerValue = (rssAfter - rssBase) / st.keys;
      // what stays reachable per value after a GC: ArrayBuffer memory (the values, and the received bytes they pin) and heap objects
      if (after && empty) {
        out.externalPerValue = (after.external! - empty.external!) / st.keys;
        out.heapPerValue = (after.heapUsed! - empty.heapUsed!) / st.keys;
      }
    }
    return out;
  } finally {
    await srv.proc.stop();
  }
}

/** strace, or why it cannot run. */
export function straceMissing(): string | null {
  const r = spawnSync('strace', ['-V'], { encoding: 'utf8' });
  return r.error || r.status !== 0 ? 'strace is not installed (apt-get install strace)' : null;
}

/** The calls of an `strace -c` table by syscall name. */
export function parseStraceTable(text: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const line of text.split('\n')) {
    // % time  seconds  usecs/call  calls  [errors]  syscall
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m && m[3] !== 'total') calls[m[3]!] = Number(m[1]);
  }
  return calls;
}

const READS = ['read', 'readv', 'recvfrom', 'recvmsg'];
const WRITES = ['write', 'writev', 'sendto', 'sendmsg'];

/**
 * Syscalls per message: the scenario's load (bounded: its warm-up and
 * measured seconds) with `strace -c -f -p <server pid>` attached from before
 * the first connection to after the last answer; the calls of each kind ÷
 * every message of the run (`total`, warm-up included). For a DangaSocket
 * server also the crossings between JavaScript and the addon per message
 * (BENCH_COUNT_CROSSINGS=1, control channel `counts` before and after).
 * strace slows the server: the counts are the figure, not the time.
 */
async function measureSyscalls(server: ServerDef, sc: Scenario, s: Settings): Promise<Sample> {
  const count = server.heap === true && server.engine === 'epoll';
  const srv = await startServer(server, sc, sc.load === 'job' ? 'job' : sc.lines ? 'lines' : 'echo', s, [], count ? { BENCH_COUNT_CROSSINGS: '1' } : {});
  const table = join(mkdtempSync(join(tmpdir(), 'danga-strace-')), 'strace.txt');
  let strace: Proc | null = null;
  try {
    await sleep(200);
    const before = count ? await ask(srv, 'counts') : null;
    strace = new Proc('strace', ['strace', '-c', '-f', '-o', table, '-p', String(srv.proc.pid)], process.env, root);
    // attached once the traced process's threads show a tracer (TracerPid in /proc/PID/status)
    const deadline = Date.now() + 10_000;
    while (!/^TracerPid:\s+[1-9]/m.test(readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8'))) {
      if (strace.exit || Date.now() > deadline) throw new Error(`strace did not attach${strace.stderrHint()}`);
      await sleep(20);
    }
    await sleep(200);
    const args = sc.load === 'job' ? jobArgs(sc, s) : echoArgs(sc, 'echo');
    const r = await runMeasured(srv, args, s);
    const after = count ? await ask(srv, 'counts') : null;
    strace.child.kill('SIGINT');
    const exit = await strace.waitExit(10_000);
    if (!exit) throw new Error('strace did not end after SIGINT');
    const calls = parseStraceTable(readFileSync(table, 'utf8'));
    const total = Number(r.total);
    if (!(total > 0)) throw new Error(`no messages counted (${JSON.stringify(r)})`);
    const sum = (names: string[]): number => names.reduce((n, k) => n + (calls[k] ?? 0), 0);
    const out: Sample = {
      messages: total,
      readPerOp: sum(READS) / total,
      writePerOp: sum(WRITES) / total,
      epollCtlPerOp: (calls.epoll_ctl ?? 0) / total,
      epollWaitPerOp: sum(['epoll_wait', 'epoll_pwait', 'epoll_pwait2']) / total,
      otherPerOp:
        (Object.values(calls).reduce((a, b) => a + b, 0) - sum([...READS, ...WRITES, 'epoll_ctl', 'epoll_wait', 'epoll_pwait', 'epoll_pwait2'])) / total,
    };
    out.syscallsPerOp = out.readPerOp! + out.writePerOp! + out.epollCtlPerOp!;
    if (before && after) {
      let js = 0;
      for (const [k, v] of Object.entries(after)) if (k !== 'callback') js += v - (before[k] ?? 0);
      out.jsToCPerOp = js / total;
      out.cToJsPerOp = ((after.callback ?? 0) - (before.callback ?? 0)) / total;
      out.crossingsPerOp = out.jsToCPerOp + out.cToJsPerOp;
      // (The engine's hot path reads and writes through readIo/writeIo: counted with read and write.)
      const made = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
      out.readCallsPerOp = (made('read') + made('readIo')) / total;
      out.writeCallsPerOp = (made('write') + made('writeIo')) / total;
      for (const k of ['writev', 'ctl']) out[`${k}CallsPerOp`] = made(k) / total;
    }
    return out;
  } finally {
    if (strace && !strace.exit) await strace.stop(500);
    await srv.proc.stop();
    rmSync(dirname(table), { recursive: true, force: true });
  }
}
