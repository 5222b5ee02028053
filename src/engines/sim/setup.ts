/**
 * The one place a simulation is put together: its network, driver, runner,
 * engine and virtual clock, for both uses of the sim engine. `simulate()`
 * (src/sim.ts) lends them to the loop for one simulation; the ambient
 * simulation (`DANGA_ENGINE=sim`, src/engines/install.ts) installs them for
 * the whole process and starts the runner whenever the loop starts.
 *
 * What a simulation needs of the loop comes through SimHost, the loop's
 * embedding port (core/loop.ts's Reactor has it): an engine imports nothing
 * of the core's loop.
 */
import type { Clock, Engine } from '../../core/contract.js';
import { SimDriver } from './driver.js';
import { createSimEngine } from './engine.js';
import { resolveFaults, type ResolvedFaults } from './faults.js';
import { SimNetwork } from './network.js';
import { SimRunner, type RunnerOptions } from './runner.js';

/** What a simulation needs of the loop it runs (the loop's embedding port). */
export interface SimHost {
  /** Ends the loop at the end of its next iteration. */
  stop(): void;
  /** Ends the loop at the end of its next iteration, its promise rejecting with `err`. */
  fail(err: Error): void;
  /** Which object the fd belongs to and why it closed, for the trace ('' for nothing). */
  describeFd(fd: number): string;
  /** The timers (how many the last iteration fired, for the trace). */
  readonly timers: { readonly fired: number };
}

/** A simulation's parts: what the loop is lent (engine, driver, clock) and what drives it (network, runner). */
export interface SimParts {
  readonly net: SimNetwork;
  readonly driver: SimDriver;
  readonly runner: SimRunner;
  readonly engine: Engine;
  readonly clock: Clock;
}

/** The network of a simulation. */
interface NetworkParams {
  readonly seed: number;
  readonly faults: ResolvedFaults;
  /** The wall clock at virtual time 0, in seconds since the epoch. */
  readonly epoch: number;
  readonly maxFds: number;
  readonly keepTrace: boolean;
}

/** What simulate() resolved from its options. */
export interface SimulationParams extends NetworkParams {
  readonly durationMs: number;
  readonly watchdogMs: number;
  readonly maxPerInstant: number;
}

/** The ambient simulation's seed when DANGA_SIM_SEED is not set. */
export const AMBIENT_SEED = 1;
/** The ambient simulation's virtual wall clock at virtual time 0 (seconds since the epoch), as simulate()'s default. */
const AMBIENT_EPOCH = 1_700_000_000;

function assemble(params: NetworkParams, label: string, runnerOptions: (net: SimNetwork) => RunnerOptions, host: SimHost): SimParts {
  const { seed, faults, epoch, maxFds, keepTrace } = params;
  const net = new SimNetwork({ seed, faults, epoch, maxFds, keepTrace, describeFd: (fd) => host.describeFd(fd) });
  net.log(`seed ${seed}${label}`);
  const driver = new SimDriver(() => net.now);
  const runner = new SimRunner(net, driver, runnerOptions(net), {
    stop: () => host.stop(),
    fail: (err) => host.fail(err),
    timersFired: () => host.timers.fired,
  });
  const clock: Clock = { monotonicMs: () => net.now, epochSeconds: (ms) => epoch + ms / 1000 };
  return { net, driver, runner, engine: createSimEngine(net, driver), clock };
}

/**
 * The parts of one `simulate()`: its runner ends the run when nothing is
 * left to happen or the duration passes, and fails it on the watchdog
 * (virtual time without progress) or a livelock. simulate() starts the
 * loop and the runner itself.
 */
export function simulationParts(params: SimulationParams, host: SimHost): SimParts {
  const { durationMs, watchdogMs, maxPerInstant } = params;
  return assemble(
    params,
    '',
    () => ({ durationMs, watchdogMs, maxPerInstant, onIdle: 'end', parkGuardMs: 0, timersAreProgress: false, maxIdleMoves: 0, describe: () => '' }),
    host,
  );
}

/**
 * The ambient simulation (DANGA_ENGINE=sim): one simulated network for the
 * process (seed `seed`, no faults, 65536 descriptors), and the runner
 * started by the driver whenever the loop starts. A loop with nothing to
 * wait for in the simulation sleeps until code outside it (a promise job, a
 * Node callback) wakes it, as a real loop would; one that nothing wakes in
 * 10 s of real time fails with ERR_DANGA_SIM_IDLE rather than hanging. The
 * watchdog counts moves of virtual time rather than its amount (10,000
 * moves in a row without a byte moved, a connection made or closed, or a
 * timer fired: a loop polling for a condition that never comes), so that a
 * long timer may fire; the livelock check is simulate()'s.
 */
export function ambientParts(seed: number, keepTrace: boolean, host: SimHost): SimParts {
  const parts = assemble(
    { seed, faults: resolveFaults({}), epoch: AMBIENT_EPOCH, maxFds: 65536, keepTrace },
    ' (ambient)',
    (net) => ({
      durationMs: Infinity,
      watchdogMs: 0,
      maxIdleMoves: 10_000,
      maxPerInstant: 20_000,
      onIdle: 'park',
      parkGuardMs: 10_000,
      timersAreProgress: true,
      describe: () => ` (ambient simulation, DANGA_ENGINE=sim; replay: DANGA_SIM_SEED=${seed}; trace digest ${net.digest().slice(0, 16)})`,
    }),
    host,
  );
  const { net, driver, runner } = parts;
  let pumping = false;
  const pump = (): void => {
    pumping = true;
    void runner
      .run(() => !driver.running)
      .then(() => {
        pumping = false;
        // A loop started again while the run was returning.
        if (driver.running) pump();
      });
  };
  driver.onStart = () => {
    net.progress(); // the watchdog counts from the loop's start
    runner.newRun();
    if (!pumping) pump();
  };
  return parts;
}
