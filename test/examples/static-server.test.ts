/**
 * examples/static-server.ts with real clients: curl (a byte-exact 200 MiB
 * download compared by sha256, ranges, HEAD, 304, a `..` it must not
 * normalise away), h2load and ab (keep-alive and pipelining, 0 failures),
 * raw sockets (pipelined requests answered in order, path escapes, bad
 * requests), and a client that disconnects mid-file (the object and the
 * file's fd are freed). The server runs in this process; the loop runs
 * while a client does (`runUntil`). On both engines.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DangaSocket, type Listener } from 'danga-socket';
import { runUntil, settleRuntimeFds } from '../helpers.js';
import { StaticConnection, contentType, parseRange, startStaticServer } from '../../examples/static-server.js';

// (fds are counted below, after Node's own fd use at startup is over: see settleRuntimeFds.)
settleRuntimeFds();

const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const BIG = 200 * 1024 * 1024;

let dir = '';
let root = '';
let listener: Listener;
let port = 0;
let bigSha = '';
const small = Buffer.from('hello, static world\n');
const mid = randomBytes(64 * 1024);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'danga-static-'));
  root = join(dir, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(dir, 'outside'));
  // 200 MiB of random bytes, hashed as they are written.
  const hash = createHash('sha256');
  const fd = openSync(join(root, 'big.bin'), 'w');
  for (let done = 0; done < BIG;) {
    const chunk = randomBytes(Math.min(8 << 20, BIG - done));
    hash.update(chunk);
    writeSync(fd, chunk);
    done += chunk.length;
  }
  closeSync(fd);
  bigSha = hash.digest('hex');
  writeFileSync(join(root, 'small.txt'), small);
  writeFileSync(join(root, 'mid.bin'), mid);
  writeFileSync(join(root, 'empty.txt'), '');
  writeFileSync(join(root, 'sub', 'index.html'), '<p>sub</p>\n');
  writeFileSync(join(root, 'a b.md'), '# spaced\n');
  writeFileSync(join(dir, 'outside', 'secret.txt'), 'secret\n');
  writeFileSync(join(dir, 'secret.txt'), 'secret\n');
  symlinkSync(join(dir, 'secret.txt'), join(root, 'out-link.txt'));
  symlinkSync(join(dir, 'outside'), join(root, 'out-dir'));
  symlinkSync('small.txt', join(root, 'in-link.txt'));
  spawnSync('mkfifo', [join(root, 'fifo')]);
  listener = startStaticServer(root, 0);
  port = (listener.requireSock().localAddress() as { port: number }).port;
});

after(() => {
  DangaSocket.reset();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the loop until `p` settles; its value. */
async function serving<T>(p: Promise<T>): Promise<T> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await runUntil(() => settled);
  return p;
}

interface Ran {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  sha256: string;
}

/** Runs a client program while the loop serves; stdout is kept (up to 1 MiB) and hashed. */
function client(cmd: string, args: string[]): Promise<Ran> {
  return serving(
    new Promise<Ran>((resolve, reject) => {
      const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const hash = createHash('sha256');
      const kept: Buffer[] = [];
      let keptBytes = 0;
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => {
        hash.update(d);
        if (keptBytes < 1 << 20) kept.push(d);
        keptBytes += d.length;
      });
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => resolve({ code, stdout: Buffer.concat(kept), stderr, sha256: hash.digest('hex') }));
    }),
  );
}

const url = (path: string): string => `http://127.0.0.1:${port}${path}`;

/** curl: the body on stdout (kept and hashed), the response head on stderr. */
async function curl(path: string, ...args: string[]): Promise<Ran & { status: number; headers: string }> {
  const headerFile = join(dir, 'curl-headers.txt'); // (curl 8 crashes on -D /dev/stderr)
  const r = await client('curl', ['-sS', '-D', headerFile, '-o', '-', ...args, url(path)]);
  const headers = readFileSync(headerFile, 'latin1');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1] ?? 0);
  return { ...r, status, headers };
}

