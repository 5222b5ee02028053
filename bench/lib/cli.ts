/** Command-line options of `npm run bench -- …`. */

export interface Options {
  scenarios: string[];
  servers: string[];
  rounds: number | null;
  quick: boolean;
  warmupS: number | null;
  durationS: number | null;
  pin: boolean;
  cpus: [number, number];
  fresh: boolean;
  write: boolean;
  list: boolean;
  help: boolean;
  /** a built checkout whose library the `-base` servers run */
  baseline: string | null;
  /** also run the syscall scenarios (strace) */
  syscalls: boolean;
}

export const USAGE = `usage: npm run bench -- [options]

  --scenario ID[,ID…]   scenarios to run (repeatable); an ID also selects
                        every scenario starting with "ID-" (e.g. pingpong, timers)
  --server ID[,ID…]     servers to run (repeatable); default: all available
  --rounds N            rounds per scenario, servers in alternation (default 3; --quick: 1)
  --quick               smoke run (under a minute): 1 round, 0.15 s warm-up,
                        0.4 s measured, 128 MiB stream, 2,000 idle connections,
                        timers only at 100k (fire and cancel)
  --warmup S            warm-up seconds before counting (default 1)
  --duration S          measured seconds (default 3)
  --cpus L,S            CPU of the load generator and of the server (default 0,1)
  --no-pin              do not pin processes to CPUs
  --baseline DIR        also run the DangaSocket servers on the library built in
                        DIR (another checkout, after npm install), as servers
                        "<id>-base", in the same run: before and after at once
  --syscalls            also run the syscall scenarios (syscalls-*: strace -c on
                        the server, and the epoll engine's crossings per message);
                        they run only when asked for (this flag, or by id)
  --fresh               forget earlier results instead of merging into latest.json
  --no-write            do not write bench/results or BENCHMARKS.md
  --list                list scenarios and servers, then exit
  --help                this text
`;

function num(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number`);
  return n;
}

export function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    scenarios: [],
    servers: [],
    rounds: null,
    quick: false,
    warmupS: null,
    durationS: null,
    pin: true,
    cpus: [0, 1],
    fresh: false,
    write: true,
    list: false,
    help: false,
    baseline: null,
    syscalls: false,
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    let v: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const value = (): string => {
      if (v !== undefined) return v;
      const next = argv[++i];
      if (next === undefined) throw new Error(`${a} needs a value`);
      return next;
    };
    switch (a) {
      case '--scenario':
      case '--scenarios':
        o.scenarios.push(...value().split(',').filter(Boolean));
        break;
      case '--server':
      case '--servers':
        o.servers.push(...value().split(',').filter(Boolean));
        break;
      case '--rounds':
        o.rounds = Math.round(num(a, value()));
        break;
      case '--warmup':
        o.warmupS = num(a, value());
        break;
      case '--duration':
        o.durationS = num(a, value());
        break;
      case '--cpus': {
        const c = value().split(',').map(Number);
        if (c.length !== 2 || c.some((x) => !Number.isInteger(x) || x < 0)) throw new Error('--cpus needs two CPU numbers, e.g. 0,1');
        o.cpus = [c[0]!, c[1]!];
        break;
      }
      case '--quick':
        o.quick = true;
        break;
      case '--no-pin':
        o.pin = false;
        break;
      case '--baseline':
        o.baseline = value();
        break;
      case '--syscalls':
        o.syscalls = true;
        break;
      case '--fresh':
        o.fresh = true;
        break;
      case '--no-write':
        o.write = false;
        break;
      case '--list':
        o.list = true;
        break;
      case '--help':
      case '-h':
        o.help = true;
        break;
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  return o;
}
