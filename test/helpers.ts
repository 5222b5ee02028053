/**
 * Shared test fixtures: small DangaSocket subclasses and a way to run the
 * loop until a condition holds. Everything runs on real sockets.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { DangaSocket, listenTcp, connectTcp, type Sock } from 'danga-socket';
import { SKIPS, type Pass, type SimSkipKey, type SkipKey } from './matrix.js';

/**
 * Waits for Node to finish loading its CA store, so that the process's fds
 * are its own: call it before counting them. From Node 22, loading node:tls
 * (the package does) starts that load on a worker thread, which holds an fd
 * on the CA bundle and frees it a moment later, at a time no test controls;
 * making a secure context with the default CAs waits for the load. (Node 20
 * loads the store on the main thread: nothing to wait for.)
 */
export function settleRuntimeFds(): void {
  tls.createSecureContext();
}

/** True when the loop runs on the native epoll engine (foreign fds need it). */
export const onEpoll = (): boolean => DangaSocket.engine() === 'epoll';

/**
 * The pass of `npm test` this process runs in (test/matrix.ts, PASSES): what
 * scripts/run-tests.mjs set in DANGA_TEST_PASS, else the engine's own
 * (a file run by hand: `DANGA_ENGINE=node node --test dist/test/...`).
 * 'sim-simulate' only when asked for: the loop runs on a real engine there.
 */
export function testPass(): Pass {
  const engine = DangaSocket.engine();
  if (engine === 'sim') return 'sim-ambient';
  return process.env.DANGA_TEST_PASS === 'sim-simulate' ? 'sim-simulate' : engine;
}

/** The `skip` option of a test that needs what SKIPS[key] of test/matrix.ts names: its reason in the passes it lists, false elsewhere. */
export function skipOn(key: SkipKey): string | false {
  const pass = testPass();
  const why = (SKIPS[key].on as Partial<Record<Pass, string>>)[pass];
  return why === undefined ? false : `${pass === 'sim-ambient' ? 'sim' : pass}: ${why}`;
}

/** Why a test that needs the epoll engine is skipped on the node engine (and in the sim pass): SKIPS.foreignFds of test/matrix.ts. */
export const NEEDS_EPOLL = skipOn('foreignFds') || SKIPS.foreignFds.on.node;

/** True when the loop runs on the ambient simulation (DANGA_ENGINE=sim; docs/simulation.md). */
export const onSim = (): boolean => DangaSocket.engine() === 'sim';

/**
 * What a test needs that the ambient simulation (DANGA_ENGINE=sim) does not
 * have: the reasons a test of test/core or test/integration skips in the
 * sim pass (declared in SKIPS of test/matrix.ts). Everything else runs there
 * on the simulated network.
 */
export const NEEDS_KERNEL = Object.fromEntries(
  (Object.keys(SKIPS) as SkipKey[]).flatMap((k) => {
    const on = SKIPS[k].on as Partial<Record<Pass, string>>;
    return Object.keys(on).length === 1 && on['sim-ambient'] !== undefined ? [[k, on['sim-ambient']]] : [];
  }),
) as Record<SimSkipKey, string>;

/** The `skip` option of a test that needs what `why` names: a reason in the sim pass, false elsewhere. */
export function skipOnSim(why: SimSkipKey): string | false {
  return skipOn(why);
}

/**
 * Math.random on the real engines; in the sim pass a PRNG seeded from
 * DANGA_SIM_SEED (default 1), so that the run replays with its seed.
 */
export const testRandom: () => number = ((): (() => number) => {
  if (DangaSocket.engine() !== 'sim') return Math.random;
  let x = (Number(process.env.DANGA_SIM_SEED ?? '') || 1) >>> 0 || 1;
  return () => {
    // xorshift32
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
})();

/** crypto's randomBytes on the real engines; in the sim pass bytes from testRandom, so that the run replays with its seed. */
export function testRandomBytes(n: number): Buffer<ArrayBuffer> {
  if (!onSim()) return randomBytes(n);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) {
    const r = Math.floor(testRandom() * 0x100000000);
    for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (r >>> (8 * k)) & 0xff;
  }
  return out;
}

/** The seed of the sim pass (DANGA_SIM_SEED, default 1), for generators of the tests' own (fast-check). */
export const simSeed = (): number => Number(process.env.DANGA_SIM_SEED ?? '') || 1;

/** Runs the loop until `done()` is true (checked after every iteration). */
export async function runUntil(done: () => boolean, pollMs = 20): Promise<void> {
  DangaSocket.setLoopTimeout(pollMs);
  DangaSocket.setPostLoopCallback(() => !done());
  try {
    await DangaSocket.eventLoop();
  } finally {
    DangaSocket.setPostLoopCallback(null);
    DangaSocket.setLoopTimeout(-1);
  }
}

/**
 * Counts the loop's iterations while Node's loop turns `turns` times
 * (setImmediate hops): a loop that spins shows many iterations per turn, a
 * loop that sleeps few. No clock involved.
 */
