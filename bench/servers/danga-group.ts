/**
 * The `workers` scenario's DangaSocket server: a WorkerGroup of
 * BENCH_WORKERS workers (default 1) in BENCH_GROUP_MODE ('reuseport', the
 * default, 'shared' or 'handoff': the main thread accepts and hands each
 * connection to a worker), each an epoll loop running danga-group-worker.ts
 * (echo). The first stdout line is `<port> engine=<the workers' engine>`;
 * `stats` on stdin answers each worker's accepted connections and bytes read
 * (`group.stats()`). Echo mode only.
 */
import { WorkerGroup, type WorkerMode } from 'danga-socket';
import { parseServerArgs, serveControl } from './control.js';

const { port, mode } = parseServerArgs(process.argv.slice(2));
if (mode !== 'echo') throw new Error(`danga-group serves echo only (got --mode ${mode})`);
const workers = Number(process.env.BENCH_WORKERS ?? 1);
const want = process.env.BENCH_GROUP_MODE ?? 'reuseport';
if (want !== 'reuseport' && want !== 'shared' && want !== 'handoff') throw new Error(`BENCH_GROUP_MODE must be reuseport, shared or handoff (got ${want})`);
const groupMode: WorkerMode = want;

const group = new WorkerGroup({
  module: new URL('./danga-group-worker.js', import.meta.url),
  workers,
  listen: [{ host: '127.0.0.1', port, backlog: 1024 }],
  mode: groupMode,
  engine: 'epoll',
});
const engines = new Set<string>();
group.on('message', (msg: { engine?: string }) => {
  if (typeof msg.engine === 'string') engines.add(msg.engine);
});
group.on('exit', (e: { slot: number; error: Error | null; expected: boolean }) => {
  if (!e.expected) process.stderr.write(`worker ${e.slot} died: ${e.error?.stack ?? 'no error'}\n`);
});
await group.start();
const addr = group.addresses()[0];
// (each worker reported its engine before it was ready)
process.stdout.write(`${addr && 'port' in addr ? addr.port : 0} engine=${engines.size === 1 ? [...engines][0] : [...engines].join('+') || 'unknown'}\n`);
serveControl(async () => {
  const s = await group.stats();
  return s.workers.map((w) => ({ accepted: w.stats.accepted, bytesIn: w.stats.bytesIn }));
});
