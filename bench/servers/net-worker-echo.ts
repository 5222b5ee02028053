/**
 * The `net` echo of the `workers` scenario's Node servers (cluster-echo.ts,
 * net-reuseport.ts): net-echo.ts's `socket.pipe(socket)`, counting what each
 * worker accepted and read, for the balance.
 */
import * as net from 'node:net';
import type { WorkerStats } from './control.js';

/** A `net` echo server (not listening yet) and its counters. */
export function workerEcho(): { server: net.Server; stats: () => WorkerStats } {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let closedBytes = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      closedBytes += socket.bytesRead;
      sockets.delete(socket);
    });
    socket.pipe(socket);
  });
  const stats = (): WorkerStats => {
    let bytesIn = closedBytes;
    for (const s of sockets) bytesIn += s.bytesRead;
    return { accepted, bytesIn };
  };
  return { server, stats };
}
