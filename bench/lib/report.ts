/** Writes bench/results/latest.json, bench/results/ratios.svg and BENCHMARKS.md. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCENARIOS } from '../scenarios.js';
import { BASELINE_ID, SERVERS } from '../servers.js';
import { resultsDir, root } from './paths.js';
import { DISTURBED, targetFor, type Results, type ScenarioResult, type ServerResult } from './results.js';

export const BEGIN = '<!-- bench:generated:begin — written by `npm run bench`; edits between these markers are lost -->';
export const END = '<!-- bench:generated:end -->';
const BEGIN_RE = /<!-- bench:generated:begin[^>]*-->/;

export const LATEST = join(resultsDir, 'latest.json');
export const SVG = join(resultsDir, 'ratios.svg');
export const MD = join(root, 'BENCHMARKS.md');

/** Earlier results, to merge this run's scenarios into. */
export function loadPrevious(): Results | null {
  if (!existsSync(LATEST)) return null;
  try {
    const r = JSON.parse(readFileSync(LATEST, 'utf8')) as Results;
    return r.version === 1 && Array.isArray(r.scenarios) ? r : null;
  } catch {
    return null;
  }
}

/** This run's scenarios replace the same ones in `prev`; the order follows SCENARIOS. */
export function merge(prev: Results | null, now: Results): Results {
  if (!prev) return now;
  const byId = new Map(prev.scenarios.map((s) => [s.id, s]));
  for (const s of now.scenarios) byId.set(s.id, s);
  const order = SCENARIOS.map((s) => s.id);
  const scenarios = [...byId.values()].sort((a, b) => rank(order, a.id) - rank(order, b.id));
  return { ...now, scenarios };
}

const rank = (order: string[], id: string): number => {
  const i = order.indexOf(id);
  return i < 0 ? order.length : i;
};

export function writeAll(results: Results): void {
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(LATEST, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(SVG, renderSvg(results));
  writeFileSync(MD, updateMarkdown(existsSync(MD) ? readFileSync(MD, 'utf8') : null, renderMarkdown(results)));
}

/* ------------------------------------------------------------ formatting */

const int = (v: number): string => Math.round(v).toLocaleString('en-US');

export function fmt(sc: ScenarioResult, v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  switch (sc.metric.unit) {
    case '/s':
      return int(v);
    case 'MiB/s':
      return int(v);
    case 'B':
      return `${int(v)} B`;
    case 'ns':
      return v >= 100 ? `${int(v)} ns` : `${v.toFixed(1)} ns`;
    case '%':
      return `${v.toFixed(2)}%`;
    case 'µs':
      return `${v.toFixed(2)} µs`;
    case 's':
      return `${v.toFixed(3)} s`;
    case 'MiB':
      return `${v.toFixed(1)} MiB`;
    case 'calls':
      return v.toFixed(3);
    default:
      return String(v);
  }
}

const ratio = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : `${x.toFixed(2)}×`);
const us = (v: number | undefined): string => (v === undefined ? '—' : v >= 100 ? int(v) : v.toFixed(1));
const pct = (v: number | undefined): string => (v === undefined ? '—' : `${Math.round(v * 100)}%`);
const bytes = (v: number | undefined): string => (v === undefined ? '—' : `${int(v)} B`);
const cpuGiB = (v: number | undefined): string => (v === undefined ? '—' : v.toFixed(3));
const mib = (v: number | undefined): string => (v === undefined ? '—' : `${(v / 2 ** 20).toFixed(1)} MiB`);
const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n+/g, ' ');
/** The first line of a failure plus the line naming the error, when the rest is a stack trace. */
export function gist(note: string): string {
  const lines = note
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const first = (lines[0] ?? '').replace(/:$/, '');
  const err = lines.find((l) => /^([A-Za-z]*Error|error)\b[:\s]/.test(l));
  return err && err !== lines[0] ? `${first}: ${err}` : lines.slice(0, 3).join(' ');
}

const short = (s: string, n = 160): string => {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? one.slice(0, n - 1) + '…' : one;
};

const FOOTNOTES =
  "‡ the load generator was at ≥90% of a CPU while the server was below 85%: the figure is the generator's limit, a lower bound for the server. " +
  `§ other processes used more than ${DISTURBED} CPU during some rounds (shared machine); the median may be low.`;

function marks(r: ServerResult): string {
  return (r.loadgenBound ? ' ‡' : '') + (r.disturbed ? ` §${r.disturbed > 1 ? `×${r.disturbed}` : ''}` : '');
}

function statusCell(r: ServerResult): string {
  if (!r.target) return '';
  if (r.target.status === 'met') return '✅ met';
  if (r.target.status === 'missed') return '❌ missed';
  return '— no data';
}

/* ------------------------------------------------------------ markdown */

