/**
 * An HTTP/1.1 static file server, Perlbal's way: the header and the file go
 * out with `TCP_CORK` around them, the file as a range in the write queue
 * (`writeFile`: `sendfile(2)` on the epoll engine, no byte through
 * JavaScript). GET and HEAD, keep-alive and pipelining, Content-Type by
 * extension, `Range: bytes=` (one range: 206, 416), Last-Modified and
 * If-Modified-Since (304), a listing for directories without index.html.
 * Nothing outside the root is served: `..` (decoded), NUL and malformed
 * escapes are refused (400); a file whose real path is outside the root
 * (behind a symlink out) is not found (404): the directory's realpath is
 * checked (the answer kept for a second), the file opened with O_NOFOLLOW.
 *
 * Read interest is off while a response is still queued: a client that asks
 * faster than it reads is not read from, and pipelined requests already
 * buffered are answered in order once the response before them is out.
 *
 *   node dist/examples/static-server.js [root] [port]    then: curl -O http://127.0.0.1:8080/file
 */
import { closeSync, constants as fsc, fstatSync, openSync, readdirSync, realpathSync, type Stats } from 'node:fs';
import { dirname, extname, join, sep } from 'node:path';
import { Connection, DangaSocket, Listener, listenTcp, POLLIN, type Sock } from 'danga-socket';

/** Largest request head (request line and headers); past it: 431. */
export const MAX_HEAD = 8192;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8', '.md': 'text/markdown; charset=utf-8', '.ts': 'text/plain; charset=utf-8',
  '.xml': 'application/xml', '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg',
  '.gif': 'image/gif', '.webp': 'image/webp', '.ico': 'image/x-icon', '.pdf': 'application/pdf', '.wasm': 'application/wasm',
}; // prettier-ignore

/** The Content-Type of a file name: by extension, else application/octet-stream. */
export const contentType = (name: string): string => TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';

const REASONS: Record<number, string> = {
  200: 'OK', 206: 'Partial Content', 301: 'Moved Permanently', 304: 'Not Modified', 400: 'Bad Request', 404: 'Not Found',
  405: 'Method Not Allowed', 416: 'Range Not Satisfiable', 431: 'Request Header Fields Too Large', 505: 'HTTP Version Not Supported',
}; // prettier-ignore

/**
 * A `Range` header against a file of `size` bytes: [start, end] inclusive,
 * 'unsatisfiable' (416), or null to ignore it and send everything (absent,
 * not bytes, malformed, or several ranges, which a server may decline).
 */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | null {
  const m = header === undefined ? null : /^bytes=[ \t]*(\d*)-(\d*)[ \t]*$/i.exec(header);
  if (m === null || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]); // the last n bytes
    return suffix === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return null; // invalid: ignored
  return start >= size ? 'unsatisfiable' : [start, end];
}

