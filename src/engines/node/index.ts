/**
 * The portable engine over Node's own sockets and streams (issue: second
 * transport). Placeholder until it lands: it adopts nothing and cannot run
 * the loop.
 */
import type { Engine } from '../engine.js';

/** The stream engine, or null when it is not available in this build. */
export function createNodeEngine(): Engine | null {
  return null;
}

/** Adopts Node streams into transports (used beside the epoll engine too). */
export function adoptStream(_sock: unknown): null {
  return null;
}
