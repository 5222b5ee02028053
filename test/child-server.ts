/**
 * A server fixture in a child process, for the tests that need one of their
 * own (a low fd limit, signals, an exit code): it is started on the engine
 * this test process runs, prints one line per event on stdout, and the test
 * waits for lines, never for time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DangaSocket } from 'danga-socket';

/** How the child ended: its exit code, or the signal that killed it. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** True when prlimit (util-linux) is installed. */
export const havePrlimit = spawnSync('sh', ['-c', 'command -v prlimit']).status === 0;

/** Why a test that needs prlimit is skipped without it. */
export const NEEDS_PRLIMIT = 'needs prlimit (Debian package util-linux) to run the server under a low fd limit';

/** Clock ticks per second of /proc/<pid>/stat's CPU times. */
const CLK_TCK = ((): number => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout);
  return r.status === 0 && Number.isInteger(n) && n > 0 ? n : 100;
})();

/** A fixture script of test/**\/fixtures, running in a child process. */
export class ChildServer {
  readonly child: ChildProcess;
  /** Every line the child printed so far. */
  readonly lines: string[] = [];
  /** Settles when the child has exited. */
  readonly exited: Promise<ChildExit>;
  #exit: ChildExit | null = null;
  #partial = '';
  #stderr = '';
  readonly #waiters = new Set<() => void>();

  /**
   * @param script the compiled fixture, e.g. `new URL('./fixtures/x.js', import.meta.url)`
   * @param args its arguments
   * @param nofile run it under `prlimit --nofile=<n>:<n>` (check `havePrlimit` first)
   * @param env more environment
   */
  constructor(script: URL, args: string[] = [], nofile?: number, env: Record<string, string> = {}) {
    const node = [process.execPath, fileURLToPath(script), ...args];
    const [cmd, ...argv] = nofile === undefined ? node : ['prlimit', `--nofile=${nofile}:${nofile}`, ...node];
    // prlimit execs the command: the pid stays the server's (its CPU times are read from /proc).
    this.child = spawn(cmd as string, argv, {
      env: { ...process.env, DANGA_ENGINE: DangaSocket.engine(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split('\n');
      this.#partial = parts.pop() ?? '';
      this.lines.push(...parts);
      this.#wake();
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      this.#stderr += chunk;
    });
    // 'close', not 'exit': by then everything the child printed has been read.
    this.exited = new Promise<ChildExit>((resolve) => {
      this.child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.#exit = { code, signal };
        this.#wake();
        resolve(this.#exit);
      });
    });
  }

  /** What the child wrote to stderr so far (for failure messages). */
  get stderr(): string {
    return this.#stderr;
  }

  #wake(): void {
    for (const w of Array.from(this.#waiters)) w();
  }

  /**
   * Resolves once `done()` holds, checked now and after each line the child
   * prints (and whenever `poke()` is called); rejects if the child exits first.
   */
  until(done: () => boolean, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (done()) {
          this.#waiters.delete(check);
          resolve();
        } else if (this.#exit !== null) {
          this.#waiters.delete(check);
          reject(new Error(`the server exited (${JSON.stringify(this.#exit)}) before ${what}; stderr: ${this.#stderr}`));
        }
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Re-checks the pending `until()` conditions (for conditions that depend on more than the child's lines). */
  poke(): void {
    this.#wake();
  }

  /** Resolves with the first line that starts with `prefix` (one already printed counts). */
  async line(prefix: string): Promise<string> {
    await this.until(() => this.lines.some((l) => l.startsWith(prefix)), `a line starting with ${JSON.stringify(prefix)}`);
    return this.lines.find((l) => l.startsWith(prefix)) as string;
  }

  /** The lines that start with `prefix`. */
  linesStarting(prefix: string): string[] {
    return this.lines.filter((l) => l.startsWith(prefix));
  }

  /** The port of the `port <n>` line. */
  async port(): Promise<number> {
    return Number((await this.line('port ')).slice('port '.length));
  }

  /** CPU seconds (user + system) the child has used so far, from /proc/<pid>/stat. */
  cpuSeconds(): number {
    const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is [0], utime [11], stime [12].
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  }

  /** Kills the child (if still running) and waits for it. */
  async kill(): Promise<void> {
    if (this.#exit === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