function renderMarkdown(res: Results): string {
  const m = res.machine;
  const out: string[] = [];
  const subjects = SERVERS.filter((s) => s.role === 'subject');
  const dates = [...new Set(res.scenarios.map((s) => s.run.date.slice(0, 16).replace('T', ' ')))];
  const quick = res.scenarios.some((s) => s.run.quick);
  out.push(BEGIN, '');
  out.push(`_Generated by \`npm run bench\` — last run ${res.generated.slice(0, 16).replace('T', ' ')} UTC (\`${res.command}\`)._`);
  if (quick)
    out.push('', '> **Some scenarios below come from a `--quick` run** (1 round, 0.4 s measured, smaller sizes): smoke-test figures, not for quoting.');
  if (dates.length > 1)
    out.push('', `Scenarios were measured in more than one run (${dates.join(', ')} UTC); each scenario's servers were always measured together.`);
  out.push('', '## Machine', '');
  out.push('| | |', '|---|---|');
  out.push(`| CPU | ${esc(m.cpuModel)} |`);
  out.push(`| Cores | ${m.cores} |`);
  out.push(`| Memory | ${m.memoryGiB} GiB |`);
  out.push(`| Node | ${m.node} |`);
  out.push(`| Kernel | ${esc(m.kernel)} |`);
  out.push(`| OS | ${esc(m.os)} |`);
  out.push(`| C compiler | ${esc(m.cc ?? 'not found')} (\`-O2\`) |`);
  out.push(`| Perl | ${esc(m.perl ?? 'Danga::Socket not installed')} |`);
  out.push(`| Pinning | ${esc(res.pinning)} |`);

  // summary: the servers of the echo-shaped scenarios, in SERVERS order, then the baseline copies (--baseline)
  const SPECIAL: ScenarioResult['kind'][] = ['file', 'workers', 'readsize', 'job', 'memory', 'syscalls'];
  const cols = columns(res, (sc) => !SPECIAL.includes(sc.kind)).sort((a, b) => Number(b.id === BASELINE_ID) - Number(a.id === BASELINE_ID));
  out.push('', '## Summary', '');
  out.push(
    "Medians. The figure is the server's CPU per operation (CPU time from /proc over the measured window ÷ the operations in it; lower is better), which a saturated load generator cannot hide; the throughput is shown beside it. Node net shows its own figures; every other server shows its figures divided by Node net's, measured in the same run (for timers, Node's `setTimeout`): `CPU 0.80× · 1.30× rt/s` is 0.8 of net's CPU per round trip at 1.3 times its rate. For memory and timer cost, lower is better.",
    '',
  );
  const head = [
    'Scenario',
    'Figure',
    ...cols.map((s) => (s.id === BASELINE_ID ? `${s.label}` : `${s.label} ×net`)),
    'Target',
    ...subjects.filter((s) => cols.some((c) => c.id === s.id)).map((s) => `${s.label}: target`),
  ];
  out.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  for (const sc of res.scenarios.filter((x) => !SPECIAL.includes(x.kind))) {
    const cells = [`[${sc.id}](#${sc.id})`, sc.metric.label];
    for (const s of cols) {
      const r = sc.servers.find((x) => x.id === s.id);
      if (!r) cells.push('—');
      else if (r.status === 'skipped') cells.push('skipped');
      else if (r.status === 'failed') cells.push('failed');
      else if (s.id === BASELINE_ID) cells.push(fmt(sc, r.summary[sc.metric.key]?.median) + throughputCell(sc, r));
      else {
        let c = ratio(r.vsNet[sc.metric.key]) + throughputCell(sc, r, true);
        if (r.role === 'subject' && sc.target?.vsC !== undefined) c += ` (${ratio(r.vsC[sc.metric.key])} C)`;
        if (r.role === 'subject' && sc.target?.maxValue !== undefined) c += ` (${fmt(sc, r.summary[sc.metric.key]?.median)})`;
        c += marks(r);
        cells.push(c);
      }
    }
    const own = Object.entries(sc.serverTargets ?? {})
      .filter(([, t]) => t !== null)
      .map(([id, t]) => `${sc.servers.find((r) => r.id === id)?.label ?? id}: ${t!.text}`);
    cells.push([sc.target?.text ?? '—', ...own].join('; '));
    for (const s of subjects.filter((x) => cols.some((c) => c.id === x.id))) {
      const r = sc.servers.find((x) => x.id === s.id);
      cells.push(!r ? '—' : r.status !== 'ok' ? r.status : statusCell(r) || '—');
    }
    out.push(`| ${cells.map(esc).join(' | ')} |`);
  }
  out.push(...fileSummary(res));
  out.push(...jobSummary(res));
  out.push(...memorySummary(res));
  out.push(...syscallSummary(res));
  out.push(...workersSummary(res));
  out.push(...readsizeSummary(res));
  out.push('', FOOTNOTES);
  out.push('', '![Ratios to Node net](bench/results/ratios.svg)');

  // details
  out.push('', '## Details', '');
  for (const sc of res.scenarios) {
    out.push(`### ${sc.id}`, '', `${sc.title}. ${describeRun(sc)}`, '');
    out.push(...detailTable(sc), '');
    const notes = sc.servers.filter((r) => r.status !== 'ok' && r.note);
    for (const r of notes) out.push(`- ${r.label}: ${r.status} — ${esc(short(gist(r.note!), 400))}`);
    for (const r of sc.servers)
      if (r.target && r.target.status !== 'no data')
        out.push(`- ${r.label} vs target (${r.target.text ?? sc.target?.text}): ${r.target.status} — ${r.target.detail}`);
    if (notes.length || sc.servers.some((r) => r.target)) out.push('');
  }

  if (res.notes.length) {
    out.push('## Notes from the last run', '');
    for (const n of res.notes) out.push(`- ${esc(n)}`);
    out.push('');
  }
  out.push(...method(), '', END);
  return out.join('\n');
}

/** The servers (id, label, role) with a result in the scenarios `which` picks: SERVERS order, then the others (baseline copies). */
function columns(res: Results, which: (sc: ScenarioResult) => boolean): { id: string; label: string; role: string }[] {
  const seen = new Map<string, { id: string; label: string; role: string }>();
  for (const sc of res.scenarios.filter(which)) for (const r of sc.servers) if (!seen.has(r.id)) seen.set(r.id, { id: r.id, label: r.label, role: r.role });
  const order = SERVERS.map((s) => s.id);
  const rankOf = (id: string): number => {
    const i = order.indexOf(id);
    const j = order.indexOf(id.replace(/-base$/, ''));
    return i >= 0 ? i * 2 : j >= 0 ? j * 2 + 1 : order.length * 2;
  };
  return [...seen.values()].sort((a, b) => rankOf(a.id) - rankOf(b.id));
}

/** " · 95,000 rt/s" beside the figure (`asRatio`: " · 1.30× rt/s", the throughput ÷ net's). */
function throughputCell(sc: ScenarioResult, r: ServerResult, asRatio = false): string {
  const t = sc.throughput ?? SCENARIOS.find((x) => x.id === sc.id)?.throughput;
  if (!t || t.key === sc.metric.key) return '';
  const unit = t.label.replace(/^round trips\/s$/, 'rt/s');
  if (asRatio) return r.vsNet[t.key] === undefined ? '' : ` · ${ratio(r.vsNet[t.key])} ${unit}`;
  const v = r.summary[t.key]?.median;
  return v === undefined ? '' : ` · ${t.unit === '/s' ? int(v) : int(v)} ${unit}`;
}

