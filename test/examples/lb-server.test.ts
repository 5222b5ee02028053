/**
 * examples/lb-server.ts behind a real HAProxy (Debian's `haproxy`; the
 * test skips with a note without it, or without a C compiler): two server
 * processes on 127.0.0.2 and 127.0.0.3 (two "machines"), one sent
 * `send-proxy-v2`, the other `send-proxy`, both health-checked over HTTP on
 * a port of their own (HealthCheck). A C client (fixtures/lb-client.c)
 * keeps connecting through HAProxy from 127.0.0.5 and checks that each
 * answer carries its own address and port, which the servers can only know
 * from the PROXY header. Meanwhile each backend in turn is drained, shut
 * down gracefully, restarted and put back, 10 times: half through
 * HAProxy's runtime API (`set server … state drain` on its stats socket,
 * then SIGTERM), half through the server's health check alone (SIGTERM:
 * "draining" until HAProxy has seen it). HAProxy is set to `retries 0` and
 * no redispatch, so that it hides no failure: the client must see 0 failed
 * requests and 0 resets.
 *
 * Waits are on events (the processes' lines, HAProxy's state from its stats
 * socket), never on elapsed time; the polls of the stats socket are spaced
 * by 20 ms only to leave the CPU to the others.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ChildServer } from '../child-server.js';

const haproxy =
  ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy'].find((p) => spawnSync(p, ['-v']).status === 0) ??
  (spawnSync('sh', ['-c', 'command -v haproxy']).stdout?.toString().trim() || null);
const haveCc = spawnSync('sh', ['-c', 'command -v cc']).status === 0;
const SKIP = haproxy === null ? 'needs haproxy (Debian package haproxy; .ci/run installs it)' : !haveCc ? 'needs a C compiler (cc) for the load client' : false;

const EXAMPLE = new URL('../../examples/lb-server.js', import.meta.url);
const CLIENT_SRC = fileURLToPath(new URL('../../../test/examples/fixtures/lb-client.c', import.meta.url));
const RESTARTS = 10;
const FALL = 2;

const dir = mkdtempSync(join(tmpdir(), 'danga-lb-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A free TCP port on `host` (asked of the kernel, then released). */
async function freePort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, host, resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** One command on HAProxy's stats socket; its answer. */
function admin(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket);
    let out = '';
    c.setEncoding('utf8');
    c.on('connect', () => c.end(`${command}\n`));
    c.on('data', (d: string) => (out += d));
    c.on('end', () => resolve(out));
    c.on('error', reject);
  });
}

