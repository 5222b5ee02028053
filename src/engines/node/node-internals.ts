/**
 * Every use the node engine makes of a Node internal (a member that is not
 * in Node's documented API), each as a small typed function, and the
 * self-check that verifies them, once, on throwaway objects.
 *
 * Nothing else in src/engines/node reads or calls an underscored member of
 * a Node object. Each function says why it is needed and which documented
 * API was considered and rejected. The check runs when an internal is first
 * needed, never when the package loads (the epoll engine, or another
 * runtime's streams, may never need them): a runtime that lacks one (a
 * future Node, Bun) gets an Error with code ERR_DANGA_NODE_UNSUPPORTED naming
 * what is missing from the feature that needs it, at once, instead of a
 * socket misbehaving later; where a documented API does the same job on this
 * runtime (a synchronous `server.listen()`), that is used instead.
 */
import net from 'node:net';
import { Duplex, Readable } from 'node:stream';
import tls from 'node:tls';
import { noop } from '../../core/constants.js';
import { stateError } from '../../core/errors.js';

/** The internal members read here, typed as far as they are used. */
interface StreamWithState {
  _readableState?: { ended?: unknown } | null;
}
interface ServerWithListen2 {
  _listen2?: unknown;
}
interface SocketWithHandle {
  _handle?: { verifyError?: unknown } | null;
}
interface TlsSocketWithControl {
  _releaseControl?: unknown;
}
type Listen2 = (this: net.Server, address: string, port: number, addressType: number, backlog: number) => void;
type VerifyError = () => (Error & { code?: string }) | null;
type ReleaseControl = (this: tls.TLSSocket) => boolean;

/**
 * True once the stream has received its end of stream (EOF pushed), even if
 * data before it is still buffered and 'end' was not emitted yet.
 *
 * Why: a socket reports its EOF as soon as it arrives (readable; `read()`
 * returns null once the data before it is read), without being read first.
 * Rejected: `readable.readableEnded` (documented) only turns true after
 * 'end' was emitted, which in paused mode takes a `read()` returning null;
 * probing with `read(0)` would restart reading from the OS and so undo the
 * backpressure a reader that stopped reading relies on.
 * A duck-typed stream without the internal state falls back to
 * `readableEnded`.
 */
export function eofReceived(stream: Readable): boolean {
  const state = (stream as Readable & StreamWithState)._readableState;
  if (state !== null && state !== undefined && typeof state.ended === 'boolean') return state.ended;
  return stream.readableEnded === true;
}

/**
 * Binds and listens `server` synchronously, on `address` (an IP literal,
 * `addressType` 4 or 6) and `port`, or on the Unix socket `address` (port and
 * addressType -1). Returns `server.listening`: true on success. On failure
 * the server emits 'error' on the next tick, and Node (>= 20.16) publishes
 * the error at once on the documented diagnostics channel
 * 'tracing:net.server.listen:error' (see sockets.ts).
 *
 * Why: the helpers bind and listen synchronously, as the epoll engine does,
 * so `localAddress()` works and a bind error is known when they return.
 * Rejected: `server.listen({ host, port })` (documented) resolves the host
 * with dns.lookup first, even an IP literal, and binds on a later tick;
 * `server.listen({ port })` binds at once but only on the wildcard address;
 * `server.listen(handle)` needs a bound handle, which only internals make.
 * `_listen2` is the step of `listen()` after the lookup (Node keeps the
 * name "to avoid breaking code that wraps this method"). A runtime without
 * it whose `server.listen()` binds before it returns (Bun) gets that call;
 * one without either, ERR_DANGA_NODE_UNSUPPORTED.
 */
export function listenSync(server: net.Server, address: string, port: number, addressType: 4 | 6 | -1, backlog: number): boolean {
  const listen2 = (server as net.Server & ServerWithListen2)._listen2;
  if (typeof listen2 === 'function') {
    (listen2 as Listen2).call(server, address, port, addressType, backlog);
    return server.listening;
  }
  // A runtime without it (Bun) may bind in server.listen() itself: then the
  // documented call does what _listen2 does.
  if (!bindsSynchronously()) throw unsupported('bind and listen synchronously', ['net.Server#_listen2']);
  server.listen(addressType === -1 ? { path: address, backlog } : { host: address, port, backlog });
  return server.listening;
}

