/**
 * The `workers` scenario's Node `cluster` server: a primary forking
 * BENCH_WORKERS workers (default 1), each the `net` echo of net-echo.ts
 * (`socket.pipe(socket)`), with cluster's default scheduling on Linux,
 * round-robin (the primary accepts every connection and passes it to a
 * worker over IPC). The first stdout line is `<port> pids=<worker pids>` (the
 * runner adds their CPU to the primary's); `stats` on stdin answers each
 * worker's accepted connections and bytes read. SIGTERM (or the end of stdin)
 * ends the workers, then the primary. Echo mode only.
 */
import cluster from 'node:cluster';
import { parseServerArgs, serveControl, type WorkerStats } from './control.js';
import { workerEcho } from './net-worker-echo.js';

const { port, mode } = parseServerArgs(process.argv.slice(2));
if (mode !== 'echo') throw new Error(`cluster-echo serves echo only (got --mode ${mode})`);

type ToPrimary = { t: 'stats'; id: number; stats: WorkerStats };

if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_RR; // (Linux's default, said aloud)
  const n = Number(process.env.BENCH_WORKERS ?? 1);
  const workers = Array.from({ length: n }, () => cluster.fork());
  const pending = new Map<number, (s: WorkerStats) => void>();
  let nextId = 0;
  for (const w of workers) {
    w.on('message', (m: ToPrimary) => {
      if (m.t === 'stats') pending.get(m.id)?.(m.stats);
    });
  }
  const ports = await Promise.all(workers.map((w) => new Promise<number>((resolve) => w.once('listening', (a: { port: number }) => resolve(a.port)))));
  const stop = (): void => {
    for (const w of workers) w.process.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  cluster.on('exit', (w, code, signal) => {
    if (!w.exitedAfterDisconnect) process.stderr.write(`cluster worker ${w.process.pid} ended (${signal ?? code})\n`);
  });
  process.stdout.write(`${ports[0]} pids=${workers.map((w) => w.process.pid).join(',')}\n`);
  serveControl(() =>
    Promise.all(
      workers.map((w) => {
        const id = ++nextId;
        return new Promise<WorkerStats>((resolve) => {
          pending.set(id, resolve);
          w.send({ t: 'stats', id });
        });
      }),
    ),
  );
} else {
  const { server, stats } = workerEcho();
  process.on('message', (m: { t: string; id: number }) => {
    if (m.t !== 'stats') return;
    process.send!({ t: 'stats', id: m.id, stats: stats() } satisfies ToPrimary);
  });
  process.on('disconnect', () => process.exit(0));
  server.listen({ host: '127.0.0.1', port, backlog: 1024 });
}
