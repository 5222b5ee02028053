/**
 * Loads the native addon (build/Release/danga_native.node) and describes
 * what it exports. The contract is native/API.md.
 */
import { createRequire } from 'node:module';
import type { SockAddress } from '../../core/transport.js';

/** The functions and constants of the addon. */
export interface NativeBinding {
  init(events: Int32Array, onEvents: (count: number) => number): number;
  start(timeoutMs: number): number;
  arm(timeoutMs: number): void;
  stop(): void;
  poll(): number;
  ctl(op: number, fd: number, mask: number): number;
  read(fd: number, buf: Uint8Array, offset: number, length: number): number;
  write(fd: number, buf: Uint8Array, offset: number, length: number): number;
  writev(fd: number, list: readonly unknown[], start: number, count: number, firstOffset: number): number;
  close(fd: number): number;
  shutdown(fd: number, how: number): number;
  fdType(fd: number): number;
  setNonBlocking?(fd: number): number;
  accept(fd: number): number;
  setsockopt(fd: number, level: number, name: number, value: number): number;
  getsockopt(fd: number, level: number, name: number): number;
  listenTcp(host: string, port: number, backlog: number, reusePort: boolean): number;
  connectTcp(host: string, port: number): number;
  listenUnix(path: string, backlog: number): number;
  connectUnix(path: string): number;
  socketpair(): [number, number];
  getsockname(fd: number): SockAddress;
  getpeername(fd: number): SockAddress;
  constants: Record<string, number>;
}

let cached: NativeBinding | null | undefined;
let loadError: unknown = null;

/** The addon, or null when it cannot be loaded (see `nativeLoadError()`). */
export function loadBinding(): NativeBinding | null {
  if (cached !== undefined) return cached;
  try {
    const require = createRequire(import.meta.url);
    const path = new URL('../../../../build/Release/danga_native.node', import.meta.url);
    cached = require(path.pathname) as NativeBinding;
  } catch (err) {
    loadError = err;
    cached = null;
  }
  return cached;
}

/** Why the addon could not be loaded. */
export function nativeLoadError(): unknown {
  return loadError;
}
