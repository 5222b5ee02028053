/**
 * The faults a simulation injects, each a probability (per operation, or per
 * connection) or a range drawn from per connection. All default to off: a
 * simulation without faults is a loopback network with no delay.
 */
import { invalidArgType, outOfRange, validateObject } from '../../core/errors.js';

/** An inclusive range [min, max]; a single number means [n, n]. */
export type SimRange = number | readonly [number, number];

/** What may go wrong, and how often. */
export interface SimFaults {
  /** Probability that a read returns fewer bytes than are there (1 to all but one, uniformly). */
  shortRead?: number;
  /** Probability that a write takes fewer bytes than there is room for (1 to all but one). */
  shortWrite?: number;
  /** Probability that a read finds nothing (EAGAIN) although data is there (a spurious wakeup: never while an error is pending). */
  readEagain?: number;
  /** Probability that a write takes nothing (EAGAIN) although there is room. */
  writeEagain?: number;
  /** Probability, per socket and iteration, that its readiness is reported one iteration late. */
  lateReadiness?: number;
  /** One-way delay of a connection in virtual ms, drawn once per connection (default 0: loopback). */
  delay?: SimRange;
  /** Bandwidth of each direction of a connection in bytes per virtual ms, drawn once per connection (default: unlimited). */
  bandwidth?: SimRange;
  /** Bytes each direction holds in flight and unread (send plus receive buffer), drawn once per connection (default 64 KiB). */
  buffer?: SimRange;
  /**
   * Probability that a read or a write finds its connection reset (a RST
   * from the network): the bytes still in flight either way are lost, both
   * ends see ECONNRESET. The reader's side or the writer's side, whichever
   * operation drew it.
   */
  reset?: number;
  /** Probability that a connect is refused (ECONNREFUSED) although something listens. */
  refuse?: number;
  /** Probability that an accept fails with EMFILE or ENFILE (the connection stays queued). */
  acceptError?: number;
  /** Probability, each time virtual time advances, that the clock jumps further (a stalled process). */
  clockJump?: number;
  /** How far a clock jump goes, in virtual ms (default [100, 5000]). */
  clockJumpMs?: SimRange;
}

/** The faults with every field resolved. */
export interface ResolvedFaults {
  readonly shortRead: number;
  readonly shortWrite: number;
  readonly readEagain: number;
  readonly writeEagain: number;
  readonly lateReadiness: number;
  readonly delay: readonly [number, number];
  readonly bandwidth: readonly [number, number];
  readonly buffer: readonly [number, number];
  readonly reset: number;
  readonly refuse: number;
  readonly acceptError: number;
  readonly clockJump: number;
  readonly clockJumpMs: readonly [number, number];
}

const PROBABILITIES = ['shortRead', 'shortWrite', 'readEagain', 'writeEagain', 'lateReadiness', 'reset', 'refuse', 'acceptError', 'clockJump'] as const;

function probability(name: string, value: unknown, max: number): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw invalidArgType(`options.faults.${name}`, 'of type number', value);
  if (!(value >= 0 && value <= max)) throw outOfRange(`options.faults.${name}`, `a probability from 0 to ${max}`, value);
  return value;
}

function range(name: string, value: unknown, dflt: readonly [number, number], min: number, allowInfinity = false): readonly [number, number] {
  if (value === undefined) return dflt;
  const pair = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'number' || typeof pair[1] !== 'number') {
    throw invalidArgType(`options.faults.${name}`, 'a number or a [min, max] pair of numbers', value);
  }
  const lo = pair[0];
  const hi = pair[1];
  const ok = (n: number): boolean => n >= min && (allowInfinity ? !Number.isNaN(n) : Number.isFinite(n));
  if (!ok(lo) || !ok(hi) || lo > hi) throw outOfRange(`options.faults.${name}`, `a range of numbers >= ${min}, min <= max`, value);
  return [lo, hi];
}

/** Validates `faults` (options.faults) and fills in the defaults. */
export function resolveFaults(faults: unknown): ResolvedFaults {
  if (faults === undefined) faults = {};
  validateObject('options.faults', faults);
  const f = faults as Record<string, unknown>;
  const p = {} as Record<(typeof PROBABILITIES)[number], number>;
  // A probability of 1 for EAGAIN or late readiness would never let anything through.
  for (const name of PROBABILITIES) p[name] = probability(name, f[name], name.endsWith('Eagain') || name === 'lateReadiness' ? 0.95 : 1);
  return {
    ...p,
    delay: range('delay', f.delay, [0, 0], 0),
    bandwidth: range('bandwidth', f.bandwidth, [Infinity, Infinity], Number.MIN_VALUE, true),
    buffer: range('buffer', f.buffer, [65536, 65536], 1),
    clockJumpMs: range('clockJumpMs', f.clockJumpMs, [100, 5000], 0),
  };
}
