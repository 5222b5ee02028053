/**
 * The timer benchmark, run in its own process (pinned like a server):
 *
 *   node dist/bench/timers.js --impl danga|settimeout --kind fire|cancel --count N [--seed S] [--max-ms 1000]
 *
 * fire:   adds N timers with random delays (1..max-ms ms, the same sequence for
 *         every implementation given the same seed) and waits until all fired.
 * cancel: adds N such timers, cancels them all, then waits past the longest
 *         delay (so lazily-deleted timers are paid for too).
 * The figure is CPU time (user+system, whole process) from the first add to
 * the end, per timer, after a short warm-up pass through the same code.
 * Prints one JSON line.
 */

interface Args {
  impl: 'danga' | 'settimeout';
  kind: 'fire' | 'cancel';
  count: number;
  seed: number;
  maxMs: number;
}

function parse(argv: readonly string[]): Args {
  const a: Args = { impl: 'settimeout', kind: 'fire', count: 100_000, seed: 1, maxMs: 1000 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1] ?? '';
    if (k === '--impl' && (v === 'danga' || v === 'settimeout')) a.impl = v;
    else if (k === '--kind' && (v === 'fire' || v === 'cancel')) a.kind = v;
    else if (k === '--count') a.count = Number(v);
    else if (k === '--seed') a.seed = Number(v);
    else if (k === '--max-ms') a.maxMs = Number(v);
    else throw new Error(`timers: bad argument ${String(k)} ${v}`);
  }
  return a;
}

/** Integer delays in 1..maxMs from xorshift32 (deterministic per seed). */
function delays(count: number, seed: number, maxMs: number): Uint32Array {
  const out = new Uint32Array(count);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = 1 + (x % maxMs);
  }
  return out;
}

interface Clock {
  cpu: NodeJS.CpuUsage;
  wall: number;
}

type Result = Record<string, number | string>;

const start = (): Clock => ({ cpu: process.cpuUsage(), wall: performance.now() });

function finish(a: Args, n: number, maxMs: number, c: Clock, addS: number, extra: Record<string, number> = {}): Result {
  const cpu = process.cpuUsage(c.cpu);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const wallS = (performance.now() - c.wall) / 1e3;
  return {
    impl: a.impl,
    kind: a.kind,
    count: n,
    nsPerTimer: (cpuS * 1e9) / n,
    cpuS,
    wallS,
    addS,
    /** how long past the longest delay the run ended */
    overrunMs: wallS * 1e3 - (a.kind === 'fire' ? maxMs : maxMs + 50),
    ...extra,
  };
}

/** Node's setTimeout / clearTimeout. */
function runSetTimeout(a: Args, ds: Uint32Array, maxMs: number): Promise<Result> {
  const n = ds.length;
  return new Promise((resolve) => {
    let fired = 0;
    const c = start();
    if (a.kind === 'fire') {
      let addS = 0;
      const cb = (): void => {
        if (++fired === n) resolve(finish(a, n, maxMs, c, addS));
      };
      for (let i = 0; i < n; i++) setTimeout(cb, ds[i]);
      addS = (performance.now() - c.wall) / 1e3;
    } else {
      const cb = (): void => {
        fired++;
      };
      const handles = new Array<NodeJS.Timeout>(n);
      for (let i = 0; i < n; i++) handles[i] = setTimeout(cb, ds[i]);
      for (let i = 0; i < n; i++) clearTimeout(handles[i]);
      const addS = (performance.now() - c.wall) / 1e3;
      setTimeout(() => resolve(finish(a, n, maxMs, c, addS, { firedAfterCancel: fired })), maxMs + 50);
    }
  });
}

type Danga = typeof import('danga-socket').DangaSocket;

/** DangaSocket.addTimer / Timer.cancel, run by DangaSocket.eventLoop(). */
async function runDanga(D: Danga, a: Args, ds: Uint32Array, maxMs: number): Promise<Result> {
  const n = ds.length;
  let fired = 0;
  let result: Result | null = null;
  const c = start();
  let addS = 0;
  if (a.kind === 'fire') {
    const cb = (): void => {
      if (++fired === n) result = finish(a, n, maxMs, c, addS);
    };
    for (let i = 0; i < n; i++) D.addTimer(ds[i]! / 1000, cb);
    addS = (performance.now() - c.wall) / 1e3;
  } else {
    const cb = (): void => {
      fired++;
    };
    const handles = new Array<{ cancel(): void }>(n);
    for (let i = 0; i < n; i++) handles[i] = D.addTimer(ds[i]! / 1000, cb);
    for (let i = 0; i < n; i++) handles[i]!.cancel();
    addS = (performance.now() - c.wall) / 1e3;
    D.addTimer((maxMs + 50) / 1000, () => {
      result = finish(a, n, maxMs, c, addS, { firedAfterCancel: fired });
    });
  }
  D.setPostLoopCallback(() => result === null);
  await D.eventLoop();
  if (!result) throw new Error('timers: the loop ended before the timers did');
  return result;
}

/** A short pass through the same code first, so the figure is not mostly JIT warm-up. */
const WARMUP = { count: 2000, maxMs: 20 };

async function main(): Promise<void> {
  const a = parse(process.argv.slice(2));
  const warm = delays(WARMUP.count, a.seed + 1000, WARMUP.maxMs);
  const ds = delays(a.count, a.seed, a.maxMs);
  let result: Result;
  if (a.impl === 'settimeout') {
    await runSetTimeout(a, warm, WARMUP.maxMs);
    result = await runSetTimeout(a, ds, a.maxMs);
  } else {
    const { DangaSocket } = await import('danga-socket');
    const engineOf = (DangaSocket as unknown as { engine?: () => string }).engine;
    const engine = typeof engineOf === 'function' ? engineOf.call(DangaSocket) : 'unknown';
    await runDanga(DangaSocket, a, warm, WARMUP.maxMs);
    result = await runDanga(DangaSocket, a, ds, a.maxMs);
    result.engine = engine;
  }
  const all = process.cpuUsage();
  result.procCpuS = (all.user + all.system) / 1e6; // start-up and warm-up included
  process.stdout.write(JSON.stringify(result) + '\n');
}

await main();
