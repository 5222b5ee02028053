/**
 * Loads the native addon and describes what it exports. node-gyp-build finds
 * it from the package root (never from a path counted from this compiled
 * file): build/Release/danga_native.node when it was compiled here (a
 * checkout of the project, or an install without a matching prebuild), else
 * the prebuild shipped in the package for this platform and libc,
 * prebuilds/linux-<arch>/danga-socket.glibc.node (`npm run prebuild`).
 * Neither: loadBinding() returns null and the node engine runs, with one
 * warning (engines/install.ts).
 *
 * The contract is native/API.md: every function returns a number (>= 0, or a
 * negative errno) or its data; C throws no OS error, and only the one
 * internal error (`ERR_DANGA_NATIVE`) for arguments that would make it touch
 * memory it must not. Callers validate arguments first and make every
 * user-visible error themselves (core/errors.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SockAddress } from '../../core/contract.js';

/** The ops of `ctl()` (epoll_ctl); C asserts the same values at compile time. */
export const EPOLL_CTL = { ADD: 1, DEL: 2, MOD: 3 } as const;

/**
 * How listenTcp/connectTcp/listenUnix/connectUnix fail: the negative errno
 * and the step that failed ('socket', 'setsockopt', 'bind', 'listen',
 * 'connect'). Success is the new fd, a number.
 */
export interface SetupFailure {
  readonly errno: number;
  readonly syscall: string;
}

/**
 * The functions of the addon. Every fd it creates or adopts is owned by the
 * Node environment (main thread or worker) that made it until `close()`;
 * teardown of that environment (exit, `worker.terminate()`) closes the
 * ones still open.
 */
export interface NativeBinding {
  init(events: Int32Array, onEvents: (count: number) => number): number;
  start(timeoutMs: number): number;
  arm(timeoutMs: number): void;
  stop(): void;
  ctl(op: number, fd: number, mask: number): number;
  read(fd: number, buf: Uint8Array, offset: number, length: number): number;
  write(fd: number, buf: Uint8Array, offset: number, length: number): number;
  /** Takes `slots` (a Float64Array of 4, private to the library) as this environment's shared slots of readIo/writeIo. */
  ioInit(slots: Float64Array): void;
  /** read(2) of fd `ioSlots[0]` into bytes `ioSlots[1] .. +ioSlots[2]` of the ArrayBuffer `buf`; the result (bytes, 0, -errno) in `ioSlots[3]`. */
  readIo(buf: ArrayBufferLike): void;
  /** write(2) of `buf[ioSlots[1] .. +ioSlots[2])` to fd `ioSlots[0]`; the result (bytes or -errno) in `ioSlots[3]`. */
  writeIo(buf: Uint8Array): void;
  writev(fd: number, list: readonly unknown[], start: number, count: number, firstOffset: number): number;
  /** sendfile(2) of `count` bytes of `fileFd` from `position` to the socket `fd`: bytes sent, 0 at the file's end, or -errno. */
  sendfile(fd: number, fileFd: number, position: number, count: number): number;
  close(fd: number): number;
  shutdown(fd: number, how: number): number;
  /** A close-on-exec dup of `fd` for Node (STARTTLS): not owned by the addon. */
  dup(fd: number): number;
  fdType(fd: number): number;
  /**
   * Makes an fd handed over by number the addon's: sets O_NONBLOCK and owns
   * it from then on (closed at environment teardown unless closed before).
   * 0 or -errno.
   */
  adopt(fd: number): number;
  accept(fd: number): number;
  setNoDelay(fd: number, on: boolean): number;
  setCork(fd: number, on: boolean): number;
  /** The pending error (SO_ERROR) as a positive errno, 0 if none; -errno when it cannot be read. */
  socketError(fd: number): number;
  listenTcp(host: string, port: number, backlog: number, reusePort: boolean): number | SetupFailure;
  connectTcp(host: string, port: number): number | SetupFailure;
  listenUnix(path: string, backlog: number): number | SetupFailure;
  connectUnix(path: string): number | SetupFailure;
  socketpair(): [number, number] | number;
  getsockname(fd: number): SockAddress | number;
  getpeername(fd: number): SockAddress | number;
  /** For tests: the syscalls this thread made through the addon so far (each attempt counted). */
  syscalls(): SyscallCounts;
}

/** What `syscalls()` counts: read(2), write(2), writev(2), sendfile(2) and epoll_ctl(2) calls. */
export interface SyscallCounts {
  readonly read: number;
  readonly write: number;
  readonly writev: number;
  readonly sendfile: number;
  readonly epollCtl: number;
}

const PACKAGE_NAME = 'danga-socket';

/**
 * The slots of the hot path's calls (native/io_slots.h): fd, offset and
 * length go in 0-2, `readIo(buf)`/`writeIo(buf)` leave the result in 3.
 * Numbers passed this way spare the crossing four of its six N-API calls.
 * Private to the engine: C keeps a pointer to its memory.
 */
export const ioSlots = new Float64Array(4);

/**
 * @internal Gives the addon the shared slots (loadBinding() does); an addon
 * built before readIo/writeIo existed (a stale prebuild) gets both in
 * JavaScript over read()/write(), so it still works, at the old cost.
 */
export function initIo(b: NativeBinding): void {
  const io = ioSlots;
  if (typeof (b as Partial<NativeBinding>).ioInit === 'function') {
    b.ioInit(io);
    return;
  }
  b.readIo = (buf) => {
    io[3] = b.read(io[0]!, new Uint8Array(buf), io[1]!, io[2]!);
  };
  b.writeIo = (buf) => {
    io[3] = b.write(io[0]!, buf, io[1]!, io[2]!);
  };
}

let cached: NativeBinding | null | undefined;
let loadError: unknown = null;

/**
 * The package's root directory: where its package.json is. Through the
 * package's self-reference first ('danga-socket/package.json' is exported),
 * else by walking up from this file to the package.json that names it.
 */
function packageRoot(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve(`${PACKAGE_NAME}/package.json`));
  } catch {
    // no self-reference (an old resolver, a bundle): look for it
  }
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        if ((JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // not ours (or unreadable): keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The addon, or null when it cannot be loaded (see `nativeLoadError()`). */
export function loadBinding(): NativeBinding | null {
  if (cached !== undefined) return cached;
  try {
    const require = createRequire(import.meta.url);
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    const b = nodeGypBuild(packageRoot()) as NativeBinding;
    initIo(b);
    cached = b;
  } catch (err) {
    // (node-gyp-build's message spans lines: make it one, for warnings.)
    const message = err instanceof Error ? err.message.trim().replace(/\s*\n\s*/g, '; ') : String(err);
    loadError = err instanceof Error && message !== err.message ? new Error(message, { cause: err }) : err;
    cached = null;
  }
  return cached;
}

/** Why the addon could not be loaded. */
export function nativeLoadError(): unknown {
  return loadError;
}