let syncListen: boolean | undefined;

/**
 * True when this runtime's documented `server.listen({ host, port })` has
 * bound and listens when it returns (Bun's does; Node's resolves the host
 * first and binds on a later tick). Probed once, on 127.0.0.1, port 0.
 */
function bindsSynchronously(): boolean {
  if (syncListen !== undefined) return syncListen;
  const probe = net.createServer();
  probe.on('error', noop);
  probe.listen({ host: '127.0.0.1', port: 0 });
  syncListen = probe.listening;
  if (syncListen) {
    probe.close();
  } else {
    // Node binds after its lookup, closed or not: close it then, and let it not hold the process meanwhile.
    probe.unref();
    probe.once('listening', () => probe.close());
  }
  return syncListen;
}

/**
 * Makes a server-side TLSSocket emit its TLS errors as 'error', as
 * `tls.connect()` does for client sockets at once and `tls.Server` once a
 * handshake succeeded.
 *
 * Why: until control is released, a TLSSocket reports some errors (the
 * handshake timeout, errors after the handshake) only through an internal
 * '_tlsError' event and neither emits 'error' nor closes. Rejected:
 * `tls.Server` (documented) hands a connection out only after its
 * handshake, and handshake errors go to its 'tlsClientError' event, not to
 * the DangaSocket that should own the connection from the start.
 */
export function releaseTlsControl(socket: tls.TLSSocket): void {
  requireInternals('make a server-side TLS socket', ['tls.TLSSocket#_releaseControl']);
  const release = (socket as tls.TLSSocket & TlsSocketWithControl)._releaseControl as ReleaseControl;
  release.call(socket);
}

/**
 * Node's verdict on the peer's certificate after the handshake: null when
 * it is signed by one of the trusted CAs, else the error (code
 * 'DEPTH_ZERO_SELF_SIGNED_CERT', …).
 *
 * Why: with `requestCert`, OpenSSL completes the handshake whatever the
 * client sends, and Node checks the certificate afterwards with this call
 * (tls.Server in its 'secure' handler). Rejected: checking
 * `getPeerX509Certificate()` (documented) with `X509Certificate#verify`
 * would re-implement chain verification (intermediates, purposes, dates),
 * which is not code to write twice.
 */
export function tlsVerifyError(socket: tls.TLSSocket): (Error & { code?: string }) | null {
  requireInternals("verify a TLS client's certificate (requestCert)", ['tls.TLSSocket#_handle.verifyError']);
  const handle = (socket as tls.TLSSocket & SocketWithHandle)._handle;
  if (handle === null || handle === undefined) return null; // destroyed
  return (handle.verifyError as VerifyError).call(handle);
}

// ------------------------------------------------------------------ self-check

/** The objects the self-check looks at: throwaway real ones in `selfCheck()`, any shape in tests. */
export interface InternalsSubjects {
  /** A Readable that has received its EOF (`push(null)`) and was not read. */
  readonly endedStream: object;
  /** A fresh Readable, nothing pushed. */
  readonly freshStream: object;
  /** A net.Server (its prototype will do). */
  readonly server: object;
  /** A tls.TLSSocket with a handle (not destroyed). */
  readonly tlsSocket: object;
}

interface Check {
  /** The internal, as the error names it. */
  readonly name: string;
  readonly ok: (s: InternalsSubjects) => boolean;
}

function member(value: object, key: string): unknown {
  return (value as Record<string, unknown>)[key];
}

function handleOf(value: object): object | null {
  const h = member(value, '_handle');
  return typeof h === 'object' && h !== null ? h : null;
}

function endedFlag(value: object): unknown {
  const state = member(value, '_readableState');
  return typeof state === 'object' && state !== null ? member(state, 'ended') : undefined;
}