export async function iterationsOver(turns: number): Promise<number> {
  let iterations = 0;
  let hops = 0;
  DangaSocket.setPostLoopCallback(() => {
    iterations++;
    return hops < turns;
  });
  const hop = (): void => {
    hops++;
    if (hops < turns) setImmediate(hop);
    else DangaSocket.addTimer(0, () => {}); // wake the loop so its post-loop callback sees the end
  };
  setImmediate(hop);
  try {
    await DangaSocket.eventLoop();
  } finally {
    DangaSocket.setPostLoopCallback(null);
  }
  return iterations;
}

/** A listening socket that hands each accepted socket to `onAccept`. */
export class Listener extends DangaSocket {
  constructor(
    sock: Sock,
    private readonly onAccept: (s: Sock) => void,
  ) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    const listening = this.sock() as Sock;
    let s: Sock | null;
    while ((s = listening.accept()) !== null) this.onAccept(s);
  }
}

/** A connected TCP pair on 127.0.0.1: [client, server side]; the listener is closed again. */
export async function tcpPair(): Promise<[Sock, Sock]> {
  let accepted: Sock | null = null;
  const listener = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }), (s) => {
    accepted ??= s;
  });
  const address = listener.sock()!.localAddress();
  if (address === null || address.family === 'unix') throw new Error('no address');
  const client = connectTcp({ host: '127.0.0.1', port: address.port });
  await runUntil(() => accepted !== null);
  listener.close('done');
  return [client, accepted as unknown as Sock];
}

/**
 * A plain DangaSocket (not a Connection) that reads and drops what arrives
 * (one read per event) and closes on a hangup ('hup') or an error ('err').
 * Read interest is the test's business.
 */
export class Discard extends DangaSocket {
  override eventRead(): void {
    this.read(65536);
  }

  override eventHup(): void {
    this.close('hup');
  }

  override eventErr(): void {
    this.close('err');
  }
}

/** Echoes what it reads; stops reading while its queue is not empty (backpressure). Over a Sock or a Node stream. */
export class Echo<S extends object = Sock> extends DangaSocket<S> {
  constructor(sock: S) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    const buf = this.read(65536);
    if (buf === null) {
      this.write(() => this.close('eof'));
      return;
    }
    if (buf.length === 0) return;
    if (!this.write(buf)) {
      this.watchRead(false);
      this.write(() => this.watchRead(true));
    }
  }

  override eventHup(): void {
    this.close('hup');
  }

  override eventErr(): void {
    this.close('err');
  }
}

/** Collects everything it reads until end of stream. */
export class Collector extends DangaSocket {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  eof = false;
  hup = false;

  constructor(
    sock: Sock,
    private readonly readSize = 65536,
  ) {
    super(sock);
    this.watchRead(true);
  }

  override eventRead(): void {
    const buf = this.read(this.readSize);
    if (buf === null) {
      this.eof = true;
      this.close('eof');
      return;
    }
    if (buf.length > 0) {
      this.chunks.push(Buffer.from(buf));
      this.bytes += buf.length;
    }
  }

  override eventHup(): void {
    this.hup = true;
    // Read what is left before closing: data may precede the hangup.
    let buf: Buffer | null;
    while ((buf = this.read(this.readSize)) !== null && buf.length > 0) {
      this.chunks.push(Buffer.from(buf));
      this.bytes += buf.length;
    }
    this.eof = true;
    this.close('hup');
  }

  override eventErr(): void {
    this.close('err');
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** A DangaSocket that records its events and does nothing else. */
export class Recorder extends DangaSocket {
  readonly log: string[] = [];
  onRead: ((self: Recorder) => void) | null = null;
  onWrite: ((self: Recorder) => void) | null = null;

  override eventRead(): void {
    this.log.push('read');
    if (this.onRead) this.onRead(this);
  }

  override eventWrite(): void {
    this.log.push('write');
    if (this.onWrite) this.onWrite(this);
    else super.eventWrite();
  }

  override eventErr(): void {
    this.log.push('err');
  }

  override eventHup(): void {
    this.log.push('hup');
    this.close('hup');
  }
}

/** Captures what is written to stderr while `fn` runs. */
export function captureStderr(fn: () => void): string {
  const original = process.stderr.write.bind(process.stderr);
  let out = '';
  process.stderr.write = (chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  };
  try {
    fn();
  } finally {
    process.stderr.write = original;
  }
  return out;
}

/** True when the openssl command line tool is installed (TLS tests need it to make a certificate). */
export const haveOpenssl = spawnSync('sh', ['-c', 'command -v openssl']).status === 0;

/** A fresh self-signed EC certificate for localhost and 127.0.0.1, made with openssl (one day valid). */
export function selfSignedCert(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'danga-cert-'));
  try {
    const r = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-days',
        '1',
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** True while process `pid` exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once process `pid` (not a child of this one: a child is awaited through its ChildProcess) has exited. */
export async function gone(pid: number): Promise<void> {
  while (alive(pid)) await new Promise((resolve) => setTimeout(resolve, 20));
}
