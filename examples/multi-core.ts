/**
 * The README's multi-core example: the shout server on every core, one loop
 * per worker thread on the same port. SIGHUP reloads the code one worker at
 * a time; SIGUSR2 starts a new process that takes the sockets over (this
 * one then drains and exits); SIGTERM drains and exits. Under systemd
 * socket activation it serves the socket systemd gives it.
 *
 *   node dist/examples/multi-core.js        then: nc 127.0.0.1 7000
 */
import { isMainThread } from 'node:worker_threads';
import { announceReady, Connection, inheritedListen, spawnSuccessor, WorkerGroup, type Sock, type WorkerContext, type WorkerExit } from 'danga-socket';

// README:BEGIN
/** Each line comes back upper-cased. */
class Shout extends Connection {
  #leaving = false;

  constructor(sock: Sock) {
    super(sock);
    this.setIdleTimeout(60);
  }

  override eventRead(): void {
    let line: Buffer | null | undefined;
    while ((line = this.readLine(64 * 1024)) !== undefined) {
      if (line === null) return this.end();
      this.write([line.toString('latin1').toUpperCase(), '\n']);
      if (this.#leaving) return this.end(); // answered the line in flight: now close
    }
  }

  // A reload or SIGTERM: answer the next line, then close (the default, end(), would drop what the client sent).
  override onShutdown(): void {
    this.#leaving = true;
  }
}

/** Runs in each worker thread (this module is the group's module). */
export function setup(ctx: WorkerContext): void {
  ctx.serve(0, (sock) => new Shout(sock));
}

if (isMainThread) {
  const group = new WorkerGroup({
    module: import.meta.url, // this file: its setup() runs in every worker
    // The sockets systemd (or the process this one replaces) gave us, else a port of our own.
    listen: inheritedListen() ?? [{ host: '127.0.0.1', port: Number(process.env.PORT ?? 7000) }],
  });
  group.on('exit', (e: WorkerExit) => {
    if (!e.expected) console.error(`worker ${e.slot} died (${e.error?.message ?? 'exit'}); respawn in ${e.respawnIn} s`);
  });
  await group.start();
  announceReady(); // started by spawnSuccessor: the old process may drain and go now
  const where = group.addresses()[0];
  console.log(`${group.size} workers on ${where && 'port' in where ? `${where.address}:${where.port}` : '?'} (pid ${process.pid})`);
  const report = (err: unknown): void => console.error(String(err));
  process.on('SIGHUP', () => void group.reload().catch(report)); // new code, one worker at a time
  process.on('SIGUSR2', () => {
    // A new process (new code, new Node) inherits the listening sockets; then this one drains.
    spawnSuccessor(process.execPath, process.argv.slice(1), { fds: group.listenFds() })
      .then(() => group.shutdown({ timeout: 10 }))
      .catch(report);
  });
  process.once('SIGTERM', () => void group.shutdown({ timeout: 10 }));
}
// README:END
