/**
 * What the Node echo servers share: argument parsing and the control channel.
 *
 * Control channel: the runner writes `mem\n` on the server's stdin; the server
 * runs a full GC (when started with --expose-gc) and answers one JSON line on
 * stdout: {"rss":…, "heapUsed":…, "heapTotal":…, "external":…, "arrayBuffers":…}.
 * Servers of several workers (the `workers` scenario) also answer `stats\n`
 * with one JSON line: {"workers":[{"accepted":…,"bytesIn":…},…]}, one entry per
 * worker (`WorkerStats`).
 * `mem-live\n` answers the same fields as `mem` without the GC first: the
 * heap as the load leaves it. `counts\n` answers the crossings into and out
 * of the native addon counted so far (crossings.ts, BENCH_COUNT_CROSSINGS=1; `{}`
 * otherwise); more commands a server may add (`serveControl`'s `more`).
 * Stdin reaching its end makes the server exit.
 */
import v8 from 'node:v8';
import { crossings } from './crossings.js';

export type ServerMode = 'echo' | 'sink' | 'file' | 'lines' | 'job';

export interface ServerArgs {
  port: number;
  mode: ServerMode;
  /** file mode: the directory served */
  root: string;
  /** file mode: a scratch directory for the server's own files (unused by the Node servers) */
  state: string;
}

export function parseServerArgs(argv: readonly string[]): ServerArgs {
  const args: ServerArgs = { port: 0, mode: 'echo', root: '.', state: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--port' && v !== undefined) {
      args.port = Number(v);
      i++;
    } else if (a === '--mode' && (v === 'echo' || v === 'sink' || v === 'file' || v === 'lines' || v === 'job')) {
      args.mode = v;
      i++;
    } else if ((a === '--root' || a === '--state') && v !== undefined) {
      args[a === '--root' ? 'root' : 'state'] = v;
      i++;
    } else {
      process.stderr.write(`usage: [--port P] [--mode echo|sink|file|lines|job] [--root DIR] [--state DIR] (got ${String(a)})\n`);
      process.exit(64);
    }
  }
  return args;
}

export function memoryReport(collect = true): string {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc && collect) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return JSON.stringify({
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    newSpace: v8.getHeapSpaceStatistics().find((sp) => sp.space_name === 'new_space')?.physical_space_size ?? 0,
    gc: gc !== undefined,
  });
}

/** What a worker of a multi-worker server reports on `stats`. */
export interface WorkerStats {
  /** connections it accepted */
  accepted: number;
  /** bytes it read from its connections */
  bytesIn: number;
}

/** Serves the control channel; `stats`, when given, answers the `stats` command; `more`: more commands, each answering one JSON line. */
export function serveControl(stats?: () => Promise<WorkerStats[]>, more: Record<string, () => unknown> = {}): void {
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line === 'mem') process.stdout.write(memoryReport() + '\n');
      else if (line === 'mem-live') process.stdout.write(memoryReport(false) + '\n');
      else if (line === 'counts') process.stdout.write(JSON.stringify(crossings()) + '\n');
      else if (Object.hasOwn(more, line)) process.stdout.write(JSON.stringify(more[line]!()) + '\n');
      else if (line === 'stats' && stats)
        stats().then(
          (workers) => process.stdout.write(JSON.stringify({ workers }) + '\n'),
          (err: unknown) => process.stdout.write(JSON.stringify({ error: String(err) }) + '\n'),
        );
    }
  });
  process.stdin.on('end', () => process.exit(0));
}
