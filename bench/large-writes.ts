/**
 * Large writes: the server CPU time per 1 MiB response, DangaSocket (node
 * engine, and the epoll engine when the addon is built) against node:http
 * doing the same work. Not part of `npm run bench`; run it by hand:
 *
 *     npx tsc -p . && node dist/bench/large-writes.js [--responses N] [--rounds R] [--size BYTES] [--connections C]
 *
 * Each round starts every server afresh, in alternation (A B C A B C …),
 * pinned to CPU 1 with the client on CPU 0 when taskset is there. The client
 * (its own process) sends keep-alive `GET /` requests, one at a time per
 * connection, and reads each response whole; the server's CPU time
 * (`process.cpuUsage()`, user + system) is asked for with `GET /cpu` before
 * and after the measured responses, after a warm-up. Figures are medians of
 * the rounds, in microseconds of server CPU per response.
 *
 * The same file is the servers (`--serve danga|http`) and the client
 * (`--client`): one script, no fixtures.
 */
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const EMPTY = Buffer.alloc(0);

interface Options {
  responses: number;
  rounds: number;
  size: number;
  connections: number;
  warmup: number;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = { responses: 400, rounds: 5, size: 1024 * 1024, connections: 4, warmup: 100 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = Number(argv[i + 1]);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`bad value for ${argv[i]}: ${argv[i + 1]}`);
    if (argv[i] === '--responses') o.responses = v;
    else if (argv[i] === '--rounds') o.rounds = v;
    else if (argv[i] === '--size') o.size = v;
    else if (argv[i] === '--connections') o.connections = v;
    else if (argv[i] === '--warmup') o.warmup = v;
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return o;
}

function cpuJson(): string {
  const u = process.cpuUsage();
  return JSON.stringify({ user: u.user, system: u.system });
}

// ------------------------------------------------------------------ servers