/** Sends `request` on a raw socket (one write) and collects everything until the server closes. */
function raw(request: string | Buffer): Promise<Buffer> {
  return serving(
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const c = net.connect({ host: '127.0.0.1', port }, () => c.write(request));
      c.on('data', (d: Buffer) => chunks.push(d));
      c.on('end', () => {
        c.destroy();
        resolve(Buffer.concat(chunks));
      });
      c.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks)) : reject(err)));
    }),
  );
}

interface Response {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** Splits a byte stream into HTTP responses; `heads[i]` true: response i answers a HEAD (no body). */
function parseResponses(buf: Buffer, heads: boolean[] = []): Response[] {
  const out: Response[] = [];
  let at = 0;
  while (at < buf.length) {
    const end = buf.indexOf('\r\n\r\n', at);
    assert.ok(end > 0, `an incomplete response head at ${at}`);
    const [statusLine = '', ...lines] = buf.subarray(at, end).toString('latin1').split('\r\n');
    const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const status = Number(statusLine.split(' ')[1]);
    const length = heads[out.length] === true || status === 304 ? 0 : Number(headers.get('content-length') ?? 0);
    out.push({ status, headers, body: buf.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return out;
}

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

function slice(name: string, start: number, length: number): Buffer {
  const fd = openSync(join(root, name), 'r');
  const b = Buffer.alloc(length);
  readSync(fd, b, 0, length, start);
  closeSync(fd);
  return b;
}

test('curl downloads 200 MiB byte-exact (sha256), a small file, and the headers', { timeout: 300_000 }, async (t) => {
  if (!have('curl')) return t.skip('curl is needed (.ci/run installs it)');
  const r = await curl('/big.bin');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.status, 200);
  assert.match(r.headers, new RegExp(`content-length: ${BIG}\\r\\n`, 'i'));
  assert.match(r.headers, /content-type: application\/octet-stream/i);
  assert.match(r.headers, /accept-ranges: bytes/i);
  assert.equal(r.sha256, bigSha);
  const s = await curl('/small.txt');
  assert.deepEqual(s.stdout, small);
  assert.match(s.headers, /content-type: text\/plain; charset=utf-8/i);
  assert.match(s.headers, /last-modified: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT/i);
  const spaced = await curl('/a%20b.md');
  assert.equal(spaced.stdout.toString(), '# spaced\n');
  assert.match(spaced.headers, /content-type: text\/markdown/i);
});

test('curl: ranges (206, 416), HEAD, If-Modified-Since (304)', { timeout: 120_000 }, async (t) => {
  if (!have('curl')) return t.skip('curl is needed (.ci/run installs it)');
  const cases: Array<[string, number, number]> = [
    ['0-99', 0, 100],
    ['199999000-', 199999000, BIG - 199999000],
    ['-500', BIG - 500, 500],
    [`${BIG - 10}-${BIG + 100}`, BIG - 10, 10],
    ['123456789-123556788', 123456789, 100000],
  ];
  for (const [spec, start, length] of cases) {
    const r = await curl('/big.bin', '-r', spec);
    assert.equal(r.status, 206, spec);
    assert.match(r.headers, new RegExp(`content-range: bytes ${start}-${start + length - 1}/${BIG}`, 'i'), spec);
    assert.equal(
      r.sha256,
      createHash('sha256')
        .update(slice('big.bin', start, length))
        .digest('hex'),
      spec,
    );
  }
  const beyond = await curl('/big.bin', '-r', `${BIG}-`);
  assert.equal(beyond.status, 416);
  assert.match(beyond.headers, new RegExp(`content-range: bytes \\*/${BIG}`, 'i'));
  const several = await curl('/small.txt', '-r', '0-1,3-4'); // several ranges: the whole file
  assert.equal(several.status, 200);
  assert.deepEqual(several.stdout, small);

  const head = await client('curl', ['-sS', '-I', url('/big.bin')]);
  assert.match(head.stdout.toString(), new RegExp(`^HTTP/1.1 200 OK\\r\\n[^]*content-length: ${BIG}\\r\\n`, 'i'));
  assert.ok(head.stdout.toString().endsWith('\r\n\r\n'), 'no body after the HEAD headers');

  const lastModified = new Date(Math.floor(statSync(join(root, 'small.txt')).mtimeMs / 1000) * 1000).toUTCString();
  const notModified = await curl('/small.txt', '-H', `If-Modified-Since: ${lastModified}`);
  assert.equal(notModified.status, 304);
  assert.equal(notModified.stdout.length, 0);
  const modified = await curl('/small.txt', '-H', `If-Modified-Since: ${new Date(Date.parse(lastModified) - 1000).toUTCString()}`);
  assert.equal(modified.status, 200);
  assert.deepEqual(modified.stdout, small);
  const empty = await curl('/empty.txt');
  assert.equal(empty.status, 200);
  assert.equal(empty.stdout.length, 0);
});

test('no path leaves the root: .., %2e%2e, NUL, symlinks out; 404, 405, 431, 400, 505', { timeout: 60_000 }, async (t) => {
  const refused = [
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/sub/%2E%2E/%2e%2E/secret.txt',
    '/..%2fsecret.txt',
    '/sub/..%2F..%2Fsecret.txt',
    '/small.txt%00.png',
    '/%00',
    '/%zz',
    'secret.txt',
  ];
  for (const target of refused) {
    const [r, ...more] = parseResponses(await raw(get(target)));
    assert.equal(r?.status, 400, target);
    assert.equal(r?.headers.get('connection'), 'close', target);
    assert.equal(more.length, 0, target);
  }
  for (const target of ['/out-link.txt', '/out-dir/secret.txt', '/nope', '/small.txt/x', '/fifo']) {
    const [r] = parseResponses(await raw(get(target, 'Connection: close\r\n')));
    assert.equal(r?.status, 404, target);
    assert.ok(!r.body.includes('secret'), target);
  }
  const [inLink] = parseResponses(await raw(get('/in-link.txt', 'Connection: close\r\n')));
  assert.deepEqual(inLink?.body, small);
  const [redirect, index] = parseResponses(await raw(get('/sub') + get('/sub/', 'Connection: close\r\n')));
  assert.equal(redirect?.status, 301);
  assert.equal(redirect.headers.get('location'), '/sub/');
  assert.equal(index?.body.toString(), '<p>sub</p>\n');
  const [listing] = parseResponses(await raw(get('/', 'Connection: close\r\n')));
  assert.match(listing?.body.toString() ?? '', /<a href="a%20b\.md">a b\.md<\/a>.*<a href="sub\/">sub\/<\/a>/s);

  const [post] = parseResponses(await raw('POST /small.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc'));
  assert.equal(post?.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  const [tooBig] = parseResponses(await raw(`GET / HTTP/1.1\r\nHost: t\r\nX-Filler: ${'x'.repeat(10_000)}\r\n\r\n`));
  assert.equal(tooBig?.status, 431);
  for (const bad of [
    'garbage\r\n\r\n',
    'GET /small.txt HTTP/1.1\r\nNo colon\r\n\r\n',
    'GET /small.txt HTTP/1.1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n',
  ]) {
    const [r, ...more] = parseResponses(await raw(bad));
    assert.equal(r?.status, 400, JSON.stringify(bad));
    assert.equal(more.length, 0);
  }
  const [v2] = parseResponses(await raw('GET / HTTP/2.0\r\nHost: t\r\n\r\n'));
  assert.equal(v2?.status, 505);

  if (!have('curl')) return t.skip('curl is needed for the real-client part (.ci/run installs it)');
  const asIs = await curl('/../secret.txt', '--path-as-is');
  assert.equal(asIs.status, 400);
  assert.ok(!asIs.stdout.includes('secret'));
});

test('pipelined requests in one packet are answered in order, a large one between small ones', { timeout: 60_000 }, async () => {
  const fourMiB = 4 << 20;
  const requests =
    get('/small.txt') +
    'HEAD /mid.bin HTTP/1.1\r\nHost: t\r\n\r\n' +
    get('/missing') +
    get('/big.bin', `Range: bytes=0-${fourMiB - 1}\r\n`) +
    get('/mid.bin') +
    'GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' +
    get('/small.txt', 'Connection: close\r\n') +
    get('/small.txt'); // after the close: never answered
  const rs = parseResponses(await raw(requests), [false, true]);
  assert.deepEqual(
    rs.map((r) => r.status),
    [200, 200, 404, 206, 200, 200, 200],
  );
  assert.deepEqual(rs[0]?.body, small);
  assert.equal(rs[1]?.headers.get('content-length'), String(mid.length));
  assert.deepEqual(rs[3]?.body, slice('big.bin', 0, fourMiB));
  assert.deepEqual(rs[4]?.body, mid);
  assert.equal(rs[5]?.headers.get('connection'), 'keep-alive');
  assert.equal(rs[6]?.headers.get('connection'), 'close');
});

test('h2load --h1 (pipelined, keep-alive) and ab -k: 2000 requests, 0 failures', { timeout: 120_000 }, async (t) => {
  let ran = 0;
  if (have('h2load')) {
    ran++;
    const r = await client('h2load', ['--h1', '-n', '2000', '-c', '10', '-m', '4', url('/mid.bin')]);
    const out = r.stdout.toString();
    assert.equal(r.code, 0, out + r.stderr);
    assert.match(out, /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout/);
    assert.match(out, /status codes: 2000 2xx/);
  }
  if (have('ab')) {
    ran++;
    const r = await client('ab', ['-k', '-n', '2000', '-c', '10', url('/mid.bin')]);
    const out = r.stdout.toString();
    assert.equal(r.code, 0, out + r.stderr);
    assert.match(out, /Complete requests:\s+2000\n/);
    assert.match(out, /Failed requests:\s+0\n/);
    assert.match(out, /Keep-Alive requests:\s+2000\n/);
    assert.doesNotMatch(out, /Non-2xx/);
    assert.match(out, new RegExp(`Document Length:\\s+${mid.length} bytes`));
  }
  if (ran === 0) t.skip('h2load (nghttp2-client) or ab (apache2-utils) is needed (.ci/run installs them)');
});

test('a client that disconnects mid-file frees the connection and the file fd', { timeout: 60_000 }, async () => {
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const open = (): number => DangaSocket.descriptorMap(StaticConnection).size;
  await runUntil(() => listener.connections() === 0);
  const before = fds();
  let got = 0;
  const c = net.connect({ host: '127.0.0.1', port }, () => c.write(get('/big.bin')));
  c.on('error', () => {});
  c.on('data', (d: Buffer) => {
    got += d.length;
    if (got >= 1 << 20) c.pause();
  });
  await runUntil(() => got >= 1 << 20 && open() === 1);
  assert.ok(fds() > before, 'the socket and the file are open meanwhile');
  c.resetAndDestroy();
  await runUntil(() => open() === 0 && listener.connections() === 0);
  // Closed; the fds go with it (on the node engine a socket's fd is closed on libuv's next turn): a few more iterations at most.
  let turns = 0;
  await runUntil(() => fds() === before || ++turns > 50);
  assert.equal(fds(), before, `fds open before: ${before}, after: ${fds()} (the file's fd must be closed with the connection)`);
});

test('parseRange and contentType', () => {
  assert.deepEqual(parseRange('bytes=0-0', 10), [0, 0]);
  assert.deepEqual(parseRange('bytes=5-', 10), [5, 9]);
  assert.deepEqual(parseRange('bytes=-3', 10), [7, 9]);
  assert.deepEqual(parseRange('bytes=-30', 10), [0, 9]);
  assert.deepEqual(parseRange('bytes=8-100', 10), [8, 9]);
  assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 10), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
  assert.equal(parseRange('bytes=5-2', 10), null);
  assert.equal(parseRange('bytes=0-1,3-4', 10), null);
  assert.equal(parseRange('items=0-1', 10), null);
  assert.equal(parseRange(undefined, 10), null);
  assert.equal(contentType('x/INDEX.HTML'), 'text/html; charset=utf-8');
  assert.equal(contentType('x.unknown'), 'application/octet-stream');
  assert.equal(readFileSync(join(root, 'small.txt')).length, small.length);
});
