/**
 * examples/proxy.ts: a client's bytes reach the backend and the backend's
 * come back, both ways at once, byte-exact, with half-closes passed on; a
 * backend that refuses closes the client. On both engines.
 */
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { DangaSocket } from 'danga-socket';
import { startProxy } from '../../examples/proxy.js';
import { runUntil } from '../helpers.js';

afterEach(() => DangaSocket.reset());

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('proxy: 8 MiB each way through the proxy, byte-exact; end of stream passed on both ways', async () => {
  // The backend (Node's net) answers with the reverse of what it got, once the client half-closed.
  const backend = net.createServer({ allowHalfOpen: true }, (s) => {
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => s.end(Buffer.concat(got).reverse()));
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const backendPort = (backend.address() as net.AddressInfo).port;
  const proxy = startProxy(0, { host: '127.0.0.1', port: backendPort });
  const port = (proxy.requireSock().localAddress() as { port: number }).port;

  const payload = Buffer.alloc(8 << 20);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 131 + (i >>> 9)) & 0xff;
  const chunks: Buffer[] = [];
  let done = false;
  const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => c.end(payload));
  c.on('data', (d: Buffer) => chunks.push(d));
  c.on('end', () => (done = true));
  c.on('error', () => (done = true));
  await runUntil(() => done && DangaSocket.watchedSockets() === 1);
  assert.equal(sha(Buffer.concat(chunks)), sha(Buffer.from(payload).reverse()));
  proxy.close();
  await new Promise<void>((resolve) => backend.close(() => resolve()));
});

test('proxy: a backend that refuses the connection closes the client side', async () => {
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const proxy = startProxy(0, { host: '127.0.0.1', port: deadPort });
  const port = (proxy.requireSock().localAddress() as { port: number }).port;
  let ended = false;
  const c = net.connect({ host: '127.0.0.1', port }, () => c.write('anyone?'));
  c.on('close', () => (ended = true));
  c.on('error', () => {});
  await runUntil(() => ended);
  assert.equal(proxy.connections(), 0);
  proxy.close();
});