const CHECKS: readonly Check[] = [
  { name: 'stream.Readable#_readableState.ended', ok: (s) => endedFlag(s.freshStream) === false && endedFlag(s.endedStream) === true },
  { name: 'net.Server#_listen2', ok: (s) => typeof member(s.server, '_listen2') === 'function' },
  { name: 'tls.TLSSocket#_releaseControl', ok: (s) => typeof member(s.tlsSocket, '_releaseControl') === 'function' },
  {
    name: 'tls.TLSSocket#_handle.verifyError',
    ok: (s) => {
      const h = handleOf(s.tlsSocket);
      return h !== null && typeof member(h, 'verifyError') === 'function';
    },
  },
];

/** The internals missing or changed in `subjects` (their names), in the order of CHECKS. */
function findMissing(subjects: InternalsSubjects): string[] {
  return CHECKS.filter((c) => {
    try {
      return !c.ok(subjects);
    } catch {
      return true;
    }
  }).map((c) => c.name);
}

/** This runtime, as error messages name it: "Node v22.23.5", "Bun 1.4.5", "Deno 2.9.6". */
export function runtimeName(): string {
  const v = process.versions as Record<string, string | undefined>;
  if (v.bun !== undefined) return `Bun ${v.bun}`;
  if (v.deno !== undefined) return `Deno ${v.deno}`;
  return `Node ${process.version}`;
}

/** The Error for internals this runtime lacks: code ERR_DANGA_NODE_UNSUPPORTED, their names in `internals`. */
function unsupported(what: string, missing: readonly string[]): Error {
  const err = stateError(
    'ERR_DANGA_NODE_UNSUPPORTED',
    `the node engine cannot ${what} on ${runtimeName()}: it relies on Node internals that this runtime lacks or changed: ` +
      `${missing.join(', ')} (see src/engines/node/node-internals.ts)`,
  );
  return Object.assign(err, { internals: [...missing] });
}

/**
 * Checks `subjects` for every internal this module uses; throws one Error
 * with code ERR_DANGA_NODE_UNSUPPORTED naming those missing or changed (its
 * `internals` property lists them).
 */
export function checkInternals(subjects: InternalsSubjects): void {
  const missing = findMissing(subjects);
  if (missing.length > 0) throw unsupported('run', missing);
}

let missingHere: readonly string[] | undefined;

/**
 * The internals this runtime lacks or changed, checked once per process on
 * throwaway objects (no network I/O, no fd).
 */
export function missingInternals(): readonly string[] {
  if (missingHere !== undefined) return missingHere;
  const endedStream = new Readable({ read() {} });
  endedStream.push(null);
  const freshStream = new Readable({ read() {} });
  // A server-side TLSSocket over an in-memory Duplex (no fd, no I/O); an
  // empty CA list makes a context without Node's root store, which is cheap.
  const inner = new Duplex({ read() {}, write: (_chunk, _encoding, cb) => cb() });
  const tlsSocket = new tls.TLSSocket(inner, { isServer: true, secureContext: tls.createSecureContext({ ca: [] }) });
  try {
    missingHere = findMissing({ endedStream, freshStream, server: net.Server.prototype, tlsSocket });
  } finally {
    for (const s of [tlsSocket, inner, endedStream, freshStream]) s.destroy();
  }
  return missingHere;
}

/**
 * Throws ERR_DANGA_NODE_UNSUPPORTED ("the node engine cannot `what` on …")
 * when this runtime lacks one of `names`: what a feature needs, said when it
 * is needed.
 */
export function requireInternals(what: string, names: readonly string[]): void {
  const missing = missingInternals().filter((name) => names.includes(name));
  if (missing.length > 0) throw unsupported(what, missing);
}

/**
 * Verifies, once per process, that this runtime has every internal the
 * node engine uses. Throws ERR_DANGA_NODE_UNSUPPORTED naming the missing ones.
 */
export function selfCheck(): void {
  const missing = missingInternals();
  if (missing.length > 0) throw unsupported('run', missing);
}
