/**
 * fast-check driving simulations: it picks the seed, the scenario (the
 * lines each client sends) and the fault intensities; a counterexample
 * names all three, and fast-check shrinks the scenario while the seed keeps
 * each run exact. The server and clients are examples/sim-line-server.ts's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Listener, connectTcp, listenTcp } from 'danga-socket';
import { simulate } from 'danga-socket/sim';
import { Client, Upper } from '../../examples/sim-line-server.js';

const probability = fc.double({ min: 0, max: 0.5, noNaN: true });

test('fast-check: every line comes back upper-cased, in order, whatever the seed, the lines and the faults', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.nat(),
      fc.array(fc.array(fc.stringMatching(/^[a-z0-9 ]{0,30}$/), { maxLength: 15 }), { minLength: 1, maxLength: 4 }),
      fc.record({ shortRead: probability, shortWrite: probability, readEagain: probability, writeEagain: probability, lateReadiness: probability }),
      async (seed, scripts, faults) => {
        const clients: Client[] = [];
        await simulate({ seed, faults: { ...faults, delay: [0, 5], buffer: [16, 4096] } }, () => {
          new Listener(listenTcp({ port: 7000 }), (s) => new Upper(s));
          for (const lines of scripts) clients.push(new Client(connectTcp({ host: '127.0.0.1', port: 7000 }), lines));
        });
        clients.forEach((c, i) =>
          assert.deepEqual(
            c.answers,
            scripts[i]!.map((l) => l.toUpperCase()),
          ),
        );
      },
    ),
    { numRuns: 200, seed: 20260126 },
  );
});
