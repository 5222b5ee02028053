/**
 * Taking over listening sockets: a process upgrade (spawnSuccessor, the
 * successor finding the sockets with inheritedListen) under continuous load
 * from the C client, 20 times in a row; a start under systemd's
 * `systemd-socket-activate`; and the protocol's edge cases.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inheritedListen, spawnSuccessor, WorkerGroup } from '../../src/index.js';
import { loadBinding } from '../../src/engines/epoll/binding.js';
import { alive, gone, skipOnSim } from '../helpers.js';
import { connClient, startLoad, type LoadResult } from './load.js';

const server = fileURLToPath(new URL('./fixtures/upgrade-server.js', import.meta.url));
const skip = skipOnSim('worker') || (loadBinding() === null ? 'a WorkerGroup needs the native addon' : false);
const skipLoad = skip || (connClient() === null ? 'no C compiler (cc) for the load client' : false);
const haveActivate = spawnSync('sh', ['-c', 'command -v systemd-socket-activate']).status === 0;

interface Ready {
  ready: number;
  port: number;
  inherited: boolean;
}

/** The generations of the upgrade-server, all writing to one stdout pipe. */
class Generations {
  readonly lines: Ready[] = [];
  readonly #waiters: (() => void)[] = [];
  readonly child: ChildProcess;

  /** Resolves when the command's stderr says `stderrReady` (at once when not asked for). */
  readonly listening: Promise<void>;

  constructor(command: string, args: string[], stderrReady?: string) {
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', stderrReady === undefined ? 'inherit' : 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      this.lines.push(JSON.parse(line) as Ready);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.listening =
      stderrReady === undefined
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            createInterface({ input: this.child.stderr! }).on('line', (line) => {
              process.stderr.write(`${line}\n`);
              if (line.includes(stderrReady)) resolve();
            });
            this.child.on('exit', (code) => reject(new Error(`${command} exited (${code}) before it listened`)));
          });
  }

  async next(count: number): Promise<Ready> {
    while (this.lines.length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.lines[count - 1]!;
  }
}

const leftovers: number[] = [];
after(() => {
  for (const pid of leftovers) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

function assertClean(r: LoadResult, what: string): void {
  assert.deepEqual(
    { refused: r.refused, reset_before_accept: r.reset_before_accept, failed_after_accept: r.failed_after_accept, corrupt: r.corrupt, timeout: r.timeout },
    { refused: 0, reset_before_accept: 0, failed_after_accept: 0, corrupt: 0, timeout: 0 },
    what,
  );
  assert.ok(r.ok > 0, `${what}: exchanges made`);
}

/** DANGA_TEST_LOAD_SCALE (default 1): CI runs the full counts once, and fewer on its other Node releases. */
const scale = Number(process.env.DANGA_TEST_LOAD_SCALE ?? '1') || 1;

for (const mode of ['reuseport', 'shared'] as const) {
  const upgrades = Math.max(2, Math.round((mode === 'reuseport' ? 20 : 5) * scale));
  test(`process upgrade, ${mode}: ${upgrades} upgrades under continuous connects and requests: none refused, reset or lost`, { skip: skipLoad }, async (t) => {
    const gens = new Generations(process.execPath, [server, mode]);
    const first = await gens.next(1);
    leftovers.push(first.ready);
    assert.equal(first.inherited, false);
    const load = startLoad(first.port, 20);
    await load.started;
    let current = first;
    for (let i = 0; i < upgrades; i++) {
      process.kill(current.ready, 'SIGUSR2');
      const next = await gens.next(i + 2);
      leftovers.push(next.ready);
      assert.notEqual(next.ready, current.ready);
      assert.equal(next.inherited, true, 'the successor took over the sockets');
      assert.equal(next.port, first.port);
      await gone(current.ready); // the predecessor drained and exited
      current = next;
    }
    const r = await load.stop();
    assertClean(r, `${upgrades} upgrades`);
    t.diagnostic(`${upgrades} process upgrades (${mode}) under load: ${r.ok} exchanges, 0 refused, 0 reset, 0 lost`);
    process.kill(current.ready, 'SIGTERM');
    await gone(current.ready);
  });
}

test(
  'under systemd-socket-activate: the group serves the inherited socket, and the connection that activated it waits, not refused',
  { skip: skipLoad || (haveActivate ? false : 'systemd-socket-activate not installed (apt-get install systemd)') },
  async () => {
    // A free port: bind, read, close (systemd-socket-activate binds it again).
    const probe = new WorkerGroup({ module: new URL('./fixtures/hello-server.js', import.meta.url), workers: 1, listen: [{ host: '127.0.0.1', port: 0 }] });
    await probe.start();
    const port = (probe.addresses()[0] as { port: number }).port;
    await probe.shutdown({ timeout: 1 });
    const gens = new Generations('systemd-socket-activate', ['-l', `127.0.0.1:${port}`, process.execPath, server, 'shared'], 'Listening on');
    try {
      await gens.listening;
      // systemd-socket-activate starts the program at the first connection: the load is that connection.
      const load = startLoad(port, 5, 500);
      const first = await gens.next(1);
      leftovers.push(first.ready);
      assert.equal(first.inherited, true);
      assert.equal(first.port, port);
      const r = await load.done;
      assertClean(r, 'socket activation');
      assert.equal(r.ok, 500);
      process.kill(first.ready, 'SIGTERM');
      await gone(first.ready);
    } finally {
      gens.child.kill('SIGKILL');
    }
  },
);

describe('handover: edge cases', { skip }, () => {
  test('inheritedListen follows sd_listen_fds: LISTEN_PID must be this process; names group fds into entries; the variables are removed', () => {
    const env = process.env;
    env.LISTEN_PID = String(process.pid + 1);
    env.LISTEN_FDS = '2';
    assert.equal(inheritedListen(), null, 'another process was meant');
    env.LISTEN_PID = String(process.pid);
    env.LISTEN_FDS = '4';
    env.LISTEN_FDNAMES = 'danga-listen-1:danga-listen-0:web:danga-listen-1';
    assert.deepEqual(inheritedListen(), [{ fds: [4] }, { fds: [3, 6] }, { fds: [5] }]);
    assert.equal(env.LISTEN_PID, undefined);
    assert.equal(env.LISTEN_FDS, undefined);
    assert.equal(env.LISTEN_FDNAMES, undefined);
    env.LISTEN_PID = String(process.pid);
    env.LISTEN_FDS = 'two';
    assert.throws(() => inheritedListen(), { code: 'ERR_DANGA_BAD_LISTEN_FDS' });
    assert.equal(inheritedListen(), null);
  });

  test('a successor that exits before it is ready: spawnSuccessor rejects, and the group goes on serving', async () => {
    const g = new WorkerGroup({ module: new URL('./fixtures/hello-server.js', import.meta.url), workers: 1, listen: [{ host: '127.0.0.1', port: 0 }] });
    await g.start();
    try {
      await assert.rejects(spawnSuccessor('/bin/false', [], { fds: g.listenFds() }), {
        code: 'ERR_DANGA_SUCCESSOR_FAILED',
        message: /exited \(code 1\) before it was ready/,
      });
      assert.throws(() => spawnSuccessor('', [], { fds: [] }), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => spawnSuccessor('x', [], { fds: [[-1]] }), { code: 'ERR_OUT_OF_RANGE' });
      if (connClient() !== null) {
        const r = await startLoad((g.addresses()[0] as { port: number }).port, 5, 100).done;
        assertClean(r, 'after a failed upgrade');
      }
    } finally {
      await g.shutdown({ timeout: 1 });
    }
  });
});
