/**
 * The worker module of the `workers` scenario's DangaSocket server
 * (danga-group.ts): each worker of the WorkerGroup serves the group's socket
 * with the echo of the single-loop server (danga-conns.ts), and tells the
 * supervisor which engine its loop runs.
 */
import { DangaSocket, type WorkerContext } from 'danga-socket';
import { Echo } from './danga-conns.js';

/** The group's setup function: one Listener on the group's socket, echo on every connection. */
export function setup(ctx: WorkerContext): void {
  ctx.serve(0, (sock) => {
    const c = new Echo(sock);
    c.watchRead(true);
    return c;
  });
  ctx.send({ engine: DangaSocket.engine() });
}
