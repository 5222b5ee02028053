/**
 * `npm run bench`: builds the C programs, runs every selected scenario on every
 * selected server (servers in alternation, `rounds` times), and writes
 * bench/results/latest.json, bench/results/ratios.svg and BENCHMARKS.md.
 * See bench/README.md.
 */
import { resolve } from 'node:path';
import { ON_REQUEST, SCENARIOS, type Scenario } from './scenarios.js';
import { BASELINE_ID, CEILING_ID, FILE_BASELINE_ID, FILE_CEILING_ID, SERVERS, baselineServers, type ServerDef } from './servers.js';
import { ensureBuilt } from './lib/build.js';
import { USAGE, parseArgs, type Options } from './lib/cli.js';
import { machine } from './lib/machine.js';
import { StartError, measure, straceMissing, type Settings } from './lib/measure.js';
import { detectPinning } from './lib/proc.js';
import { waitQuiet } from './lib/quiet.js';
import { LATEST, MD, SVG, fmt, gist, loadPrevious, merge, writeAll } from './lib/report.js';
import { DISTURBED, finalize, scalesFrom, type Results, type ScenarioResult, type ServerResult } from './lib/results.js';

/** start a measurement only when other processes use less than this many CPUs */
const QUIET = 0.15;

/** The job servers' scenarios are divided by the job server on Node net. */
const JOB_BASELINE_ID = 'net-job';

function selectScenarios(o: Options): Scenario[] {
  if (o.scenarios.length === 0) return SCENARIOS.filter((s) => (!o.quick || s.quick) && (o.syscalls || !ON_REQUEST.includes(s.kind)));
  const picked = new Set<Scenario>();
  for (const want of o.scenarios) {
    const hits = want === 'all' ? SCENARIOS : SCENARIOS.filter((s) => s.id === want || s.id.startsWith(`${want}-`));
    if (hits.length === 0) throw new Error(`no scenario "${want}" (see --list)`);
    hits.forEach((h) => picked.add(h));
  }
  return SCENARIOS.filter((s) => picked.has(s));
}

function allServers(o: Options): ServerDef[] {
  return o.baseline === null ? SERVERS : [...SERVERS, ...baselineServers(resolve(o.baseline))];
}

function selectServers(o: Options): ServerDef[] {
  const all = allServers(o);
  if (o.servers.length === 0) return all;
  for (const id of o.servers) if (!all.some((s) => s.id === id)) throw new Error(`no server "${id}" (see --list)`);
  // a baseline copy comes with the server it copies
  return all.filter((s) => o.servers.includes(s.id) || (s.baseOf !== undefined && o.servers.includes(s.baseOf)));
}

function list(o: Options): void {
  console.log('scenarios:');
  for (const s of SCENARIOS)
    console.log(`  ${s.id.padEnd(20)} ${s.title}${s.target ? `  [target ${s.target.text}]` : ''}${s.quick ? '' : '  (not in --quick)'}`);
  console.log('servers:');
  for (const s of allServers(o)) console.log(`  ${s.id.padEnd(20)} ${s.label} (${s.role}${s.timers ? `, timers: ${s.timers}` : ''})`);
}

const mmss = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private readonly t0 = Date.now();
  private done = 0;
  private spent = 0;
  constructor(private total: number) {}
  start(what: string): number {
    const elapsed = Date.now() - this.t0;
    const avg = this.done ? this.spent / this.done : 0;
    const left = this.done ? ` ~${mmss(avg * (this.total - this.done))} left` : '';
    const line = `[${String(this.done + 1).padStart(String(this.total).length)}/${this.total}] ${what}  ${mmss(elapsed)} elapsed${left}`;
    if (this.tty) process.stderr.write(`\r\x1b[K${line}`);
    else process.stderr.write(`${line}\n`);
    return Date.now();
  }
  finish(started: number, result: string): void {
    this.done++;
    this.spent += Date.now() - started;
    if (this.tty) process.stderr.write(`  ${result}`);
    else process.stderr.write(`      ${result}\n`);
  }
  skip(): void {
    this.total--;
  }
  log(msg: string): void {
    process.stderr.write(`${this.tty ? '\r\x1b[K' : ''}${msg}\n`);
  }
  end(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
    process.stderr.write(`finished in ${mmss(Date.now() - this.t0)}\n`);
  }
}

