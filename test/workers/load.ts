/**
 * The C client of the worker-group tests (fixtures/conn-client.c), built
 * once per machine with cc, and a way to run it under a test.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../../../test/workers/fixtures/conn-client.c', import.meta.url));

/** What conn-client printed at its end. */
export interface LoadResult {
  ok: number;
  refused: number;
  reset_before_accept: number;
  failed_after_accept: number;
  corrupt: number;
  timeout: number;
  per_slot: number[];
}

let built: string | null | undefined;

/** The client's path, or null when it cannot be built here (no cc). */
export function connClient(): string | null {
  if (built !== undefined) return built;
  const text = readFileSync(source);
  const out = join(tmpdir(), `danga-conn-client-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`);
  if (!existsSync(out)) {
    const r = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', `${out}.tmp`, source], { encoding: 'utf8' });
    if (r.status !== 0) {
      built = null;
      return null;
    }
    spawnSync('mv', [`${out}.tmp`, out]);
  }
  built = out;
  return out;
}

/** A running client: `started` resolves once its first connections are out; `stop()` ends it and gives its counts. */
export interface Load {
  readonly started: Promise<void>;
  readonly done: Promise<LoadResult>;
  stop(): Promise<LoadResult>;
}

/** Starts the client against 127.0.0.1:`port` with `conns` connections in flight (at most `total`, 0: until stopped; at most `seconds`). */
export function startLoad(port: number, conns: number, total = 0, seconds = 120): Load {
  const bin = connClient();
  if (bin === null) throw new Error('conn-client could not be built');
  const child = spawn(bin, ['--port', String(port), '--conns', String(conns), '--total', String(total), '--seconds', String(seconds)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    out += d;
    if (out.includes('"started"')) markStarted();
  });
  const done = new Promise<LoadResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      markStarted();
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{"ok"')) reject(new Error(`conn-client exited with ${code}: ${out}`));
      else resolve(JSON.parse(last) as LoadResult);
    });
  });
  return {
    started,
    done,
    stop: () => {
      child.kill('SIGTERM');
      return done;
    },
  };
}

/** Open fds of this process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}