/** node:http: what a Node user writes for a 1 MiB response. */
function serveHttp(size: number): void {
  const body = Buffer.alloc(size, 'x');
  const server = http.createServer((req, res) => {
    if (req.url === '/cpu') {
      const text = cpuJson();
      res.writeHead(200, { 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    res.writeHead(200, { 'Content-Length': size, 'Content-Type': 'application/octet-stream' });
    res.end(body);
  });
  server.keepAliveTimeout = 0;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`);
  });
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

/** DangaSocket: a minimal keep-alive HTTP server, header and body as two writes, as a Danga user writes it. */
async function serveDanga(size: number): Promise<void> {
  const { DangaSocket, listenTcp } = await import('danga-socket');
  type Sock = import('danga-socket').Sock;
  const body = Buffer.alloc(size, 'x');
  const header = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nContent-Type: application/octet-stream\r\n\r\n`);

  class Conn extends DangaSocket {
    private pending = '';
    override eventRead(): void {
      const buf = this.read(65536);
      if (buf === null) {
        this.close('eof');
        return;
      }
      this.pending += buf.toString('latin1');
      let end: number;
      while ((end = this.pending.indexOf('\r\n\r\n')) >= 0) {
        const head = this.pending.slice(0, end);
        this.pending = this.pending.slice(end + 4);
        if (head.startsWith('GET /cpu ')) {
          const text = cpuJson();
          this.write(`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
        } else {
          this.write(header);
          this.write(body);
        }
      }
    }
    override eventHup(): void {
      this.close('hup');
    }
    override eventErr(): void {
      this.close('err');
    }
  }

  class Listener extends DangaSocket {
    override eventRead(): void {
      let s: Sock | null;
      while ((s = this.sock()!.accept()) !== null) new Conn(s).watchRead(true);
    }
  }

  const listener = new Listener(listenTcp({ host: '127.0.0.1', port: 0 }));
  listener.watchRead(true);
  const address = listener.sock()!.localAddress() as { port: number };
  process.stdout.write(`${address.port} engine=${DangaSocket.engine()}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  await DangaSocket.eventLoop();
}

// ------------------------------------------------------------------ client

/** One keep-alive connection that runs requests one at a time. */
class Client {
  private readonly socket: net.Socket;
  private header: Buffer = EMPTY;
  private bodyLeft = -1;
  private body: Buffer[] = [];
  private done: ((body: Buffer) => void) | null = null;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => {
      throw err;
    });
  }

  request(path: string): Promise<Buffer> {
    return new Promise((resolve) => {
      this.done = resolve;
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    while (chunk.length > 0) {
      if (this.bodyLeft < 0) {
        const head = this.header.length === 0 ? chunk : Buffer.concat([this.header, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          this.header = head;
          return;
        }
        const m = /content-length: *(\d+)/i.exec(head.toString('latin1', 0, end));
        if (m === null) throw new Error(`no Content-Length in ${head.toString('latin1', 0, end)}`);
        this.bodyLeft = Number(m[1]);
        chunk = head.subarray(end + 4);
        this.header = EMPTY;
        this.body = [];
      }
      const take = Math.min(this.bodyLeft, chunk.length);
      // Only the small /cpu bodies are kept; 1 MiB bodies are counted.
      if (this.bodyLeft < 4096) this.body.push(chunk.subarray(0, take));
      this.bodyLeft -= take;
      chunk = chunk.subarray(take);
      if (this.bodyLeft === 0) {
        this.bodyLeft = -1;
        const done = this.done;
        this.done = null;
        done?.(Buffer.concat(this.body));
      }
    }
  }
}

async function runClient(port: number, o: Options): Promise<void> {
  const clients = Array.from({ length: o.connections }, () => new Client(port));
  const each = async (total: number): Promise<void> => {
    let next = 0;
    await Promise.all(
      clients.map(async (c) => {
        while (next < total) {
          next++;
          await c.request('/');
        }
      }),
    );
  };
  const cpu = async (): Promise<{ user: number; system: number }> =>
    JSON.parse((await (clients[0] as Client).request('/cpu')).toString()) as { user: number; system: number };
  await each(o.warmup);
  const before = await cpu();
  await each(o.responses);
  const after = await cpu();
  for (const c of clients) c.close();
  process.stdout.write(`${JSON.stringify({ user: after.user - before.user, system: after.system - before.system })}\n`);
}

// ------------------------------------------------------------------ runner

interface Server {
  id: string;
  label: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const pinned = (cpu: number, argv: string[]): string[] => (pin ? ['taskset', '-c', String(cpu), ...argv] : argv);

function firstLine(child: ReturnType<typeof spawn>): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout!.setEncoding('utf8');
    const onData = (d: string): void => {
      text += d;
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        child.stdout!.off('data', onData);
        resolve(text.slice(0, nl));
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited (${code}) before its first line: ${text}`)));
  });
}

async function measure(server: Server, o: Options): Promise<number> {
  const serverArgv = pinned(1, [process.execPath, self, ...server.args]);
  const proc = spawn(serverArgv[0] as string, serverArgv.slice(1), { env: server.env, stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const line = await firstLine(proc);
    const port = Number(line.split(' ')[0]);
    const clientArgv = pinned(0, [process.execPath, self, '--client', String(port), ...Object.entries(o).flatMap(([k, v]) => [`--${k}`, String(v)])]);
    const client = spawn(clientArgv[0] as string, clientArgv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    const result = JSON.parse(await firstLine(client)) as { user: number; system: number };
    return (result.user + result.system) / o.responses;
  } finally {
    proc.stdin.end();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--serve') {
    const o = parseOptions(argv.slice(2));
    if (argv[1] === 'http') serveHttp(o.size);
    else await serveDanga(o.size);
    return;
  }
  if (argv[0] === '--client') {
    await runClient(Number(argv[1]), parseOptions(argv.slice(2)));
    return;
  }
  const o = parseOptions(argv);
  const size = ['--size', String(o.size)];
  const servers: Server[] = [
    { id: 'http', label: 'node:http', args: ['--serve', 'http', ...size], env: process.env },
    { id: 'danga-node', label: 'DangaSocket (node engine)', args: ['--serve', 'danga', ...size], env: { ...process.env, DANGA_ENGINE: 'node' } },
  ];
  try {
    const probe = spawnSync(process.execPath, ['--input-type=module', '-e', "import('danga-socket')"], {
      env: { ...process.env, DANGA_ENGINE: 'epoll' },
      cwd: process.cwd(),
    });
    if (probe.status === 0) {
      servers.push({ id: 'danga-epoll', label: 'DangaSocket (epoll)', args: ['--serve', 'danga', ...size], env: { ...process.env, DANGA_ENGINE: 'epoll' } });
    }
  } catch {
    // no epoll engine: measured without it
  }
  console.log(
    `large writes: ${o.responses} responses of ${o.size} bytes over ${o.connections} connection(s) per round, ${o.rounds} rounds, ${o.warmup} warm-up responses; ${pin ? 'server on CPU 1, client on CPU 0' : 'not pinned'}`,
  );
  const results = new Map<string, number[]>(servers.map((s) => [s.id, []]));
  for (let r = 0; r < o.rounds; r++) {
    for (const s of servers) {
      const us = await measure(s, o);
      results.get(s.id)!.push(us);
      process.stdout.write(`  round ${r + 1} ${s.label}: ${us.toFixed(1)} µs CPU/response\n`);
    }
  }
  const base = median(results.get('http')!);
  console.log('\n| Server | CPU µs per response (median) | min – max | ×node:http |');
  console.log('|---|---|---|---|');
  for (const s of servers) {
    const xs = results.get(s.id)!;
    const m = median(xs);
    console.log(`| ${s.label} | ${m.toFixed(1)} | ${Math.min(...xs).toFixed(1)} – ${Math.max(...xs).toFixed(1)} | ${(m / base).toFixed(2)}× |`);
  }
}

await main(process.argv.slice(2));
