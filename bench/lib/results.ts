/** The shape of bench/results/latest.json and how a scenario's samples become figures. */
import type { Metric, Scenario, Target } from '../scenarios.js';
import type { Role } from '../servers.js';
import type { Machine } from './machine.js';
import type { Sample } from './measure.js';
import { summarize, type Summary } from './stats.js';

/** other processes' CPU (in CPUs) above which a round counts as disturbed */
export const DISTURBED = 0.15;

export type TargetStatus = 'met' | 'missed' | 'no data';

export interface ServerResult {
  id: string;
  label: string;
  role: Role;
  status: 'ok' | 'failed' | 'skipped';
  /** the error or the reason it was skipped */
  note?: string;
  samples: Sample[];
  /** median, min, max of every sampled figure */
  summary: Record<string, Summary>;
  /** every figure's median divided by the same figure's median on Node net / on the C ceiling */
  vsNet: Record<string, number>;
  vsC: Record<string, number>;
  /** median load generator CPU ≥90% while the server's was <85%: the generator, not the server, was the limit */
  loadgenBound?: boolean;
  /** rounds during which other processes used more than 0.15 CPU */
  disturbed?: number;
  target?: { status: TargetStatus; detail: string; text?: string };
  /**
   * workers scenarios: the figure divided by the one-worker server's (`of`)
   * in the same round; median, min and max over the rounds
   */
  scaling?: Summary & { of: string };
}

export interface RunInfo {
  date: string;
  quick: boolean;
  rounds: number;
  warmupS: number;
  durationS: number;
  pinning: string;
  node: string;
}

export interface ScenarioResult {
  id: string;
  title: string;
  kind: Scenario['kind'];
  metric: Metric;
  /** the throughput shown beside the figure */
  throughput?: Metric;
  target?: Target;
  /** per-server targets in place of `target` (null: none), by server id */
  serverTargets?: Record<string, Target | null>;
  /** size actually used (quick mode shrinks stream/idle) */
  params: Record<string, number>;
  run: RunInfo;
  servers: ServerResult[];
}

export interface Results {
  version: 1;
  generated: string;
  command: string;
  machine: Machine;
  pinning: string;
  notes: string[];
  scenarios: ScenarioResult[];
}

const median = (r: ServerResult | undefined, key: string): number | undefined => (r && r.status === 'ok' ? r.summary[key]?.median : undefined);

/** Of servers with a `scalesFrom`, the one-worker server's id by server id. */
export function scalesFrom(servers: readonly { id: string; scalesFrom?: string }[]): Record<string, string> {
  return Object.fromEntries(servers.flatMap((s) => (s.scalesFrom === undefined ? [] : [[s.id, s.scalesFrom]])));
}

/**
 * Fills summaries, ratios and target status in place; `scaling` maps a
 * server to the one-worker server its figure is divided by, round by round.
 */
export function finalize(sc: ScenarioResult, baselineId: string, ceilingId: string, scaling: Record<string, string> = {}): void {
  for (const r of sc.servers) {
    r.summary = {};
    const keys = new Set(r.samples.flatMap((s) => Object.keys(s)));
    for (const k of keys) {
      const s = summarize(r.samples.map((x) => x[k] ?? NaN));
      if (s) r.summary[k] = s;
    }
    if (r.status === 'ok' && r.samples.length === 0) r.status = 'failed';
  }
  const base = sc.servers.find((r) => r.id === baselineId);
  const ceil = sc.kind === 'timers' ? undefined : sc.servers.find((r) => r.id === ceilingId);
  for (const r of sc.servers) {
    r.vsNet = {};
    r.vsC = {};
    if (r.status !== 'ok') continue;
    for (const [k, s] of Object.entries(r.summary)) {
      const b = median(base, k);
      const c = median(ceil, k);
      if (b) r.vsNet[k] = s.median / b;
      if (c) r.vsC[k] = s.median / c;
    }
    const one = scaling[r.id] === undefined ? undefined : sc.servers.find((x) => x.id === scaling[r.id]);
    if (one?.status === 'ok') {
      // the same round's figures (servers alternate within a round)
      const per = r.samples.flatMap((x) => {
        const y = one.samples.find((o) => o.round === x.round);
        const a = x[sc.metric.key];
        const b = y?.[sc.metric.key];
        return a !== undefined && b ? [a / b] : [];
      });
      const sum = summarize(per);
      if (sum) r.scaling = { ...sum, of: one.id };
    }
    const lg = r.summary.loadgenCpu?.median;
    const sv = r.summary.serverCpu?.median;
    if (lg !== undefined && sv !== undefined) r.loadgenBound = lg >= 0.9 && sv < 0.85;
    r.disturbed = r.samples.filter((x) => (x.otherCpu ?? 0) > DISTURBED).length;
    const t = targetFor(sc, r);
    if (r.role === 'subject' && t) r.target = judge(sc, r, t);
  }
  for (const r of sc.servers) {
    const t = targetFor(sc, r);
    if (r.role === 'subject' && t && !r.target) r.target = { status: 'no data', detail: r.note ?? 'no result', text: t.text };
  }
}

