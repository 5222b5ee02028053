/**
 * The `workers` scenario's Node `net` server with `reusePort` (Node ≥ 22.12
 * and ≥ 23.1): BENCH_WORKERS worker threads (default 1), each a `net` echo
 * (`socket.pipe(socket)`, as net-echo.ts) listening on the same port with
 * its own SO_REUSEPORT socket, so the kernel spreads the connections. The
 * first stdout line is `<port>`; `stats` on stdin answers each worker's
 * accepted connections and bytes read. Echo mode only.
 */
import type * as net from 'node:net';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { parseServerArgs, serveControl, type WorkerStats } from './control.js';
import { workerEcho } from './net-worker-echo.js';

type FromWorker = { t: 'listening'; port: number } | { t: 'stats'; id: number; stats: WorkerStats };

if (isMainThread) {
  const { port, mode } = parseServerArgs(process.argv.slice(2));
  if (mode !== 'echo') throw new Error(`net-reuseport serves echo only (got --mode ${mode})`);
  const n = Number(process.env.BENCH_WORKERS ?? 1);
  const pending = new Map<number, (s: WorkerStats) => void>();
  const workers: Worker[] = [];
  // The first worker picks the port (port 0), the others bind the same one.
  let bound = port;
  for (let i = 0; i < n; i++) {
    const w = new Worker(new URL(import.meta.url), { workerData: { port: bound } });
    w.on('error', (err) => {
      process.stderr.write(`worker ${i}: ${err.stack ?? String(err)}\n`);
      process.exit(1);
    });
    bound = await new Promise<number>((resolve) =>
      w.on('message', (m: FromWorker) => {
        if (m.t === 'listening') resolve(m.port);
        else pending.get(m.id)?.(m.stats);
      }),
    );
    workers.push(w);
  }
  process.stdout.write(`${bound}\n`);
  let nextId = 0;
  serveControl(() =>
    Promise.all(
      workers.map((w) => {
        const id = ++nextId;
        return new Promise<WorkerStats>((resolve) => {
          pending.set(id, resolve);
          w.postMessage({ t: 'stats', id });
        });
      }),
    ),
  );
} else {
  const { server, stats } = workerEcho();
  const post = (m: FromWorker): void => parentPort!.postMessage(m);
  parentPort!.on('message', (m: { t: string; id: number }) => {
    if (m.t !== 'stats') return;
    post({ t: 'stats', id: m.id, stats: stats() });
  });
  const { port } = workerData as { port: number };
  // reusePort is in ListenOptions from Node 22.12 / 23.1 (@types/node 20 lacks it)
  server.listen({ host: '127.0.0.1', port, backlog: 1024, reusePort: true } as net.ListenOptions, () => {
    post({ t: 'listening', port: (server.address() as net.AddressInfo).port });
  });
}
