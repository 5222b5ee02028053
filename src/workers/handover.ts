/**
 * Taking over listening sockets from another process, so that a restart or
 * an upgrade refuses no connection: systemd socket activation (the
 * `LISTEN_FDS` protocol of `sd_listen_fds(3)`), and a running process
 * starting its successor with its sockets inherited (nginx's binary
 * upgrade), which speaks the same protocol.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { invalidArgType, stateError, validateInteger, validateObject } from '../core/errors.js';
import type { WorkerListen } from './group.js';

/** The first inherited fd (SD_LISTEN_FDS_START). */
const FIRST_FD = 3;
/** The prefix of the names spawnSuccessor gives the fds of each listen entry. */
const ENTRY_NAME = 'danga-listen-';
/** What a successor sends its predecessor once it serves. */
const READY = 'danga-socket:ready';

/**
 * The listening sockets this process inherited, as `WorkerGroup` listen
 * entries, or null when it inherited none. Follows `sd_listen_fds(3)`:
 * `LISTEN_PID` must be this process, `LISTEN_FDS` says how many fds follow
 * fd 2; the variables are removed from `process.env` (so that children do
 * not see them). Fds named `danga-listen-<i>` (`LISTEN_FDNAMES`, as
 * `spawnSuccessor` names them) are grouped into entry i; any other fd is an
 * entry of its own, in order. The group makes them non-blocking and
 * close-on-exec.
 *
 * @throws Error `ERR_DANGA_BAD_LISTEN_FDS` when `LISTEN_FDS` is set for this process but is not a count.
 * @original new in danga-socket (not in Danga::Socket 1.62): `sd_listen_fds(3)`
 */
export function inheritedListen(): WorkerListen[] | null {
  const env = process.env;
  const pid = env.LISTEN_PID;
  const count = env.LISTEN_FDS;
  const names = env.LISTEN_FDNAMES;
  if (pid === undefined || count === undefined || Number(pid) !== process.pid) return null;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  const n = Number(count);
  if (!/^\d+$/.test(count) || n > 65536) throw stateError('ERR_DANGA_BAD_LISTEN_FDS', `LISTEN_FDS must be a count of fds. Received ${JSON.stringify(count)}`);
  if (n === 0) return null;
  const nameOf = names === undefined ? [] : names.split(':');
  const entries: number[][] = [];
  const byEntry = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const fd = FIRST_FD + i;
    const name = nameOf[i] ?? '';
    const index = name.startsWith(ENTRY_NAME) ? Number(name.slice(ENTRY_NAME.length)) : NaN;
    if (Number.isInteger(index) && index >= 0) {
      let fds = byEntry.get(index);
      if (fds === undefined) {
        fds = [];
        byEntry.set(index, fds);
      }
      fds.push(fd);
    } else {
      entries.push([fd]);
    }
  }
  const named = [...byEntry.keys()].sort((a, b) => a - b).map((k) => byEntry.get(k)!);
  return [...named, ...entries].map((fds) => ({ fds }));
}

/**
 * Options of `spawnSuccessor`.
 *
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export interface SpawnSuccessorOptions {
  /** The listening fds to hand over, per listen entry: `WorkerGroup#listenFds()`. */
  readonly fds: readonly (readonly number[])[];
  /** The successor's environment (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
  /** Its working directory (default this process's). */
  readonly cwd?: string;
  /** Seconds to wait for it to call `announceReady()` before it is killed and the promise rejects (default 60). */
  readonly timeout?: number;
}

/**
 * Starts the process that takes over (a new version of the program, say):
 * `command` with `args`, inheriting the listening `fds` as fds 3, 4, …
 * with `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES` set, as systemd
 * would, so that its `inheritedListen()` finds them. Resolves once it called
 * `announceReady()` (it serves: now shut this process down gracefully);
 * rejects when it exits first or does not announce itself in time (it is
 * then killed). Connections arriving meanwhile wait in the sockets' queues,
 * which both processes hold: none is refused.
 *
 * @throws TypeError (code `ERR_INVALID_ARG_TYPE`) for a bad command, args or fds; rejects with Error `ERR_DANGA_SUCCESSOR_FAILED` when the successor exits or times out first.
 * @original new in danga-socket (not in Danga::Socket 1.62): nginx's binary upgrade (USR2), HAProxy's seamless reload
 */
export function spawnSuccessor(command: string, args: readonly string[], options: SpawnSuccessorOptions): Promise<ChildProcess> {
  if (typeof command !== 'string' || command === '') throw invalidArgType('command', 'a non-empty string', command);
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) throw invalidArgType('args', 'an array of strings', args);
  validateObject('options', options);
  if (!Array.isArray(options.fds)) throw invalidArgType('options.fds', 'an array of fd arrays', options.fds);
  const fds: number[] = [];
  const names: string[] = [];
  options.fds.forEach((entry, i) => {
    if (!Array.isArray(entry)) throw invalidArgType(`options.fds[${i}]`, 'an array of fds', entry);
    for (const fd of entry) {
      fds.push(validateInteger(`options.fds[${i}][]`, fd, 0, 0x7fffffff));
      names.push(`${ENTRY_NAME}${i}`);
    }
  });
  const timeout = options.timeout ?? 60;
  if (typeof timeout !== 'number' || !(timeout > 0)) throw invalidArgType('options.timeout', 'a number of seconds > 0', timeout);
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env), LISTEN_FDS: String(fds.length), LISTEN_FDNAMES: names.join(':') };
  delete env.LISTEN_PID;
  // LISTEN_PID is the successor's own pid: a shell learns it and execs, keeping it.
  const stdio: (number | 'inherit' | 'ipc')[] = ['inherit', 'inherit', 'inherit', ...fds, 'ipc'];
  const child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"', command, ...(args as readonly string[])], {
    stdio,
    env,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  return new Promise<ChildProcess>((resolve, reject) => {
    const fail = (why: string): void => {
      cleanup();
      child.kill('SIGKILL');
      reject(Object.assign(new Error(`the successor ${command} ${why}`), { code: 'ERR_DANGA_SUCCESSOR_FAILED' }));
    };
    const timer = setTimeout(() => fail(`did not call announceReady() within ${timeout} s`), timeout * 1000);
    const onMessage = (m: unknown): void => {
      if (m !== READY) return;
      cleanup();
      if (child.connected) child.disconnect();
      child.unref();
      resolve(child);
    };
    const onExit = (code: number | null, signal: string | null): void => fail(`exited (${signal ?? `code ${code}`}) before it was ready`);
    const onError = (err: Error): void => fail(`could not be started: ${err.message}`);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.on('error', onError);
  });
}

/**
 * Tells the predecessor that started this process (`spawnSuccessor`) that
 * it serves now, so that the predecessor shuts down; does nothing in a
 * process started otherwise. Call it once the group has started.
 *
 * @returns true when a predecessor was told.
 * @throws Nothing.
 * @original new in danga-socket (not in Danga::Socket 1.62)
 */
export function announceReady(): boolean {
  if (typeof process.send !== 'function' || !process.connected) return false;
  process.send(READY, () => {
    if (process.connected) process.disconnect();
  });
  return true;
}
