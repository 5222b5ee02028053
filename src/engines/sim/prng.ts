/**
 * The simulation's one source of randomness: sfc32 (Chris Doty-Humphrey's
 * Small Fast Counting generator, 128 bits of state, passes PractRand),
 * seeded through splitmix32 so that neighbouring seeds give unrelated
 * streams. 32-bit integer arithmetic only: the same seed gives the same
 * numbers on every machine and Node version.
 */

/** splitmix32: one step of the seeding sequence. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A seeded pseudo-random generator (not for cryptography). */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** @param seed an integer from 0 to 2^53 - 1 (both halves are mixed in) */
  constructor(seed: number) {
    const st = { s: (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x100000000) | 0, 0x27d4eb2d) };
    this.#a = splitmix32(st);
    this.#b = splitmix32(st);
    this.#c = splitmix32(st);
    this.#d = splitmix32(st);
    for (let i = 0; i < 12; i++) this.next();
  }

  /** The next 32-bit unsigned integer. */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.next() / 0x100000000;
  }

  /** An integer in [lo, hi] (both included; lo <= hi, both safe integers within 2^32 of each other). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** True with probability `p` (no draw when p is 0 or 1, so a fault that is off costs nothing and changes no stream). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.float() < p;
  }

  /** A number in the range [lo, hi] (integers when both ends are). */
  range(r: readonly [number, number]): number {
    const [lo, hi] = r;
    if (lo === hi) return lo;
    if (Number.isInteger(lo) && Number.isInteger(hi) && hi - lo < 0x100000000) return this.int(lo, hi);
    return lo + this.float() * (hi - lo);
  }

  /** Shuffles `list` in place (Fisher-Yates). */
  shuffle<T>(list: T[]): T[] {
    for (let i = list.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const tmp = list[i] as T;
      list[i] = list[j] as T;
      list[j] = tmp;
    }
    return list;
  }

  /** `n` pseudo-random bytes. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.next(), i);
    if (i < n) {
      let r = this.next();
      for (; i < n; i++, r >>>= 8) out[i] = r & 0xff;
    }
    return out;
  }
}
