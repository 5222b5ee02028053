/**
 * The file scenarios' baseline: the idiomatic Node file server, `node:http`
 * with `fs.createReadStream(file).pipe(res)`, serving `--root` with the
 * headers the DangaSocket server sends (Content-Length, Content-Type,
 * Last-Modified). Keep-alive is Node's default.
 */
import { createReadStream, stat } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseServerArgs, serveControl } from './control.js';

const { port, root } = parseServerArgs(process.argv.slice(2));

const server = http.createServer((req, res) => {
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    path = '\0';
  }
  if (path.includes('\0') || path.split('/').includes('..')) {
    res.writeHead(400).end();
    return;
  }
  const file = join(root, path);
  stat(file, (err, st) => {
    if (err || !st.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': st.size, 'Last-Modified': st.mtime.toUTCString() });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).pipe(res);
  });
});
server.keepAliveTimeout = 60_000;
server.listen({ host: '127.0.0.1', port, backlog: 1024 }, () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
  serveControl();
});