/** The file path under the root for a request target, or null when it must be refused (400). */
export function targetPath(target: string): string | null {
  if (!target.startsWith('/')) return null;
  let path: string;
  try {
    path = decodeURIComponent(target.replace(/[?#].*$/s, ''));
  } catch {
    return null; // a malformed escape
  }
  if (path.includes('\0') || path.split('/').some((seg) => seg === '..')) return null;
  return path;
}

let dateSecond = 0;
let dateText = '';
/** Directories known to be inside a root (their realpath), forgotten every second (with the Date header). */
const dirsInside = new Set<string>();
const httpDate = (): string => {
  const now = Math.floor(Date.now() / 1000);
  if (now !== dateSecond) {
    [dateSecond, dateText] = [now, new Date(now * 1000).toUTCString()];
    dirsInside.clear();
  }
  return dateText;
};

const under = (root: string, real: string): boolean => real === root || real.startsWith(root + sep);

/** True when directory `dir`'s realpath is `root` or under it (the answer is kept for up to a second). */
function dirInside(root: string, dir: string): boolean {
  const key = `${root}\0${dir}`;
  if (dirsInside.has(key)) return true;
  let ok = false;
  try {
    ok = under(root, realpathSync.native(dir));
  } catch {
    // ENOENT…
  }
  if (ok && dirsInside.size < 10_000) dirsInside.add(key);
  return ok;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** One client connection. */
export class StaticConnection extends Connection {
  readonly #root: string;
  /** The request in hand is HTTP/1.0 (keep-alive is then announced). */
  #http10 = false;

  /** @param root the root directory, as a realpath */
  constructor(sock: Sock, root: string) {
    super(sock);
    this.#root = root;
    this.setIdleTimeout(60);
  }

  override eventRead(): void {
    // Read interest goes off while a response is queued; once back on, the loop delivers what is buffered.
    while (this.watchMask() & POLLIN) {
      let head: Buffer | null | undefined;
      try {
        head = this.readUntil('\r\n\r\n', MAX_HEAD);
      } catch {
        return this.#simple(431, false); // ERR_DANGA_FRAME_TOO_LONG
      }
      if (head === undefined) return;
      if (head === null) return this.end();
      this.#request(head.toString('latin1'));
    }
  }

  #request(head: string): void {
    const [requestLine = '', ...lines] = head.split('\r\n');
    const m = /^([A-Z]+) (\S+) HTTP\/(\d)\.(\d)$/.exec(requestLine);
    if (m === null) return this.#simple(400, false);
    const [, method = '', target = '', major, minor] = m;
    if (major !== '1') return this.#simple(505, false);
    this.#http10 = minor === '0';
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0 || /[\s]/.test(line[0] ?? ' ') || /\s/.test(line.slice(0, colon))) return this.#simple(400, false);
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
    const connection = (headers.get('connection') ?? '').toLowerCase();
    const keepAlive = this.#http10 ? connection.includes('keep-alive') : !connection.includes('close');
    // A request body is not read: the connection cannot go on after one.
    const hasBody = headers.has('transfer-encoding') || (headers.get('content-length') ?? '0') !== '0';
    if (method !== 'GET' && method !== 'HEAD') return this.#simple(405, false, 'Allow: GET, HEAD\r\n');
    if (hasBody || (!this.#http10 && !headers.has('host'))) return this.#simple(400, false);
    const path = targetPath(target);
    if (path === null) return this.#simple(400, false);
    this.#serve(method === 'HEAD', path, headers, keepAlive);
  }

  #serve(head: boolean, path: string, headers: Map<string, string>, keepAlive: boolean): void {
    const root = this.#root;
    const full = join(root, path);
    const target = full.length > 1 && full.endsWith('/') ? full.slice(0, -1) : full;
    // The directory must be inside the root (a symlink out is not); O_NOFOLLOW: so must the file
    // (ELOOP: it is a symlink, followed only to a file inside). O_NONBLOCK: a FIFO must not block the loop.
    const flags = fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOFOLLOW;
    let fd: number;
    let st: Stats;
    try {
      if (target !== root && !dirInside(root, dirname(target))) throw new Error('outside the root');
      try {
        fd = openSync(target, flags);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ELOOP') throw e;
        const real = realpathSync.native(target);
        if (!under(root, real)) throw e;
        fd = openSync(real, flags);
      }
    } catch {
      return this.#simple(404, keepAlive); // ENOENT, ENOTDIR, EACCES, outside the root…
    }
    try {
      st = fstatSync(fd);
    } catch {
      closeSync(fd);
      return this.#simple(404, keepAlive);
    }
    if (!st.isFile()) {
      closeSync(fd);
      if (!st.isDirectory()) return this.#simple(404, keepAlive); // a FIFO, a device…
      if (!path.endsWith('/')) return this.#simple(301, keepAlive, `Location: ${encodeURI(path)}/\r\n`);
      return this.#directory(head, path, target, headers, keepAlive);
    }
    this.#file(head, fd, st, contentType(path), headers, keepAlive); // owns fd from here
  }

  #file(head: boolean, fd: number, st: Stats, type: string, headers: Map<string, string>, keepAlive: boolean): void {
    const mtime = Math.floor(st.mtimeMs / 1000) * 1000;
    const since = Date.parse(headers.get('if-modified-since') ?? '');
    const common = `Last-Modified: ${new Date(mtime).toUTCString()}\r\nAccept-Ranges: bytes\r\n`;
    if (!headers.has('if-none-match') && since >= mtime) {
      closeSync(fd);
      return this.#respond(304, keepAlive, common, 0);
    }
    const range = headers.has('if-range') ? null : parseRange(headers.get('range'), st.size);
    if (range === 'unsatisfiable') {
      closeSync(fd);
      return this.#simple(416, keepAlive, `Content-Range: bytes */${st.size}\r\n`);
    }
    const [start, end] = range ?? [0, st.size - 1];
    const extra = range === null ? '' : `Content-Range: bytes ${start}-${end}/${st.size}\r\n`;
    const length = end - start + 1;
    if (head || length === 0) {
      closeSync(fd);
      return this.#respond(range === null ? 200 : 206, keepAlive, `${common}${extra}Content-Type: ${type}\r\n`, length);
    }
    // Header and first body bytes in the same segments: cork, header, file, uncork once sent.
    this.tcpCork(true);
    this.#respond(range === null ? 200 : 206, keepAlive, `${common}${extra}Content-Type: ${type}\r\n`, length, () => {
      // sendfile(2) on the epoll engine; the size is known from our fstat: no second one.
      this.writeFile(fd, start, length, { close: true, size: st.size });
      this.write(() => this.tcpCork(false));
    });
  }

  #directory(head: boolean, path: string, real: string, headers: Map<string, string>, keepAlive: boolean): void {
    const names = readdirSync(real, { withFileTypes: true });
    if (names.some((d) => d.name === 'index.html')) return this.#serve(head, path + 'index.html', headers, keepAlive);
    const items = names
      .map((d) => (d.isDirectory() ? d.name + '/' : d.name))
      .sort()
      .map((n) => `<li><a href="${escapeHtml(encodeURIComponent(n).replace(/%2F$/, '/'))}">${escapeHtml(n)}</a></li>`);
    const title = escapeHtml(path);
    const body = Buffer.from(`<!doctype html><meta charset="utf-8"><title>${title}</title><h1>${title}</h1><ul>${items.join('')}</ul>\n`);
    this.#respond(200, keepAlive, 'Content-Type: text/html; charset=utf-8\r\n', body.length, head ? undefined : body);
  }

  /** An error (or redirect) with a short text body; `keepAlive` false closes after it. */
  #simple(status: number, keepAlive: boolean, extra = ''): void {
    const body = status === 304 ? '' : `${status} ${REASONS[status]}\n`;
    this.#respond(status, keepAlive, `${extra}Content-Type: text/plain; charset=utf-8\r\n`, body.length, body);
  }

  /**
   * Sends a status line and headers, then `body` (bytes, or a function that
   * queues them), then reads the next request (keep-alive) or ends.
   */
  #respond(status: number, keepAlive: boolean, headers: string, length: number, body?: string | Buffer | (() => void)): void {
    const head =
      `HTTP/1.1 ${status} ${REASONS[status]}\r\nDate: ${httpDate()}\r\n${headers}` +
      `${status === 304 ? '' : `Content-Length: ${length}\r\n`}${keepAlive ? (this.#http10 ? 'Connection: keep-alive\r\n' : '') : 'Connection: close\r\n'}\r\n`;
    if (typeof body === 'function') {
      this.write(head);
      body();
    } else {
      this.write(body === undefined || body.length === 0 ? head : [head, body]);
    }
    if (!keepAlive) return this.end();
    // Not all out yet (the client reads slower than we send): read nothing more until it is.
    if (this.writeBufSize > 0) {
      this.watchRead(false);
      this.write(() => this.watchRead(true));
    }
  }
}

/** Serves `root` on `port` (0 picks one); returns the listener (the loop must run to serve). */
export function startStaticServer(root: string, port: number, host = '127.0.0.1'): Listener {
  const real = realpathSync.native(root);
  return new Listener(listenTcp({ host, port, backlog: 1024 }), (sock) => new StaticConnection(sock, real));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const listener = startStaticServer(process.argv[2] ?? '.', Number(process.argv[3] ?? 8080));
  console.log(`static server listening on http://${listener.localAddrString()}/ (engine: ${DangaSocket.engine()})`);
  DangaSocket.setErrorHandler((err, conn) => console.error(`${conn.asString()}: ${String(err)}`));
  process.once('SIGINT', () => void DangaSocket.shutdown({ timeout: 10 }));
  process.once('SIGTERM', () => void DangaSocket.shutdown({ timeout: 10 }));
  await DangaSocket.eventLoop();
}