/** The job-server scenarios: CPU per message on the same protocol, Node net (hand-written framing) the denominator. */
function jobSummary(res: Results): string[] {
  const all = res.scenarios.filter((sc) => sc.kind === 'job');
  if (all.length === 0) return [];
  const out = [
    '',
    "Job server (`job-*`): the same Gearman-shaped protocol (binary packets and text admin lines on one connection, pipelined) on Node net with hand-written framing (the denominator), on the library's framing helpers (`peek`, `readExact`, `readLine`) on each engine (in job-50 also on the epoll engine with `peekByte` in place of `peek(1)`), and (`--baseline`) on a baseline checkout's library. Server CPU µs per message (÷ net's), messages/s (÷ net's).",
    '',
    '| Scenario | Server | CPU µs/message | ×net | messages/s | ×net | Target | Status |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const sc of all)
    for (const r of sc.servers) {
      if (r.status !== 'ok') {
        out.push(`| [${sc.id}](#${sc.id}) | ${esc(r.label)} | ${r.status} | | | | | |`);
        continue;
      }
      const t = targetFor(sc, r);
      out.push(
        `| [${sc.id}](#${sc.id}) | ${esc(r.label)} | ${fmt(sc, r.summary.cpuPerOp?.median)}${marks(r)} | ${ratio(r.vsNet.cpuPerOp)} | ${int(r.summary.rate?.median ?? NaN)} | ${ratio(r.vsNet.rate)} | ${r.role === 'subject' && t ? esc(t.text) : '—'} | ${statusCell(r) || '—'} |`,
      );
    }
  return out;
}

/** The memory scenarios: RSS (before, under load, peak, after), the heap under load and after a GC, per kept value. */
function memorySummary(res: Results): string[] {
  const all = res.scenarios.filter((sc) => sc.kind === 'memory');
  if (all.length === 0) return [];
  const m = (r: ServerResult, k: string): string => {
    const v = r.summary[k]?.median;
    return v === undefined ? '—' : v.toFixed(1);
  };
  const out = [
    '',
    'Memory under load (`memory-*`), MiB (medians): RSS of the empty server, in the middle of the load, its peak (VmHWM) and after the load; the V8 heap (`heapUsed`), `external` and `arrayBuffers` as the load leaves them (no GC) and `external` after a full GC. `memory-keep-1k` also gives the RSS the kept values added per value (1 KiB each) and, of it, what a GC leaves reachable per value: ArrayBuffer memory (`external`: the value and the received bytes it pins) and V8 heap (the Buffer object, the Map entry, the key).',
    '',
    '| Scenario | Server | RSS empty | under load | peak | after | heapUsed | external | arrayBuffers | external after GC | RSS B/kept value (external, heap) | Status |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const sc of all)
    for (const r of sc.servers) {
      if (r.status !== 'ok') {
        out.push(`| [${sc.id}](#${sc.id}) | ${esc(r.label)} | ${r.status} |${' |'.repeat(9)}`);
        continue;
      }
      const cells = [
        `[${sc.id}](#${sc.id})`,
        r.label,
        m(r, 'rssBase'),
        m(r, 'rssLoaded'),
        m(r, 'rssPeak') + marks(r),
        m(r, 'rssAfter'),
        m(r, 'heapUsed'),
        m(r, 'external'),
        m(r, 'arrayBuffers'),
        m(r, 'externalGc'),
        r.summary.rssPerValue
          ? `${int(r.summary.rssPerValue.median)}${r.summary.externalPerValue ? ` (${int(r.summary.externalPerValue.median)}, ${int(r.summary.heapPerValue?.median ?? NaN)})` : ''}`
          : '—',
        statusCell(r) || '—',
      ];
      out.push(`| ${cells.map(esc).join(' | ')} |`);
    }
  return out;
}

/** The syscall scenarios: calls per message by kind (strace -c), and the epoll engine's crossings per message. */
function syscallSummary(res: Results): string[] {
  const all = res.scenarios.filter((sc) => sc.kind === 'syscalls');
  if (all.length === 0) return [];
  const f = (r: ServerResult, k: string): string => (r.summary[k] === undefined ? '—' : r.summary[k].median.toFixed(3));
  const out = [
    '',
    "Syscalls per message (`syscalls-*`, `--syscalls`): `strace -c -f` attached to the server for the whole load, each kind's calls ÷ every message answered (warm-up included; `read` counts read/readv/recvfrom/recvmsg, `write` write/writev/sendto/sendmsg). The target is the C server's read+write+epoll_ctl per message. Crossings (epoll engine only): calls from JavaScript into the addon and from the addon's event callback into JavaScript, per message (`BENCH_COUNT_CROSSINGS=1`); of them `read()`, `write()`+`writev()`.",
    '',
    '| Scenario | Server | read | write | epoll_ctl | epoll_wait | other | read+write+ctl (×C) | JS→C (read, write) | C→JS | Status |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const sc of all)
    for (const r of sc.servers) {
      if (r.status !== 'ok') {
        out.push(`| [${sc.id}](#${sc.id}) | ${esc(r.label)} | ${r.status}: ${esc(short(gist(r.note ?? ''), 80))} |${' |'.repeat(8)}`);
        continue;
      }
      const js =
        r.summary.jsToCPerOp === undefined
          ? '—'
          : `${f(r, 'jsToCPerOp')} (${f(r, 'readCallsPerOp')}, ${((r.summary.writeCallsPerOp?.median ?? 0) + (r.summary.writevCallsPerOp?.median ?? 0)).toFixed(3)})`;
      const cells = [
        `[${sc.id}](#${sc.id})`,
        r.label,
        f(r, 'readPerOp'),
        f(r, 'writePerOp'),
        f(r, 'epollCtlPerOp'),
        f(r, 'epollWaitPerOp'),
        f(r, 'otherPerOp'),
        `${f(r, 'syscallsPerOp')} (${ratio(r.vsC.syscallsPerOp)})`,
        js,
        f(r, 'cToJsPerOp'),
        statusCell(r) || '—',
      ];
      out.push(`| ${cells.map(esc).join(' | ')} |`);
    }
  return out;
}

/** The workers scenarios: per kind of server, CPU per round trip on 1 and 2 workers and their ratio (same round). */
function workersSummary(res: Results): string[] {
  const all = res.scenarios.filter((sc) => sc.kind === 'workers');
  if (all.length === 0) return [];
  const out = [
    '',
    'Every core (`workers`): server CPU µs per round trip (all threads and processes of the server) on 1 worker and on 2; the ratio 2 ÷ 1 is taken round by round (median, and min–max over the rounds). Flat (1.0) is linear scaling. Balance: the connections accepted by the busiest and by the idlest worker (medians), and the max ÷ min of the bytes the workers read.',
    '',
    '| Scenario | Server | CPU µs/round trip, 1 worker | 2 workers | 2 ÷ 1 (rounds) | round trips/s 1 → 2 | balance conns (bytes) | Target |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const sc of all) {
    for (const r of sc.servers.filter((x) => x.status === 'ok' && x.scaling)) {
      const one = sc.servers.find((x) => x.id === r.scaling!.of);
      const rate = (x: ServerResult | undefined): string => fmt({ metric: { unit: '/s' } } as ScenarioResult, x?.summary.rate?.median);
      const cells = [
        `[${sc.id}](#${sc.id})`,
        r.label,
        `${fmt(sc, one?.summary[sc.metric.key]?.median)}${one ? marks(one) : ''}`,
        `${fmt(sc, r.summary[sc.metric.key]?.median)}${marks(r)}`,
        `${ratio(r.scaling!.median)} (${r.scaling!.min.toFixed(2)}–${r.scaling!.max.toFixed(2)})`,
        `${rate(one)} → ${rate(r)}`,
        `${balanceCell(r)}`,
        r.target ? `${r.target.text ?? ''}: ${statusCell(r)}` : '—',
      ];
      out.push(`| ${cells.map(esc).join(' | ')} |`);
    }
  }
  const left = all.flatMap((sc) => sc.servers.filter((x) => x.status !== 'ok').map((r) => `${r.label}: ${r.status}, ${short(gist(r.note ?? ''), 120)}`));
  if (left.length) out.push('', `Not measured: ${esc(left.join('; '))}.`);
  return out;
}

/** The readsize scenarios: CPU per round trip with read(4096) and read(1 << 20), and their ratio (same round), this tree's library and the baseline's. */
function readsizeSummary(res: Results): string[] {
  const all = res.scenarios.filter((sc) => sc.kind === 'readsize');
  if (all.length === 0) return [];
  const out = [
    '',
    "read(n) costs what arrived (`readsize-*`): the same echo on the epoll engine asking `read()` for 4096 bytes and for 1 MiB per event, server CPU µs per round trip; the ratio 1 MiB ÷ 4 KiB is taken round by round (median, and min–max over the rounds). Flat (1.0): the cost follows the bytes that arrived, not `n`. With `--baseline`, the baseline library's pair beside this tree's.",
    '',
    '| Scenario | Server | CPU µs/round trip, read(4096) | read(1 << 20) | 1 MiB ÷ 4 KiB (rounds) | round trips/s 4 KiB → 1 MiB | Target |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const sc of all) {
    for (const r of sc.servers.filter((x) => x.status === 'ok' && x.scaling)) {
      const small = sc.servers.find((x) => x.id === r.scaling!.of);
      const rate = (x: ServerResult | undefined): string => fmt({ metric: { unit: '/s' } } as ScenarioResult, x?.summary.rate?.median);
      const cells = [
        `[${sc.id}](#${sc.id})`,
        r.label,
        `${fmt(sc, small?.summary[sc.metric.key]?.median)}${small ? marks(small) : ''}`,
        `${fmt(sc, r.summary[sc.metric.key]?.median)}${marks(r)}`,
        `${ratio(r.scaling!.median)} (${r.scaling!.min.toFixed(2)}–${r.scaling!.max.toFixed(2)})`,
        `${rate(small)} → ${rate(r)}`,
        r.target ? `${r.target.text ?? ''}: ${statusCell(r)}` : '—',
      ];
      out.push(`| ${cells.map(esc).join(' | ')} |`);
    }
  }
  const left = all.flatMap((sc) => sc.servers.filter((x) => x.status !== 'ok').map((r) => `${r.label}: ${r.status}, ${short(gist(r.note ?? ''), 120)}`));
  if (left.length) out.push('', `Not measured: ${esc(left.join('; '))}.`);
  return out;
}

/** "25/25 (1.02)": the connections of the busiest and the idlest worker, and the bytes' max ÷ min. */
function balanceCell(r: ServerResult): string {
  const mx = r.summary.connsMax?.median;
  const mn = r.summary.connsMin?.median;
  if (mx === undefined || mn === undefined) return '—';
  const b = r.summary.balanceBytes;
  return `${Math.round(mx)}/${Math.round(mn)} (${b ? b.median.toFixed(2) : 'n/a'})`;
}

/** The file scenarios: their own denominators (Node http, nginx) and server CPU per GiB. */
function fileSummary(res: Results): string[] {
  const files = res.scenarios.filter((sc) => sc.kind === 'file');
  if (files.length === 0) return [];
  const out = [
    '',
    'Static files (`file-*`): Node http + `fs.createReadStream().pipe(res)` shows its figure, the others their figure ÷ its figure (and ÷ nginx for DangaSocket); server CPU seconds per GiB of bodies served, with the ratio to Node http.',
    '',
    '| Scenario | Figure | Node http | DangaSocket ×http (×nginx) | nginx ×http | CPU s/GiB: Node http · DangaSocket (×http) · nginx | Target | DangaSocket: target |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const sc of files) {
    const by = (id: string): ServerResult | undefined => sc.servers.find((r) => r.id === id && r.status === 'ok');
    const [http, danga, ngx, base] = [by('node-http'), by('danga-static'), by('nginx'), by('danga-static-base')];
    const k = sc.metric.key;
    const nginxCell = sc.servers.find((r) => r.id === 'nginx')?.status === 'skipped' ? 'skipped' : ratio(ngx?.vsNet[k]) + (ngx ? marks(ngx) : '');
    const cells = [
      `[${sc.id}](#${sc.id})`,
      sc.metric.label,
      fmt(sc, http?.summary[k]?.median) + (http ? marks(http) : ''),
      (danga ? `${ratio(danga.vsNet[k])} (${ratio(danga.vsC[k])})${marks(danga)}` : '—') +
        (base ? `; baseline ${ratio(base.vsNet[k])} (${ratio(base.vsC[k])})${marks(base)}` : ''),
      nginxCell,
      `${cpuGiB(http?.summary.cpuPerGiB?.median)} · ${cpuGiB(danga?.summary.cpuPerGiB?.median)} (${ratio(danga?.vsNet.cpuPerGiB)}) · ${cpuGiB(ngx?.summary.cpuPerGiB?.median)}`,
      sc.target?.text ?? '—',
      danga ? statusCell(danga) || '—' : '—',
    ];
    out.push(`| ${cells.map(esc).join(' | ')} |`);
  }
  return out;
}

function describeRun(sc: ScenarioResult): string {
  const r = sc.run;
  const timing =
    sc.kind === 'echo' || sc.kind === 'churn' || sc.kind === 'workers' || sc.kind === 'readsize'
      ? `, ${r.warmupS} s warm-up then ${r.durationS} s measured`
      : '';
  const params = Object.entries(sc.params)
    .map(([k, v]) => `${k} ${int(v)}`)
    .join(', ');
  return `${r.rounds} round${r.rounds === 1 ? '' : 's'}${timing}${r.quick ? ' (--quick)' : ''}; ${params}; ${r.date.slice(0, 16).replace('T', ' ')} UTC.`;
}

function detailTable(sc: ScenarioResult): string[] {
  const k = sc.metric.key;
  type Col = [string, (r: ServerResult) => string];
  const file = sc.kind === 'file';
  const base: Col[] = [
    ['Server', (r) => r.label],
    [`${sc.metric.label} (median)`, (r) => fmt(sc, r.summary[k]?.median) + marks(r)],
    ['min – max', (r) => `${fmt(sc, r.summary[k]?.min)} – ${fmt(sc, r.summary[k]?.max)}`],
    [sc.kind === 'timers' ? '×setTimeout' : file ? '×Node http' : '×net', (r) => ratio(r.vsNet[k])],
  ];
  if (sc.kind !== 'timers') base.push([file ? '×nginx' : '×C', (r) => ratio(r.vsC[k])]);
  const tm = sc.throughput ?? SCENARIOS.find((x) => x.id === sc.id)?.throughput;
  const thr: Col[] =
    tm && tm.key !== k
      ? [
          [
            `${tm.label} (${file ? '×Node http' : '×net'})`,
            (r) => `${fmt({ metric: tm } as ScenarioResult, r.summary[tm.key]?.median)} (${ratio(r.vsNet[tm.key])})`,
          ],
        ]
      : [];
  const lat: Col[] = [
    [`p50 µs (${file ? '×Node http' : '×net'})`, (r) => `${us(r.summary.p50?.median)} (${ratio(r.vsNet.p50)})`],
    [`p99 µs (${file ? '×Node http' : '×net'})`, (r) => `${us(r.summary.p99?.median)} (${ratio(r.vsNet.p99)})`],
  ];
  const cpu: Col[] = [
    ['server CPU', (r) => pct(r.summary.serverCpu?.median)],
    ['loadgen CPU', (r) => pct(r.summary.loadgenCpu?.median)],
    ['others CPU', (r) => pct(r.summary.otherCpu?.median)],
  ];
  let cols: Col[];
  switch (sc.kind) {
    case 'echo':
    case 'churn':
    case 'job':
      cols = [...base, ...thr, ...lat, ...cpu];
      break;
    case 'memory':
      cols = [
        ...base,
        ...thr,
        ['RSS empty · under load · after (MiB)', (r) => ['rssBase', 'rssLoaded', 'rssAfter'].map((x) => r.summary[x]?.median.toFixed(1) ?? '—').join(' · ')],
        [
          'heapUsed · external · arrayBuffers under load (MiB)',
          (r) => ['heapUsed', 'external', 'arrayBuffers'].map((x) => r.summary[x]?.median.toFixed(1) ?? '—').join(' · '),
        ],
        ['heapUsed · external after GC (MiB)', (r) => ['heapUsedGc', 'externalGc'].map((x) => r.summary[x]?.median.toFixed(1) ?? '—').join(' · ')],
        ['values kept', (r) => (r.summary.values ? int(r.summary.values.median) : '—')],
        ...cpu,
      ];
      break;
    case 'syscalls':
      cols = [
        ...base,
        ['messages traced', (r) => (r.summary.messages ? int(r.summary.messages.median) : '—')],
        [
          'read · write · epoll_ctl · epoll_wait · other',
          (r) => ['readPerOp', 'writePerOp', 'epollCtlPerOp', 'epollWaitPerOp', 'otherPerOp'].map((x) => r.summary[x]?.median.toFixed(3) ?? '—').join(' · '),
        ],
        [
          'crossings JS→C · C→JS',
          (r) => (r.summary.jsToCPerOp ? `${r.summary.jsToCPerOp.median.toFixed(3)} · ${r.summary.cToJsPerOp?.median.toFixed(3)}` : '—'),
        ],
      ];
      break;
    case 'stream':
      cols = [...base, ...thr, ['seconds', (r) => (r.summary.seconds ? r.summary.seconds.median.toFixed(2) : '—')], ...cpu];
      break;
    case 'idle':
      cols = [
        ...base,
        ...(sc.metric.key === 'idleCpuPct' ? [['RSS B/conn', (r: ServerResult): string => bytes(r.summary.rssPerConn?.median)] as Col] : []),
        ['V8 heap B/conn (×net)', (r) => (r.summary.heapPerConn ? `${bytes(r.summary.heapPerConn.median)} (${ratio(r.vsNet.heapPerConn)})` : 'n/a')],
        ['RSS empty', (r) => mib(r.summary.rssBase?.median)],
        ['RSS loaded', (r) => mib(r.summary.rssLoaded?.median)],
      ];
      break;
    case 'file':
      cols = [
        ...base,
        ...thr,
        ...(tm?.key === 'mibPerSec'
          ? []
          : [['MiB/s', (r: ServerResult): string => fmt({ metric: { unit: 'MiB/s' } } as ScenarioResult, r.summary.mibPerSec?.median)] as Col]),
        ...(k === 'cpuPerGiB'
          ? []
          : [['server CPU s/GiB (×Node http)', (r: ServerResult): string => `${cpuGiB(r.summary.cpuPerGiB?.median)} (${ratio(r.vsNet.cpuPerGiB)})`] as Col]),
        ...(k === 'cpuPerGiB' ? [] : lat),
        ...cpu,
      ];
      break;
    case 'workers':
      cols = [
        base[0]!,
        base[1]!,
        base[2]!,
        [
          '÷ 1 worker, same round: median (min–max)',
          (r) => (r.scaling ? `${ratio(r.scaling.median)} (${r.scaling.min.toFixed(2)}–${r.scaling.max.toFixed(2)})` : '—'),
        ],
        ['round trips/s', (r) => fmt({ metric: { unit: '/s' } } as ScenarioResult, r.summary.rate?.median)],
        ['conns per worker max/min (bytes max÷min)', balanceCell],
        ['server wake-ups/round trip', (r) => (r.summary.switchesPerOp ? r.summary.switchesPerOp.median.toFixed(3) : '—')],
        ['p50 µs', (r) => us(r.summary.p50?.median)],
        ['p99 µs', (r) => us(r.summary.p99?.median)],
        ...cpu,
      ];
      break;
    case 'readsize':
      cols = [
        base[0]!,
        base[1]!,
        base[2]!,
        [
          '÷ read(4096), same round: median (min–max)',
          (r) => (r.scaling ? `${ratio(r.scaling.median)} (${r.scaling.min.toFixed(2)}–${r.scaling.max.toFixed(2)})` : '—'),
        ],
        ['round trips/s', (r) => fmt({ metric: { unit: '/s' } } as ScenarioResult, r.summary.rate?.median)],
        ['p50 µs', (r) => us(r.summary.p50?.median)],
        ['p99 µs', (r) => us(r.summary.p99?.median)],
        ...cpu,
      ];
      break;
    case 'timers':
      cols = [
        ...base,
        ['wall s', (r) => (r.summary.wallS ? r.summary.wallS.median.toFixed(2) : '—')],
        ['add(+cancel) s', (r) => (r.summary.addS ? r.summary.addS.median.toFixed(3) : '—')],
      ];
      break;
  }
  const lines = [`| ${cols.map((c) => c[0]).join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`];
  for (const r of sc.servers) {
    if (r.status !== 'ok') {
      lines.push(`| ${esc(r.label)} | ${r.status} (see below) |${' |'.repeat(cols.length - 2)}`);
      continue;
    }
    lines.push(`| ${cols.map((c) => esc(c[1](r))).join(' | ')} |`);
  }
  return lines;
}

function method(): string[] {
  return [
    '## Method',
    '',
    '- `npm run bench` (see `bench/README.md`). Each server runs in its own process, started fresh for every measurement, and is driven by `bench/loadgen/loadgen.c` (single-threaded epoll, compiled on demand with `cc -O2`) in another process. With two or more CPUs the load generator and the server are pinned to different CPUs with `taskset`.',
    '- Servers are measured in alternation (A B C … A B C …), for the given number of rounds; tables show the median with min and max over the rounds.',
    "- **The figure of every load scenario is the server's CPU per operation**: the server's CPU time (all its threads, from /proc/PID/stat, sampled by the load generator at the start and the end of the measured window) divided by the operations completed in the window — µs per round trip, message, connection or request, CPU seconds per GiB for the streams and the 1 GiB file. A saturated load generator cannot hide a server's cost in it, as it can in throughput, which is shown beside it. Targets are stated in those terms (`≤0.63× net CPU/op` for what was `≥1.6× net` throughput). Results of earlier runs, still in `latest.json`, may carry throughput as their figure.",
    "- Ratios divide a server's median by Node net's (×net) and by the C ceiling's (×C) median from the same run. The C ceiling is a minimal single-threaded epoll echo server.",
    "- Echo scenarios keep N connections with D messages in flight each; a round trip completes when a message's bytes are back; latency runs from the write that sent a message to the read that completed it. Counting starts after the warm-up. Echoed bytes are checked.",
    '- Stream: one connection writes the bytes and shuts down its write side; the server, in sink mode, reads and discards and answers the byte count at end of stream; time runs from the first write to the answer.',
    "- Churn: 50 clients at a time connect, send 64 B, read them back and close. Clients close with a reset (SO_LINGER 0): orderly closes at ~25k/s fill the kernel's TIME_WAIT table (131,072) within seconds, which halves the rate of whichever server is measured next and keeps the kernel reaping for 60 s. Servers therefore see ECONNRESET instead of end of stream.",
    '- Idle: memory of the empty server (after a full GC for Node servers, `--expose-gc`), then of the server holding the connections after one 64 B echo on each; the difference divided by the connection count. RSS is VmRSS from /proc/PID/status (kernel socket buffers are not in it); V8 heap is `heapUsed` reported by the server on its control channel.',
    "- Idle timeouts: `idle-timeout` is pingpong-50 with `DANGA_IDLE_TIMEOUT=30` in the servers' environment: DangaSocket calls `setIdleTimeout(30)` on each connection, Node net `socket.setTimeout(30 s)`, the C and Perl servers have none. `idle-timeout-15000` holds 15,000 idle connections with a 1 h timeout and measures the server's CPU (the on-CPU time of all its threads, /proc/PID/task/*/schedstat) over 10 s, starting 20 s after the connections opened (V8's work left from the setup runs meanwhile).",
    "- Static files (`file-*`): a directory holding one file of random bytes (made once in `bench/build/files/`), served by `examples/static-server.ts` on the epoll engine (`writeFile`: `sendfile(2)`, with `TCP_CORK` around header and body), by Node `http` with `fs.createReadStream(file).pipe(res)` (the ratios' denominator), and by nginx (`sendfile on; tcp_nopush on; access_log off`, one process, the ceiling; skipped when not installed). The load generator's `http` mode keeps N keep-alive connections, each sending the next GET once the whole response (Content-Length) is in, and reads bodies into one reused buffer. After the warm-up it counts complete responses (requests/s) and body bytes (MiB/s) over the measured window; server CPU s/GiB is the server's CPU time over the window divided by the GiB of bodies it delivered.",
    "- Timers: a separate process adds random timers (1–1000 ms, the same sequence for each implementation) and waits until all fired, or adds and cancels them and waits past the longest delay; the figure is the process's CPU time (user + system) per timer, after a short warm-up pass (2,000 timers) through the same code. At 10,000 timers it is dominated by the loop's wake-ups (about one per millisecond over the 1 s spread), hence the fall with the count.",
    "- Every core (`workers`): pingpong-50's load (50 connections, 64 B, one in flight each) on servers of 1 and 2 workers: a WorkerGroup (epoll; 'reuseport', and with 2 workers also 'shared', 'handoff', and 'reuseport' held to the server CPU as a diagnostic), Node `cluster` (round-robin) and, on Node ≥ 22.12/23.1, `net` with `reusePort` in worker threads. The figure is the server's CPU time per round trip, summed over all its threads and (cluster) processes; the 2 ÷ 1 ratio is taken round by round. The load generator keeps its CPU and the server may use both CPUs (1 worker as 2). Balance: each worker's accepted connections and bytes read, from the server's `stats`. Wake-ups: times the server's threads were switched onto a CPU (/proc/PID/task/*/schedstat), per round trip.",
    "- read(n) (`readsize-16b-50`): 16 B ping-pong on 50 connections (one in flight each) against the same DangaSocket echo on the epoll engine, asking `read()` for 4096 bytes per event and for 1 MiB (`BENCH_READ_SIZE`); the figure is the server's CPU per round trip, and the 1 MiB ÷ 4 KiB ratio is taken round by round. `--baseline` runs the pair on the baseline library too.",
    "- Job server (`job-50`): the load generator's `job` mode keeps 50 connections with 16 requests in flight each: Gearman-shaped binary packets (12-byte head `\\0REQ` + type + 4-byte BE length, SUBMIT_JOB with `bench\\0<uid>\\0` + 32 B) answered by JOB_CREATED packets, and every 8th request the admin line `status`, answered by lines ending in `.`. Every answer is parsed and checked. The same protocol code (`bench/servers/job-protocol.ts`) runs on Node net with hand-written framing (cork/uncork around one chunk's answers; the denominator) and on the library's helpers (`peek`, `readExact`, `readLine`, answers in one `batch`) on each engine; `danga-job-byte` is the epoll server looking at each message's first byte with `peekByte()` (no Buffer made) rather than `peek(1)`, the same framing decisions otherwise.",
    "- Memory under load (`memory-*`): RSS (VmRSS) of the empty server, in the middle of the measured window, its peak (VmHWM) and after the load; `heapUsed`, `external` and `arrayBuffers` from the server's control channel in the middle of the window without a GC (`mem-live`) and after a full GC (`mem`). `memory-keep-1k`: `set` commands of 1 KiB values over N distinct keys, the server keeping each value as read (a view of the received bytes); the window lasts until every key was stored; the figure is (RSS after − RSS empty) ÷ the values kept.",
    "- Syscalls per message (`syscalls-*`, `--syscalls`): the scenario's load with `strace -c -f -p <server pid>` attached for the whole load; calls of each kind ÷ every message of the run (warm-up included). read counts read/readv/recvfrom/recvmsg, write write/writev/sendto/sendmsg. For the epoll engine also the crossings into the native addon (every call of one of its functions) and out of it (every call of its event callback) per message, counted by wrapping the addon's exports as Node loads them (`BENCH_COUNT_CROSSINGS=1`). One round; strace slows the server, so only the counts mean something.",
    "- `--baseline DIR`: servers `<id>-base` run this tree's server scripts on the library built in DIR (another checkout), in the same run and in alternation with the others.",
    '- The CPU columns are the share of one CPU each process used during the measured window (from /proc/PID/stat and getrusage); "others" is the task time of every other process on the machine (from /proc/stat). Each measurement waits until the machine is quiet (others below 0.15 CPU) before it starts.',
    "- Limits of a 2-core loopback machine: the load generator makes the same system calls per message as the C server, and on loopback each side's write also pays for delivering to the other, so for ping-pong the C ceiling and the load generator saturate together — the ceiling is where the two meet, a lower bound of what the C server could do. In churn, the connecting side also pays for most of the handshake, so the load generator tops out near the C server (marked ‡ where it was the limit).",
  ];
}

/** Replaces the generated block between the markers, keeping everything else (the hand-written sections). */
export function updateMarkdown(existing: string | null, generated: string): string {
  if (existing !== null) {
    const b = BEGIN_RE.exec(existing);
    const e = existing.indexOf(END);
    if (b && e > b.index) return existing.slice(0, b.index) + generated + existing.slice(e + END.length);
    return `${generated}\n\n${existing}`;
  }
  return [
    '# Benchmarks',
    '',
    generated,
    '',
    '## Where the gaps are',
    '',
    '<!-- Written by hand by the library authors; `npm run bench` regenerates only the block between the bench:generated markers above and keeps this section. -->',
    '',
    '_To be written: for each missed target, where the time or memory goes and what would close the gap._',
    '',
  ].join('\n');
}

/* ------------------------------------------------------------ SVG */

const COLORS: Record<string, string> = {
  subject: '#1f6feb',
  subject2: '#8250df',
  ceiling: '#6e7781',
  reference: '#bf8700',
};

const xmlEsc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Grouped horizontal bars: each server's advantage over Node net per scenario (higher is better). */
export function renderSvg(res: Results): string {
  const roleOrder: Record<string, number> = { subject: 0, ceiling: 1, reference: 2, baseline: 3 };
  // the file scenarios have other denominators (Node http, nginx): the table shows them, the chart does not
  res = { ...res, scenarios: res.scenarios.filter((sc) => !['file', 'workers', 'readsize', 'job', 'memory', 'syscalls'].includes(sc.kind)) };
  const present = SERVERS.filter(
    (s) => s.id !== BASELINE_ID && !s.files && s.workers === undefined && res.scenarios.some((sc) => sc.servers.some((r) => r.id === s.id)),
  );
  // a server without a single result is named in the footer instead of drawing empty rows
  const shown = present
    .filter((s) => res.scenarios.some((sc) => sc.servers.some((r) => r.id === s.id && r.status === 'ok')))
    .sort((a, b) => (roleOrder[a.role] ?? 9) - (roleOrder[b.role] ?? 9));
  const hidden = present.filter((s) => !shown.includes(s));
  const color = new Map<string, string>();
  let nSubject = 0;
  for (const s of shown) {
    const key = s.role === 'subject' ? (nSubject++ === 0 ? 'subject' : 'subject2') : s.role;
    color.set(s.id, COLORS[key] ?? '#57606a');
  }
  const advantage = (sc: ScenarioResult, r: ServerResult): number | undefined => {
    const x = r.vsNet[sc.metric.key];
    if (x === undefined || !(x > 0)) return undefined;
    return sc.metric.higherIsBetter ? x : 1 / x;
  };
  const groups = res.scenarios.map((sc) => ({
    sc,
    bars: shown.map((s) => ({ s, r: sc.servers.find((r) => r.id === s.id) })).filter((b) => b.r && b.r.status !== 'skipped'),
  }));
  let maxAdv = 2;
  for (const g of groups) for (const b of g.bars) maxAdv = Math.max(maxAdv, advantage(g.sc, b.r!) ?? 0, g.sc.target?.vsNet ?? 0);
  const scaleMax = Math.min(Math.ceil(maxAdv * 2) / 2, 4);

  const W = 860;
  const left = 250;
  const right = 90;
  const plotW = W - left - right;
  const barH = 13;
  const gap = 3;
  const groupGap = 14;
  const legend: string[] = [];
  let lx = 12;
  let ly = 34;
  const items = [...shown.map((s) => ({ s, w: 26 + s.label.length * 6.6 })), { s: null, w: 60 }];
  for (const it of items) {
    if (lx + it.w > W - 12) {
      lx = 12;
      ly += 16;
    }
    if (it.s) {
      legend.push(`<rect x="${lx}" y="${ly}" width="11" height="11" fill="${color.get(it.s.id)}"/>`);
      legend.push(`<text x="${lx + 15}" y="${ly + 10}" class="l">${xmlEsc(it.s.label)}</text>`);
    } else {
      legend.push(`<line x1="${lx + 5}" x2="${lx + 5}" y1="${ly - 1}" y2="${ly + 12}" class="t"/><text x="${lx + 11}" y="${ly + 10}" class="l">target</text>`);
    }
    lx += it.w;
  }
  const top = ly + 32;
  const x = (v: number): number => left + (Math.min(v, scaleMax) / scaleMax) * plotW;
  let y = top;
  const body: string[] = [];
  for (const g of groups) {
    if (g.bars.length === 0) continue;
    const h = g.bars.length * (barH + gap) - gap;
    const label = g.sc.id + (g.sc.run.quick ? ' (quick)' : '');
    body.push(`<text x="${left - 10}" y="${y + h / 2 + 4}" text-anchor="end" class="g">${xmlEsc(label)}</text>`);
    for (const b of g.bars) {
      const r = b.r!;
      const adv = r.status === 'ok' ? advantage(g.sc, r) : undefined;
      if (adv === undefined) {
        body.push(`<text x="${left + 4}" y="${y + barH - 3}" class="na">${xmlEsc(b.s.label)}: ${r.status === 'ok' ? 'no Node net figure' : r.status}</text>`);
      } else {
        const w = Math.max(1, x(adv) - left);
        body.push(
          `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${color.get(b.s.id)}"><title>${xmlEsc(`${b.s.label}: ${adv.toFixed(2)}×`)}</title></rect>`,
        );
        const clipped = adv > scaleMax ? '▸' : '';
        let labelX = x(adv) + 4;
        const t = targetFor(g.sc, r)?.vsNet;
        if (b.s.role === 'subject' && t !== undefined) {
          const tv = g.sc.metric.higherIsBetter ? t : 1 / t;
          body.push(
            `<line x1="${x(tv).toFixed(1)}" x2="${x(tv).toFixed(1)}" y1="${y - 2}" y2="${y + barH + 2}" class="t"><title>target ${tv.toFixed(2)}×</title></line>`,
          );
          labelX = Math.max(labelX, x(tv) + 5);
        }
        body.push(`<text x="${labelX.toFixed(1)}" y="${y + barH - 3}" class="v">${adv.toFixed(2)}×${clipped}</text>`);
      }
      y += barH + gap;
    }
    y += groupGap - gap;
  }
  const bottom = y;
  const grid: string[] = [];
  for (let v = 0; v <= scaleMax + 1e-9; v += 0.5) {
    const cls = Math.abs(v - 1) < 1e-9 ? 'one' : 'grid';
    grid.push(`<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="${top - 6}" y2="${bottom}" class="${cls}"/>`);
    grid.push(`<text x="${x(v).toFixed(1)}" y="${bottom + 14}" text-anchor="middle" class="ax">${v.toFixed(1)}×</text>`);
  }
  const footer: string[] = [
    'CPU per operation, memory per idle connection and timer CPU cost: net ÷ server (older results: throughput, server ÷ net).',
    `Bars end at ${scaleMax}× (▸ = beyond). Generated by npm run bench.`,
  ];
  if (hidden.length) footer.push(`No results: ${hidden.map((s) => s.label).join(', ')}.`);
  const H = bottom + 30 + 14 * footer.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="-apple-system,Segoe UI,Helvetica,Arial,sans-serif">`,
    '<style>.g{font-size:12px;fill:#24292f}.v{font-size:11px;fill:#24292f;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}.na{font-size:11px;fill:#8c959f;font-style:italic}.ax{font-size:10px;fill:#57606a}.l{font-size:11px;fill:#24292f}.grid{stroke:#d0d7de;stroke-width:1}.one{stroke:#cf222e;stroke-width:1.5;stroke-dasharray:4 3}.t{stroke:#24292f;stroke-width:2}.title{font-size:14px;font-weight:600;fill:#24292f}.sub{font-size:11px;fill:#57606a}</style>',
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="12" y="20" class="title">Advantage over Node net in server CPU per operation (same run; higher is better; 1× = Node net)</text>`,
    `<text x="${W - 12}" y="20" text-anchor="end" class="sub">${xmlEsc(`${res.machine.cpuModel}, ${res.machine.cores} cores, Node ${res.machine.node}`)}</text>`,
    ...legend,
    ...grid,
    ...body,
    ...footer.map((f, i) => `<text x="12" y="${bottom + 36 + 14 * i}" class="sub">${xmlEsc(f)}</text>`),
    '</svg>',
    '',
  ].join('\n');
}