function briefResult(sc: Scenario, s: Record<string, number>): string {
  const v = s[sc.metric.key];
  const proxy = { metric: sc.metric } as ScenarioResult;
  let out =
    sc.metric.unit === 's'
      ? `${v?.toFixed(3)} CPU s/GiB`
      : `${fmt(proxy, v)} ${sc.metric.unit === '/s' || sc.metric.unit === 'µs' || sc.metric.unit === 'calls' ? sc.metric.label.replace(/^server CPU µs/, 'CPU') : ''}`.trim();
  if (sc.throughput && sc.throughput.key !== sc.metric.key && s[sc.throughput.key] !== undefined)
    out += `, ${fmt({ metric: sc.throughput } as ScenarioResult, s[sc.throughput.key])} ${sc.throughput.unit === '/s' ? sc.throughput.label : sc.throughput.unit}`;
  if (sc.kind === 'syscalls')
    out += ` (read ${s.readPerOp?.toFixed(3)}, write ${s.writePerOp?.toFixed(3)}, epoll_ctl ${s.epollCtlPerOp?.toFixed(3)}, epoll_wait ${s.epollWaitPerOp?.toFixed(3)}${s.crossingsPerOp !== undefined ? `; crossings ${s.jsToCPerOp?.toFixed(3)} JS→C, ${s.cToJsPerOp?.toFixed(3)} C→JS` : ''})`;
  if (sc.kind === 'memory')
    out += ` (RSS ${s.rssBase?.toFixed(1)} → ${s.rssLoaded?.toFixed(1)} MiB under load, after ${s.rssAfter?.toFixed(1)}; heap ${s.heapUsed?.toFixed(1) ?? '—'}, external ${s.external?.toFixed(1) ?? '—'} MiB${s.rssPerValue !== undefined ? `; ${Math.round(s.rssPerValue)} B RSS/value` : ''})`;
  if (s.p50 !== undefined) out += `, p50 ${s.p50.toFixed(0)} µs, p99 ${s.p99?.toFixed(0)} µs`;
  if (s.heapPerConn !== undefined) out += `, heap ${Math.round(s.heapPerConn)} B/conn`;
  if (sc.kind === 'file' && s.mibPerSec !== undefined && sc.metric.key !== 'mibPerSec' && sc.throughput?.key !== 'mibPerSec')
    out += `, ${Math.round(s.mibPerSec)} MiB/s`;
  if (s.cpuPerGiB !== undefined && sc.metric.key !== 'cpuPerGiB') out += `, ${s.cpuPerGiB.toFixed(3)} server CPU s/GiB`;
  if (sc.kind === 'workers')
    out += `, ${Math.round(s.rate ?? 0).toLocaleString('en-US')} round trips/s, ${s.switchesPerOp?.toFixed(3)} wake-ups/round trip, conns ${s.connsMax}/${s.connsMin}, bytes max÷min ${s.balanceBytes?.toFixed(2)}`;
  if (s.serverCpu !== undefined) out += ` (cpu: server ${Math.round(s.serverCpu * 100)}%, loadgen ${Math.round((s.loadgenCpu ?? 0) * 100)}%)`;
  if ((s.otherCpu ?? 0) > DISTURBED) out += ` [others used ${Math.round(s.otherCpu! * 100)}% CPU]`;
  return out;
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}`);
    return 64;
  }
  if (o.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (o.list) {
    list(o);
    return 0;
  }
  const scenarios = selectScenarios(o);
  const servers = selectServers(o);
  const rounds = o.rounds ?? (o.quick ? 1 : 3);
  const warmupS = o.warmupS ?? (o.quick ? 0.15 : 1);
  const durationS = o.durationS ?? (o.quick ? 0.4 : 3);
  const mach = machine();
  const pin = detectPinning(o.pin, o.cpus, mach.cores);
  const notes: string[] = [];
  if (!pin.enabled) notes.push(pin.note);
  if (rounds < 3 && !o.quick) notes.push(`only ${rounds} round(s) per scenario`);

  let loadgen: string;
  try {
    loadgen = ensureBuilt('loadgen', 'loadgen/loadgen.c');
  } catch (e) {
    process.stderr.write(`cannot build the load generator: ${(e as Error).message}\n`);
    return 1;
  }

  // the timer scenarios run the servers' timer implementations; the file scenarios the file servers, and only those
  // the job, memory and syscall scenarios name their servers
  const participants = (sc: Scenario): ServerDef[] =>
    servers.filter((s) =>
      sc.servers !== undefined
        ? sc.servers.includes(s.baseOf ?? s.id)
        : (s.only === undefined || s.only.includes(sc.id)) &&
          (sc.kind === 'timers'
            ? s.timers !== undefined
            : sc.kind === 'file'
              ? s.files === true
              : sc.kind === 'workers'
                ? s.workers !== undefined
                : s.files !== true && s.workers === undefined && s.job !== true),
    );
  // servers that cannot run here are skipped with a note; servers that fail to start are dropped from the rest of the run
  const unavailable = new Map<string, string>();
  for (const s of servers) {
    if (!scenarios.some((sc) => participants(sc).includes(s))) continue;
    const why = s.unavailable?.() ?? null;
    if (why) {
      unavailable.set(s.id, why);
      notes.push(`${s.label} skipped: ${why}`);
    }
  }
  // the syscall scenarios need strace: without it they are skipped, with a note
  const noStrace = scenarios.some((sc) => sc.kind === 'syscalls') ? straceMissing() : null;
  if (noStrace) notes.push(`syscall scenarios skipped: ${noStrace}`);
  const broken = new Map<string, string>();
  let busyStarts = 0;

  const runs = (sc: Scenario): number => (sc.kind === 'syscalls' && noStrace ? 0 : participants(sc).filter((s) => !unavailable.has(s.id)).length);
  const total = scenarios.reduce((n, sc) => n + (sc.kind === 'syscalls' ? 1 : rounds) * runs(sc), 0);
  const progress = new Progress(total);
  progress.log(
    `danga-socket bench: ${scenarios.length} scenarios × ${rounds} round(s), servers ${servers.map((s) => s.id).join(', ')}; ` +
      `${pin.note}; ${mach.cpuModel}, ${mach.cores} cores, Node ${mach.node}`,
  );
  for (const [id, why] of unavailable) progress.log(`  skipping ${id}: ${why}`);

  const startedAt = new Date().toISOString();
  const scRoundsOf = (sc: Scenario): number => (sc.kind === 'syscalls' ? 1 : rounds);
  const scenarioResults: ScenarioResult[] = [];
  for (const sc of scenarios) {
    const who = participants(sc);
    const results = new Map<string, ServerResult>(
      who.map((s) => [
        s.id,
        {
          id: s.id,
          label: sc.kind === 'timers' ? (s.timers === 'settimeout' ? 'Node setTimeout' : `${s.label} addTimer`) : s.label,
          role: s.role,
          status: unavailable.has(s.id) || (sc.kind === 'syscalls' && noStrace) ? 'skipped' : 'ok',
          ...(unavailable.has(s.id) ? { note: unavailable.get(s.id)! } : sc.kind === 'syscalls' && noStrace ? { note: noStrace } : {}),
          samples: [],
          summary: {},
          vsNet: {},
          vsC: {},
        },
      ]),
    );
    // the syscall counts hardly vary: one round
    const scRounds = sc.kind === 'syscalls' ? 1 : rounds;
    for (let round = 0; round < scRounds; round++) {
      for (const s of who) {
        const r = results.get(s.id)!;
        if (r.status !== 'ok') {
          if (r.status === 'failed') progress.skip();
          continue;
        }
        if (sc.kind !== 'timers' && broken.has(s.id)) {
          r.status = 'failed';
          r.note = `did not start earlier in this run: ${broken.get(s.id)}`;
          progress.skip();
          continue;
        }
        const settings: Settings = { pin, warmupS, durationS, quick: o.quick, loadgen, round };
        const level = await waitQuiet(o.quick ? 2_000 : 60_000, QUIET, o.quick ? 100 : 300, (l) =>
          progress.log(`  waiting for the machine to be quiet: other processes use ${Math.round(l * 100)}% of a CPU`),
        );
        if (level >= QUIET) {
          progress.log(`  still ${Math.round(level * 100)}% of a CPU in use by others; measuring anyway`);
          busyStarts++;
        }
        const t = progress.start(`${sc.id} · round ${round + 1}/${scRounds} · ${s.id}`);
        try {
          const sample = await measure(s, sc, settings);
          r.samples.push(sample);
          progress.finish(t, briefResult(sc, sample));
        } catch (e) {
          const msg = (e as Error).message;
          r.status = 'failed';
          r.note = msg;
          if (e instanceof StartError) broken.set(s.id, msg);
          progress.finish(t, 'FAILED');
          progress.log(`  ✗ ${s.label} failed in ${sc.id}: ${gist(msg)}`);
        }
      }
    }
    const params: Record<string, number> = {};
    if (sc.kind === 'timers') params.timers = sc.timers ?? 0;
    else if (sc.kind === 'stream') params.bytes = (o.quick ? sc.quickBytes : undefined) ?? sc.bytes ?? 0;
    else if (sc.kind === 'file') {
      params['file bytes'] = sc.fileBytes ?? 0;
      params.clients = sc.conns ?? 1;
    } else {
      params.connections = (sc.kind === 'idle' && o.quick ? sc.quickConns : undefined) ?? sc.conns ?? 0;
      if (sc.depth) params['in flight'] = sc.depth;
      if (sc.size) params[sc.kind === 'job' || sc.kind === 'memory' || sc.load === 'job' ? 'job data bytes' : 'message bytes'] = sc.size;
      if (sc.textEvery) params['a text line every'] = sc.textEvery;
      const keys = (o.quick ? sc.quickKeys : undefined) ?? sc.keys;
      if (keys) {
        params['distinct keys'] = keys;
        params['value bytes'] = sc.valueSize ?? 1024;
      }
    }
    const res: ScenarioResult = {
      id: sc.id,
      title: sc.title,
      kind: sc.kind,
      metric: sc.metric,
      ...(sc.throughput ? { throughput: sc.throughput } : {}),
      ...(sc.target ? { target: sc.target } : {}),
      ...(sc.serverTargets ? { serverTargets: sc.serverTargets } : {}),
      params,
      run: { date: startedAt, quick: o.quick, rounds: scRoundsOf(sc), warmupS, durationS, pinning: pin.note, node: mach.node },
      servers: [...results.values()],
    };
    if (sc.kind === 'file') finalize(res, FILE_BASELINE_ID, FILE_CEILING_ID);
    else finalize(res, who.some((s) => s.id === JOB_BASELINE_ID) ? JOB_BASELINE_ID : BASELINE_ID, CEILING_ID, scalesFrom(who));
    scenarioResults.push(res);
  }
  progress.end();

  for (const [id, why] of broken) notes.push(`${id} could not start: ${gist(why)}`);
  if (busyStarts) notes.push(`${busyStarts} measurement(s) started while other processes kept the machine busy (shared machine)`);
  const disturbed = scenarioResults.reduce((n, sc) => n + sc.servers.reduce((m, r) => m + (r.disturbed ?? 0), 0), 0);
  if (disturbed) notes.push(`${disturbed} round(s) had other processes using more than ${DISTURBED} CPU while measuring (marked §)`);
  const now: Results = {
    version: 1,
    generated: new Date().toISOString(),
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    machine: mach,
    pinning: pin.note,
    notes,
    scenarios: scenarioResults,
  };

  // summary on stdout
  for (const sc of scenarioResults) {
    console.log(`${sc.id}: ${sc.title}`);
    for (const r of sc.servers) {
      const med = r.summary[sc.metric.key];
      const line =
        r.status === 'ok' && med
          ? `${fmt(sc, med.median)} ${sc.metric.label} (min ${fmt(sc, med.min)}, max ${fmt(sc, med.max)})` +
            (sc.kind === 'workers'
              ? `  ${Math.round(r.summary.rate?.median ?? 0).toLocaleString('en-US')} round trips/s` +
                (r.scaling ? `  ×1 worker ${r.scaling.median.toFixed(2)} (rounds ${r.scaling.min.toFixed(2)}–${r.scaling.max.toFixed(2)})` : '') +
                `  balance ${r.summary.balanceConns?.median.toFixed(2) ?? '—'} (bytes ${r.summary.balanceBytes?.median.toFixed(2) ?? '—'})`
              : sc.kind === 'file'
                ? `  ×http ${r.vsNet[sc.metric.key]?.toFixed(2) ?? '—'}  ×nginx ${r.vsC[sc.metric.key]?.toFixed(2) ?? '—'}` +
                  `  CPU/GiB ${r.summary.cpuPerGiB?.median.toFixed(3) ?? '—'} s (×http ${r.vsNet.cpuPerGiB?.toFixed(2) ?? '—'})`
                : `  ×net ${r.vsNet[sc.metric.key]?.toFixed(2) ?? '—'}  ×C ${r.vsC[sc.metric.key]?.toFixed(2) ?? '—'}` +
                  (sc.throughput && sc.throughput.key !== sc.metric.key
                    ? `  ${fmt({ metric: sc.throughput } as ScenarioResult, r.summary[sc.throughput.key]?.median)} ${sc.throughput.label} (×net ${r.vsNet[sc.throughput.key]?.toFixed(2) ?? '—'})`
                    : '')) +
            (r.loadgenBound ? '  [loadgen-bound]' : '') +
            (r.disturbed ? `  [disturbed ×${r.disturbed}]` : '') +
            (r.target ? `  target: ${r.target.status}` : '')
          : `${r.status}${r.note ? `: ${r.note.split('\n')[0]}` : ''}`;
      console.log(`  ${r.label.padEnd(36)} ${r.status === 'ok' ? line : `${r.status}: ${gist(r.note ?? '')}`}`);
    }
  }
  if (o.write) {
    const merged = merge(o.fresh ? null : loadPrevious(), now);
    writeAll(merged);
    console.log(`\nwrote ${LATEST}\n      ${SVG}\n      ${MD}`);
  }
  return 0;
}

process.exitCode = await main();