/** `show stat` for one server: its fields by name. */
async function serverStat(socket: string, server: string): Promise<Record<string, string>> {
  const csv = await admin(socket, 'show stat');
  const lines = csv.split('\n');
  const names = (lines[0] ?? '').replace(/^# /, '').split(',');
  for (const l of lines.slice(1)) {
    const f = l.split(',');
    if (f[0] === 'be' && f[1] === server) return Object.fromEntries(names.map((n, i) => [n, f[i] ?? '']));
  }
  throw new Error(`no stats for be/${server}: ${csv}`);
}

/** Polls until `check` holds (HAProxy tells no events: its state is asked for). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; ; i++) {
    if (await check()) return;
    if (i > 3000) throw new Error(`gave up waiting for ${what}`);
    await sleep(20);
  }
}

/** The HAProxy configuration of the test, and of the README (which shows it for the example's ports). */
function haproxyConfig(o: {
  stats: string;
  frontPort: number;
  s1: { host: string; port: number; healthPort: number };
  s2: { host: string; port: number; healthPort: number };
}): string {
  return `global
  stats socket ${o.stats} mode 600 level admin
  maxconn 4096

defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  # The test's: no second attempt, no other server, so that no failure is hidden.
  retries 0

frontend fe
  bind 127.0.0.1:${o.frontPort}
  default_backend be

backend be
  balance roundrobin
  # The servers' HealthCheck, on a port of their own: 503 "draining" takes a server out.
  option httpchk GET /health
  http-check expect status 200
  default-server inter 100ms fall ${FALL} rise 1
  server s1 ${o.s1.host}:${o.s1.port} send-proxy-v2 check port ${o.s1.healthPort}
  server s2 ${o.s2.host}:${o.s2.port} send-proxy check port ${o.s2.healthPort}
`;
}

const root = fileURLToPath(new URL('../../../', import.meta.url));

test('the README shows examples/lb-server.ts as it is, and the HAProxy configuration of this test', () => {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const source = readFileSync(`${root}examples/lb-server.ts`, 'utf8');
  const region = source.slice(source.indexOf('// README:LB:BEGIN\n') + '// README:LB:BEGIN\n'.length, source.indexOf('// README:LB:END'));
  assert.ok(region.length > 500);
  assert.ok(readme.includes(region), 'README example differs from examples/lb-server.ts');
  const cfg = haproxyConfig({
    stats: '/run/haproxy/admin.sock',
    frontPort: 8000,
    s1: { host: '127.0.0.2', port: 7000, healthPort: 7001 },
    s2: { host: '127.0.0.3', port: 7000, healthPort: 7001 },
  });
  assert.ok(readme.includes(cfg), `README HAProxy configuration differs from the test's:\n${cfg}`);
});

interface Backend {
  name: 's1' | 's2';
  host: string;
  port: number;
  healthPort: number;
  proc: ChildServer;
}

function startServer(name: 's1' | 's2', host: string, port: number, healthPort: number): ChildServer {
  return new ChildServer(EXAMPLE, [], undefined, { HOST: host, PORT: String(port), HEALTH_PORT: String(healthPort), NAME: name, TRUSTED: '127.0.0.1' });
}

test(
  'HAProxy in front of two servers: real client addresses; 10 rolling drain/restarts under load: 0 failed requests, 0 resets',
  { skip: SKIP, timeout: 300_000 },
  async (t) => {
    const client = join(dir, 'lb-client');
    const cc = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', client, CLIENT_SRC], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);

    const backends: Backend[] = [];
    for (const [name, host] of [
      ['s1', '127.0.0.2'],
      ['s2', '127.0.0.3'],
    ] as const) {
      const proc = startServer(name, host, 0, 0);
      backends.push({ name, host, port: await proc.port(), healthPort: Number((await proc.line('health ')).slice(7)), proc });
    }
    const [b1, b2] = backends as [Backend, Backend];
    const frontPort = await freePort('127.0.0.1');
    const stats = join(dir, 'admin.sock');
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig({ stats, frontPort, s1: b1, s2: b2 }));
    const lb: ChildProcess = spawn(haproxy as string, ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let lbErr = '';
    lb.stderr?.on('data', (d: Buffer) => (lbErr += d.toString()));
    t.after(() => {
      lb.kill('SIGKILL');
      for (const b of backends) void b.proc.kill();
    });
    await until('HAProxy to report both servers UP', async () => {
      try {
        return (await serverStat(stats, 's1')).status === 'UP' && (await serverStat(stats, 's2')).status === 'UP';
      } catch {
        if (lb.exitCode !== null) throw new Error(`haproxy exited: ${lbErr}`);
        return false;
      }
    });

    const loadProc = spawn(client, [String(frontPort), '4', '240', '2000000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errOut = '';
    let okCount = 0;
    let wake: (() => void) | null = null;
    loadProc.stdout?.setEncoding('utf8');
    loadProc.stdout?.on('data', (d: string) => {
      out += d;
      const m = /ok (\d+)\n(?![\s\S]*ok \d+\n)/.exec(out);
      if (m) okCount = Number(m[1]);
      wake?.();
    });
    loadProc.stderr?.on('data', (d: Buffer) => (errOut += d.toString()));
    const loadExit = new Promise<number | null>((resolve) => loadProc.on('exit', (code) => resolve(code)));
    t.after(() => loadProc.kill('SIGKILL'));
    /** Resolves once the client has answered `n` requests more than now. */
    const progress = async (n: number): Promise<void> => {
      const target = okCount + n;
      while (okCount < target) {
        if (loadProc.exitCode !== null) throw new Error(`the client exited: ${errOut}`);
        await new Promise<void>((resolve) => (wake = resolve));
      }
    };
    await progress(1000);

    const log: string[] = [];
    for (let i = 0; i < RESTARTS; i++) {
      const b = backends[i % 2] as Backend;
      const viaApi = i % 4 < 2;
      if (viaApi) {
        const answer = await admin(stats, `set server be/${b.name} state drain`);
        assert.equal(answer.trim(), '', answer);
      }
      b.proc.child.kill('SIGTERM');
      const exit = await b.proc.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, b.proc.stderr);
      const stopped = b.proc.linesStarting('stopped')[0] ?? '';
      log.push(`${b.name} ${viaApi ? 'api' : 'health'}: ${stopped}`);
      assert.match(stopped, /after [3-9]\d* draining checks/, 'it drained until HAProxy had seen it');
      b.proc = startServer(b.name, b.host, b.port, b.healthPort);
      await b.proc.line('port ');
      if (viaApi) {
        // Health UP, admin state still drain: HAProxy says DRAIN; put it back.
        await until(`${b.name} healthy again`, async () => (await serverStat(stats, b.name)).check_status === 'L7OK');
        await admin(stats, `set server be/${b.name} state ready`);
      }
      await until(`${b.name} UP`, async () => (await serverStat(stats, b.name)).status === 'UP');
      // Load flows on through both before the next one.
      await progress(500);
    }

    loadProc.kill('SIGUSR1');
    assert.equal(await loadExit, 0, errOut);
    const result = /result (.*)/.exec(out)?.[1] ?? '';
    const fields = Object.fromEntries(
      result
        .split(' ')
        .map((kv) => kv.split('=') as [string, string])
        .map(([k, v]) => [k, Number(v)]),
    );
    const s1 = await serverStat(stats, 's1');
    const s2 = await serverStat(stats, 's2');
    const lbErrors = `haproxy: s1 econ=${s1.econ} eresp=${s1.eresp} wretr=${s1.wretr} wredis=${s1.wredis}; s2 econ=${s2.econ} eresp=${s2.eresp} wretr=${s2.wretr} wredis=${s2.wredis}`;
    t.diagnostic(`rolling restarts: ${RESTARTS}; client: ${result}; ${lbErrors}`);
    for (const l of log) t.diagnostic(l);
    assert.ok(fields.requests !== undefined && fields.requests > 5000, result);
    assert.equal(fields.failed, 0, `${result}\n${errOut}`);
    assert.equal(fields.resets, 0, result);
    assert.equal(fields.empty, 0, result);
    assert.equal(fields.wrong, 0, `every answer carried the client's own address and port: ${result}\n${errOut}`);
    assert.ok((fields.s1 ?? 0) > 0 && (fields.s2 ?? 0) > 0, result);
    assert.equal(fields.ok, fields.requests);
  },
);
