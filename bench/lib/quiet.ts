/**
 * The machine may be shared (other builds, tests, valgrind…): before each
 * measurement wait until nothing else is using the CPUs, and measure how much
 * CPU others took during a measurement.
 */
import { readFileSync } from 'node:fs';
import { sleep } from './proc.js';

export interface CpuStat {
  /** busy seconds over all CPUs (user+nice+system+irq+softirq+steal) */
  busy: number;
  /** wall seconds summed over all CPUs */
  total: number;
}

const HZ = 100; // USER_HZ, which /proc/stat uses on Linux

export function cpuStat(): CpuStat | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
    return { busy: (user + nice + system + irq + softirq + steal) / HZ, total: (user + nice + system + idle + iowait + irq + softirq + steal) / HZ };
  } catch {
    return null;
  }
}

/** CPUs' worth of busy time between two samples (e.g. 0.8 = 80% of one CPU). */
export function busyCpus(a: CpuStat, b: CpuStat, wallS: number): number {
  return wallS > 0 ? (b.busy - a.busy) / wallS : 0;
}

/**
 * Waits until other processes use less than `threshold` CPUs (sampled over
 * `windowMs` windows), for at most `maxWaitMs`. Returns the last level seen.
 */
export async function waitQuiet(maxWaitMs: number, threshold: number, windowMs: number, onWait: (level: number) => void): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  let told = false;
  for (;;) {
    const a = cpuStat();
    const t0 = performance.now();
    await sleep(windowMs);
    const b = cpuStat();
    if (!a || !b) return 0;
    const level = busyCpus(a, b, (performance.now() - t0) / 1000);
    if (level < threshold || Date.now() >= deadline) return level;
    if (!told) {
      onWait(level);
      told = true;
    }
  }
}
