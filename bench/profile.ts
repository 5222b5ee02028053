/**
 * Where a server's CPU per message goes: runs one bench server under
 * `node --cpu-prof`, drives it with the load generator for a bounded time,
 * and sorts the profile's samples into what the time was spent on, in µs per
 * message (the profile's busy time over the messages the load generator
 * counted) and as a share of the busy time:
 *
 *   node dist/bench/profile.js [--server danga-job] [--seconds 8] [--keep DIR]
 *
 * Servers: the bench's Node servers (`servers.ts` ids: danga-job,
 * danga-job-node, danga-job-byte, net-job, danga, danga-node, net). The job servers get
 * job-50's load, the echo servers pingpong-50's. Pinned like the bench (load
 * generator on CPU 0, server on CPU 1) when taskset works. The categories:
 *
 * - syscalls and crossings: the samples in the functions that make a system
 *   call (the addon's read/writev as the epoll engine calls them, Node's
 *   native writev and read callbacks): the kernel's work and the crossing;
 * - framing: the library's helpers (readExact, readLine, peek, the store
 *   behind them: core/inbound) or the hand-written framing, and the Buffer
 *   views they make;
 * - protocol: the job protocol's own work (job-protocol.ts, encoding answers);
 * - write path: write(), batch, the outbound queue (core/outbound), Node's
 *   writable stream;
 * - dispatch: the loop (core/loop, the engine's driver), events, Node's
 *   readable stream and task queues;
 * - (program): native code with no JavaScript on the stack (libuv's reads
 *   and epoll_wait for Node net and the node engine; the addon's loop);
 * - GC, and the rest.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt } from './lib/build.js';
import { root } from './lib/paths.js';
import { Proc, detectPinning, wrap } from './lib/proc.js';
import { SERVERS } from './servers.js';

interface CallFrame {
  functionName: string;
  url: string;
}
interface Profile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
}

const CATEGORIES: [string, (f: CallFrame, file: string) => boolean][] = [
  ['(idle)', (f) => f.functionName === '(idle)'],
  ['GC', (f) => f.functionName === '(garbage collector)'],
  // native code with no JavaScript on the stack: libuv's reads and epoll_wait (Node net, the node engine), the loop's own C
  ['(program): native, no JS', (f) => f.functionName === '(program)'],
  [
    'syscalls and crossings',
    (f, file) =>
      (file.endsWith('engines/epoll/native-sock.js') && /^(read|readLarge|write|writev|sendFile)$/.test(f.functionName)) ||
      (f.url === '' && /^(writev|writeBuffer|writeUtf8String|writeLatin1String|readStart|readStop)$/.test(f.functionName)),
  ],
  [
    'framing',
    (f, file) =>
      file.endsWith('core/inbound.js') ||
      (file.endsWith('core/danga-socket.js') &&
        /^(readExact|readLine|readUntil|readFrame|peek|peekByte|readSome|read|#readFrame|#readIntoStore|#waitForSocket|#updatePushBack|#readSocket|\[danga\.readSocket\])$/.test(
          f.functionName,
        )) ||
      file.endsWith('engines/epoll/native-sock.js') ||
      (file.endsWith('servers/net-job.js') && f.functionName === '') ||
      file.endsWith('servers/danga-job.js') ||
      (file === 'node:buffer' && /^(subarray|slice|adjustOffset|concat|indexOf|bidirectionalIndexOf)$/.test(f.functionName)) ||
      (file === 'node:internal/buffer' && /^(FastBuffer|readUInt32BE)$/.test(f.functionName)),
  ],
  [
    'protocol',
    (f, file) =>
      file.endsWith('servers/job-protocol.js') ||
      /^(latin1Write|latin1Slice|utf8Write)$/.test(f.functionName) ||
      ((file === 'node:buffer' || file === 'node:internal/buffer') &&
        /^(write|writeUInt32BE|toString|allocUnsafe|allocate|createUnsafeBuffer|getEncodingOps|alignPool)$/.test(f.functionName)),
  ],
  [
    'write path',
    (f, file) =>
      file.endsWith('core/outbound.js') ||
      (file.endsWith('core/danga-socket.js') &&
        /^(write|batch|#flush|#outbound|#queueEmpty|end|#queueWatch|\[danga\.(writeOne|wrote|writeFailed|runCallback|drained)\])$/.test(f.functionName)) ||
      file === 'node:internal/streams/writable' ||
      (file === 'node:internal/stream_base_commons' &&
        /^(writevGeneric|writeGeneric|createWriteWrap|afterWriteDispatched|onWriteComplete)$/.test(f.functionName)) ||
      file.endsWith('engines/node/stream-sock.js'),
  ],
  [
    'dispatch',
    (_f, file) =>
      file.endsWith('core/loop.js') ||
      file.endsWith('core/danga-socket.js') ||
      file.includes('engines/') ||
      file === 'node:events' ||
      file === 'node:net' ||
      file === 'node:internal/streams/readable' ||
      file === 'node:internal/stream_base_commons' ||
      file === 'node:internal/process/task_queues' ||
      file === 'node:internal/async_hooks',
  ],
  ['rest', () => true],
];

function categorize(p: Profile): Map<string, number> {
  const perNode = new Map<number, number>();
  p.samples.forEach((id, i) => perNode.set(id, (perNode.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const out = new Map<string, number>(CATEGORIES.map(([c]) => [c, 0]));
  for (const n of p.nodes) {
    const us = perNode.get(n.id) ?? 0;
    if (us === 0) continue;
    const file = n.callFrame.url.replace(/^file:\/\/.*\/dist\//, 'dist/');
    const cat = CATEGORIES.find(([, test]) => test(n.callFrame, file))![0];
    out.set(cat, out.get(cat)! + us);
  }
  return out;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

const id = arg('server', 'danga-job');
const seconds = Number(arg('seconds', '8'));
const server = SERVERS.find((s) => s.id === id && s.heap);
if (!server) throw new Error(`no Node server "${id}" in servers.ts`);
const pin = detectPinning(true, [0, 1], 2);
const loadgen = ensureBuilt('loadgen', 'loadgen/loadgen.c');
const dir = mkdtempSync(join(tmpdir(), 'danga-prof-'));
const script = server.command().at(-1)!;
const env = { ...process.env, ...server.env };
if (!server.env?.DANGA_ENGINE) delete env.DANGA_ENGINE;
const srv = new Proc(
  id,
  wrap(
    [process.execPath, '--cpu-prof', `--cpu-prof-dir=${dir}`, script, '--port', '0', '--mode', server.job ? 'job' : 'echo'],
    pin.enabled ? pin.serverCpu : null,
  ),
  env,
  root,
);
const port = Number((await srv.nextLine(15_000, 'printing its port')).split(' ')[0]);
const load = server.job
  ? ['--mode', 'job', '--conns', '50', '--depth', '16', '--size', '32', '--text-every', '8']
  : ['--mode', 'echo', '--conns', '50', '--depth', '1', '--size', '64'];
const lg = new Proc(
  'loadgen',
  wrap(
    [loadgen, '--port', String(port), '--server-pid', String(srv.pid), ...load, '--warmup', '0.01', '--duration', String(seconds)],
    pin.enabled ? pin.loadgenCpu : null,
  ),
  process.env,
  root,
);
await lg.waitExit((seconds + 60) * 1000);
const r = JSON.parse(lg.remainingLines().find((l) => l.startsWith('{')) ?? '{}') as { total?: number; server_cpu?: number; elapsed_s?: number };
srv.closeStdin(); // the control channel's end: the server exits and writes its profile
await srv.waitExit(30_000);
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
if (!file || !r.total) throw new Error(`no profile or no messages (${JSON.stringify(r)})${srv.stderrHint()}`);
const cats = categorize(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile);
if (process.argv.includes('--keep')) console.log(`profile: ${join(dir, file)}`);
else rmSync(dir, { recursive: true, force: true });
const busy = [...cats].filter(([c]) => c !== '(idle)').reduce((a, [, v]) => a + v, 0);
console.log(
  `${id}: ${r.total.toLocaleString('en-US')} messages; main thread busy ${(busy / 1e6).toFixed(2)} s = ${(busy / r.total).toFixed(2)} µs/message` +
    (r.server_cpu !== undefined && r.elapsed_s ? ` (server CPU, all threads: ${((r.server_cpu * r.elapsed_s * 1e6) / r.total).toFixed(2)} µs/message)` : ''),
);
for (const [c, us] of cats)
  if (c !== '(idle)') console.log(`  ${c.padEnd(24)} ${(us / r.total).toFixed(3).padStart(7)} µs/message  ${((100 * us) / busy).toFixed(1).padStart(5)}%`);
