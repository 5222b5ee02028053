/**
 * Micro-benchmark of the native binding's hot-path calls, one process, one
 * or more builds of the addon side by side (rounds alternate between them,
 * so a ratio never mixes runs):
 *
 *   node dist/bench/native-calls.js [label=path/to/danga_native.node ...]
 *
 * Without arguments it measures the package's own build. Calls measured:
 * read() on an empty socketpair (EAGAIN: the cost of the crossing and the
 * argument handling, nearly no kernel work), accept() on a listener with
 * nothing pending (EAGAIN), a 16-byte write()+read() pingpong on a
 * socketpair, and writev() of 4 small buffers + read().
 *
 * On a virtual machine a syscall can cost ~1 µs, ten times the binding's
 * own work, and wall times of two identical builds differ by 10-20% from
 * run to run. The binding's own cost is counted exactly, in instructions,
 * by callgrind (danga_read etc., inclusive of their N-API calls), one build
 * per process (callgrind counts only the first of two addons loaded):
 *
 *   ROUNDS=1 CALLS=20000 valgrind --tool=callgrind --toggle-collect='danga_*' \
 *     node dist/bench/native-calls.js build=path/to/danga_native.node
 *   callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep danga_
 *
 * (20000 calls: read EAGAIN 20000 times, then 5000 iterations of each pair.)
 */
import { createRequire } from 'node:module';
import { loadBinding } from '../src/engines/epoll/binding.js';

interface Calls {
  read(fd: number, buf: Uint8Array, offset: number, length: number): number;
  write(fd: number, buf: Uint8Array, offset: number, length: number): number;
  writev(fd: number, list: readonly unknown[], start: number, count: number, firstOffset: number): number;
  accept(fd: number): number;
  close(fd: number): number;
  socketpair(): [number, number] | number;
  listenTcp(host: string, port: number, backlog: number, reusePort: boolean): unknown;
}

const require = createRequire(import.meta.url);
const builds: { label: string; b: Calls }[] = [];
for (const arg of process.argv.slice(2)) {
  const eq = arg.indexOf('=');
  const label = eq > 0 ? arg.slice(0, eq) : arg;
  builds.push({ label, b: require(eq > 0 ? arg.slice(eq + 1) : arg) as Calls });
}
if (builds.length === 0) {
  const b = loadBinding();
  if (b === null) throw new Error('the addon is not built');
  builds.push({ label: 'this build', b: b });
}

const CALLS = Number(process.env.CALLS ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 9);

type Op = (b: Calls, fds: Fds) => void;
interface Fds {
  a: number;
  c: number;
  l: number;
}

const buf = Buffer.allocUnsafeSlow(65536);
const small = Buffer.from('0123456789abcdef');
const list = [small, small, small, small];

const ops: [string, number, Op][] = [
  [
    'read EAGAIN',
    CALLS,
    (b, f) => {
      for (let i = 0; i < CALLS; i++) b.read(f.a, buf, 0, 65536);
    },
  ],
  [
    'accept EAGAIN',
    CALLS,
    (b, f) => {
      for (let i = 0; i < CALLS; i++) b.accept(f.l);
    },
  ],
  [
    'write+read 16 B',
    CALLS / 4,
    (b, f) => {
      for (let i = 0; i < CALLS / 4; i++) {
        b.write(f.a, small, 0, 16);
        b.read(f.c, buf, 0, 65536);
      }
    },
  ],
  [
    'writev(4)+read',
    CALLS / 4,
    (b, f) => {
      for (let i = 0; i < CALLS / 4; i++) {
        b.writev(f.a, list, 0, 4, 0);
        b.read(f.c, buf, 0, 65536);
      }
    },
  ],
];

function open(b: Calls): Fds {
  const pair = b.socketpair();
  if (!Array.isArray(pair)) throw new Error(`socketpair failed: ${String(pair)}`);
  const l = b.listenTcp('127.0.0.1', 0, 16, false);
  if (typeof l !== 'number' || l < 0) throw new Error('listenTcp failed');
  return { a: pair[0], c: pair[1], l };
}

// Wall time, and user CPU time alone: the binding's own cost (argument
// conversion, N-API calls) is user time; the syscall is mostly system time,
// which on a virtual machine can dwarf the rest. Each op runs on every build
// in turn (the order rotating each round) before the next op starts.
const wall = new Map<string, number[]>();
const user = new Map<string, number[]>();
const fds = builds.map(({ b }) => open(b));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, n, op] of ops) {
    for (let k = 0; k < builds.length; k++) {
      const j = (k + round) % builds.length;
      const { label, b } = builds[j]!;
      const u0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      op(b, fds[j]!);
      const ns = Number(process.hrtime.bigint() - t0) / n;
      const userNs = (process.cpuUsage(u0).user * 1000) / n;
      const key = `${label}\0${name}`;
      (wall.get(key) ?? wall.set(key, []).get(key)!).push(ns);
      (user.get(key) ?? user.set(key, []).get(key)!).push(userNs);
    }
  }
}
builds.forEach(({ b }, j) => {
  b.close(fds[j]!.a);
  b.close(fds[j]!.c);
  b.close(fds[j]!.l);
});

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s[s.length >> 1]!;
};

const base = builds[0]!.label;
for (const [title, table] of [
  ['wall', wall],
  ['user CPU', user],
] as const) {
  console.log(`\n${title} ns per call (per iteration for the pairs), median of ${ROUNDS} rounds, builds alternating`);
  console.log(['op'.padEnd(18), ...builds.map((x) => x.label.padStart(12)), ...builds.slice(1).map((x) => `${x.label}/${base}`.padStart(16))].join(''));
  for (const [name] of ops) {
    const row = builds.map((x) => median(table.get(`${x.label}\0${name}`)!));
    console.log([name.padEnd(18), ...row.map((v) => v.toFixed(1).padStart(12)), ...row.slice(1).map((v) => (v / row[0]!).toFixed(3).padStart(16))].join(''));
  }
}