/** The target that applies to server `r` in scenario `sc`, if any. */
export function targetFor(sc: ScenarioResult, r: ServerResult): Target | undefined {
  const own = sc.serverTargets?.[r.id];
  if (own !== undefined) return own ?? undefined;
  return sc.target;
}

function judge(sc: ScenarioResult, r: ServerResult, t: Target): { status: TargetStatus; detail: string; text: string } {
  const key = sc.metric.key;
  const checks: string[] = [];
  let ok = true;
  let missing = false;
  if (t.vsNet !== undefined) {
    const x = r.vsNet[key];
    if (x === undefined) missing = true;
    else {
      const pass = sc.metric.higherIsBetter ? x >= t.vsNet : x <= t.vsNet;
      ok &&= pass;
      checks.push(
        `${x.toFixed(2)}× ${sc.kind === 'file' ? 'Node http' : 'net'} ${pass ? 'meets' : 'misses'} ${sc.metric.higherIsBetter ? '≥' : '≤'}${t.vsNet}`,
      );
    }
  }
  if (t.vsC !== undefined) {
    const x = r.vsC[key];
    // the file scenarios' ceiling (nginx) counts where it runs
    if (x === undefined && sc.kind === 'file') checks.push('no nginx figure');
    else if (x === undefined) missing = true;
    else {
      const pass = sc.metric.higherIsBetter ? x >= t.vsC : x <= t.vsC + 1e-9;
      ok &&= pass;
      checks.push(`${x.toFixed(2)}× ${sc.kind === 'file' ? 'nginx' : 'C'} ${pass ? 'meets' : 'misses'} ${sc.metric.higherIsBetter ? '≥' : '≤'}${t.vsC}`);
    }
  }
  if (t.beats !== undefined) {
    const other = sc.servers.find((x) => x.id === t.beats);
    const theirs = median(other, key);
    const mine = r.summary[key]?.median;
    if (theirs === undefined || mine === undefined) missing = true;
    else {
      const pass = sc.metric.higherIsBetter ? mine > theirs : mine < theirs;
      ok &&= pass;
      checks.push(`${(mine / theirs).toFixed(2)}× ${other!.label}'s ${pass ? 'meets' : 'misses'} ${sc.metric.higherIsBetter ? '>' : '<'}1`);
    }
  }
  if (t.cpuVsNet !== undefined) {
    const x = r.vsNet.cpuPerGiB;
    if (x === undefined) missing = true;
    else {
      const pass = x <= t.cpuVsNet;
      ok &&= pass;
      checks.push(`CPU/GiB ${x.toFixed(2)}× base ${pass ? 'meets' : 'misses'} ≤${t.cpuVsNet.toFixed(2)}`);
    }
  }
  if (t.maxScaling !== undefined) {
    const x = r.scaling?.median;
    if (x === undefined) missing = true;
    else {
      const pass = x <= t.maxScaling;
      ok &&= pass;
      checks.push(
        `${x.toFixed(2)}× ${r.scaling!.of}'s ${sc.metric.label} (rounds ${r.scaling!.min.toFixed(2)}–${r.scaling!.max.toFixed(2)}) ${pass ? 'meets' : 'misses'} ≤${t.maxScaling}`,
      );
    }
  }
  if (t.maxValue !== undefined) {
    const v = r.summary[key]?.median;
    if (v === undefined) missing = true;
    else {
      const pass = v <= t.maxValue;
      ok &&= pass;
      checks.push(`${v < 10 ? v.toFixed(2) : Math.round(v)} ${sc.metric.unit} ${pass ? 'meets' : 'misses'} ≤${t.maxValue}`);
    }
  }
  if (missing) return { status: 'no data', detail: `baseline missing; ${checks.join('; ')}`, text: t.text };
  return { status: ok ? 'met' : 'missed', detail: checks.join('; '), text: t.text };
}
