/**
 * Testing a small line protocol server on the simulated network
 * (docs/simulation.md): an uppercase server, clients that send random lines
 * through short reads and writes, EAGAIN, delays and late readiness, and a
 * check that every line came back, in order. Run it, or replay one seed:
 *
 *   node dist/examples/sim-line-server.js            100 seeds
 *   DANGA_SIM_SEED=17 node dist/examples/sim-line-server.js
 */
import { Connection, Listener, connectTcp, listenTcp, type Sock } from 'danga-socket';
import { seeds, simulate, type Simulation } from 'danga-socket/sim';

/** The server under test: answers each line in upper case. */
export class Upper extends Connection {
  override eventRead(): void {
    let line: Buffer | null | undefined;
    while ((line = this.readLine(1024)) !== undefined) {
      if (line === null) return this.end();
      this.write(line.toString().toUpperCase() + '\n');
    }
  }
}

/** A client: sends its lines, then half-closes; collects the answers. */
export class Client extends Connection {
  readonly answers: string[] = [];
  constructor(
    sock: Sock,
    readonly lines: readonly string[],
  ) {
    super(sock);
    for (const l of lines) this.write(l + '\n');
    this.end({ halfClose: true });
  }
  override eventRead(): void {
    let line: Buffer | null | undefined;
    while ((line = this.readLine(1024)) !== undefined) {
      if (line === null) return this.close('done');
      this.answers.push(line.toString());
    }
  }
}

/** One run: the seed decides the lines and the faults' every draw. */
export function run(seed: number) {
  return simulate(
    { seed, faults: { shortRead: 0.3, shortWrite: 0.3, readEagain: 0.1, writeEagain: 0.1, lateReadiness: 0.2, delay: [0, 5], buffer: [16, 4096] } },
    (sim: Simulation) => {
      new Listener(listenTcp({ port: 7000 }), (s) => new Upper(s));
      const clients = Array.from({ length: sim.randomInt(1, 5) }, () => {
        const lines = Array.from({ length: sim.randomInt(0, 20) }, () => sim.randomBytes(sim.randomInt(0, 40)).toString('hex'));
        return new Client(connectTcp({ host: '127.0.0.1', port: 7000 }), lines);
      });
      return () => {
        for (const c of clients) {
          const want = c.lines.map((l) => l.toUpperCase()).join(',');
          if (c.answers.join(',') !== want) throw new Error(`answers ${c.answers.join(',')} for ${want}`);
        }
      };
    },
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const seed of seeds(100)) await run(seed);
  console.log('all seeds passed');
}
