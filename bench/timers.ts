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
 * the end, per timer.  Prints one JSON line.
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

const start = (): Clock => ({ cpu: process.cpuUsage(), wall: performance.now() });

function finish(a: Args, c: Clock, addS: number, extra: Record<string, number> = {}): Record<string, number | string> {
  const cpu = process.cpuUsage(c.cpu);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const wallS = (performance.now() - c.wall) / 1e3;
  return {
    impl: a.impl,
    kind: a.kind,
    count: a.count,
    nsPerTimer: (cpuS * 1e9) / a.count,
    cpuS,
    wallS,
    addS,
    /** how long past the longest delay the run ended */
    overrunMs: wallS * 1e3 - (a.kind === 'fire' ? a.maxMs : a.maxMs + 50),
    ...extra,
  };
}

async function main(): Promise<void> {
  const a = parse(process.argv.slice(2));
  const ds = delays(a.count, a.seed, a.maxMs);
  let result: Record<string, number | string> | null = null;

  if (a.impl === 'settimeout') {
    await new Promise<void>((resolve) => {
      let fired = 0;
      const c = start();
      if (a.kind === 'fire') {
        const cb = (): void => {
          if (++fired === a.count) {
            result = finish(a, c, addS);
            resolve();
          }
        };
        for (let i = 0; i < a.count; i++) setTimeout(cb, ds[i]);
        const addS = (performance.now() - c.wall) / 1e3;
      } else {
        const cb = (): void => {
          fired++;
        };
        const handles: NodeJS.Timeout[] = new Array(a.count);
        for (let i = 0; i < a.count; i++) handles[i] = setTimeout(cb, ds[i]);
        for (let i = 0; i < a.count; i++) clearTimeout(handles[i]);
        const addS = (performance.now() - c.wall) / 1e3;
        setTimeout(() => {
          result = finish(a, c, addS, { firedAfterCancel: fired });
          resolve();
        }, a.maxMs + 50);
      }
    });
  } else {
    const { DangaSocket } = await import('danga-socket');
    const engineOf = (DangaSocket as unknown as { engine?: () => string }).engine;
    const engine = typeof engineOf === 'function' ? engineOf.call(DangaSocket) : 'unknown';
    let fired = 0;
    let done = false;
    const c = start();
    let addS: number;
    if (a.kind === 'fire') {
      const cb = (): void => {
        if (++fired === a.count) {
          result = finish(a, c, addS);
          done = true;
        }
      };
      for (let i = 0; i < a.count; i++) DangaSocket.addTimer(ds[i]! / 1000, cb);
      addS = (performance.now() - c.wall) / 1e3;
    } else {
      const cb = (): void => {
        fired++;
      };
      const handles = new Array<{ cancel(): void }>(a.count);
      for (let i = 0; i < a.count; i++) handles[i] = DangaSocket.addTimer(ds[i]! / 1000, cb);
      for (let i = 0; i < a.count; i++) handles[i]!.cancel();
      addS = (performance.now() - c.wall) / 1e3;
      DangaSocket.addTimer((a.maxMs + 50) / 1000, () => {
        result = finish(a, c, addS, { firedAfterCancel: fired });
        done = true;
      });
    }
    DangaSocket.setPostLoopCallback(() => !done);
    await DangaSocket.eventLoop();
    if (result) (result as Record<string, number | string>).engine = engine;
  }
  if (!result) throw new Error('timers: the loop ended before the timers did');
  process.stdout.write(JSON.stringify(result) + '\n');
}

await main();
