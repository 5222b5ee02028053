/** Child processes: pinned to a CPU, fd limit raised, stdout read line by line. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface Pinning {
  /** taskset usable and at least two CPUs */
  enabled: boolean;
  loadgenCpu: number;
  serverCpu: number;
  note: string;
}

export function detectPinning(want: boolean, cpus: [number, number], ncpu: number): Pinning {
  const [loadgenCpu, serverCpu] = cpus;
  if (!want) return { enabled: false, loadgenCpu, serverCpu, note: 'pinning disabled (--no-pin)' };
  if (ncpu < 2) return { enabled: false, loadgenCpu, serverCpu, note: 'one CPU: no pinning' };
  const r = spawnSync('taskset', ['-c', String(loadgenCpu), 'true']);
  if (r.error || r.status !== 0) {
    return { enabled: false, loadgenCpu, serverCpu, note: 'taskset (util-linux) not usable: no pinning' };
  }
  return {
    enabled: true,
    loadgenCpu,
    serverCpu,
    note: `load generator on CPU ${loadgenCpu}, server on CPU ${serverCpu} (taskset)`,
  };
}

/** sh -c wrapper: soft fd limit up to the hard limit, then exec (taskset) cmd. Same pid throughout. `cpu`: a CPU or a taskset list ("0,1"). */
export function wrap(cmd: readonly string[], cpu: number | string | null): string[] {
  const pin = cpu === null ? [] : ['taskset', '-c', String(cpu)];
  return ['sh', '-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', ...pin, ...cmd];
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  exit: ExitInfo | null = null;
  private lines: string[] = [];
  private partial = '';
  private waiters: Array<() => void> = [];
  private stderrBuf = '';

  constructor(
    readonly name: string,
    argv: readonly string[],
    env: NodeJS.ProcessEnv,
    cwd: string,
  ) {
    const [file, ...args] = argv;
    if (file === undefined) throw new Error('empty command');
    this.child = spawn(file, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      this.partial += chunk;
      let nl: number;
      while ((nl = this.partial.indexOf('\n')) >= 0) {
        this.lines.push(this.partial.slice(0, nl));
        this.partial = this.partial.slice(nl + 1);
      }
      this.wake();
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      this.stderrBuf = (this.stderrBuf + chunk).slice(-20000);
    });
    this.child.stdin!.on('error', () => {
      /* the child went away; its exit is reported elsewhere */
    });
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exit) return;
        this.exit = { code, signal };
        if (this.partial) {
          this.lines.push(this.partial);
          this.partial = '';
        }
        this.wake();
        resolve(this.exit);
      };
      this.child.on('error', (err) => {
        this.stderrBuf += `\n${err.message}`;
        done(127, null);
      });
      // 'close' waits for stdio to end, so every line has arrived
      this.child.on('close', done);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next stdout line; rejects on timeout or when the process ends first. */
  async nextLine(timeoutMs: number, what: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.exit) throw new Error(`${this.name} ended (${describeExit(this.exit)}) before ${what}${this.stderrHint()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: timed out waiting for ${what}${this.stderrHint()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Every stdout line not consumed yet (after the process ended). */
  remainingLines(): string[] {
    const l = this.lines;
    this.lines = [];
    return l;
  }

  send(line: string): void {
    if (!this.exit && this.child.stdin!.writable) this.child.stdin!.write(line);
  }

  closeStdin(): void {
    this.child.stdin!.end();
  }

  stderrTail(max = 1500): string {
    const s = this.stderrBuf.trim();
    return s.length > max ? '…' + s.slice(-max) : s;
  }

  stderrHint(): string {
    const t = this.stderrTail();
    return t ? `:\n${indent(t)}` : '';
  }

  async waitExit(timeoutMs: number): Promise<ExitInfo | null> {
    if (this.exit) return this.exit;
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      this.exited,
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return r;
  }

  /** SIGTERM, then SIGKILL after a grace period. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exit) return;
    this.child.kill('SIGTERM');
    if (await this.waitExit(graceMs)) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

export function describeExit(e: ExitInfo): string {
  return e.signal ? `signal ${e.signal}` : `exit code ${e.code}`;
}

export function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

/** VmRSS of a process in bytes, from /proc/PID/status. */
export function vmRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/**
 * CPU seconds a process has used: the on-CPU nanoseconds of its threads
 * (/proc/PID/task/*\/schedstat), which resolve what /proc/PID/stat's clock
 * ticks (1/100 s) cannot: a fraction of a percent over a few seconds.
 * (A thread that ends meanwhile takes its time with it.)
 */
export function cpuSeconds(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended
    }
  }
  return ns / 1e9;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
