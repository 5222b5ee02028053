/**
 * Loaded into every test process by scripts/run-tests.mjs (`--import`): once
 * a file's tests have all ended, whatever still keeps the process alive is a
 * handle the file left open. Rather than let the runner wait out its
 * per-file timeout (120 s) and report only that it timed out, the process
 * names what is still open and exits with a failure, GRACE_MS after its last
 * test. A process that ends normally never waits for this: the timer does
 * not keep it alive.
 */
import { after } from 'node:test';
import { basename } from 'node:path';

/** How long a file may take to close what it opened after its last test (generous: the machine may be loaded). */
const GRACE_MS = 10_000;

/** What a handle is, as far as one can tell from outside (the undocumented `_getActiveHandles` gives the objects). */
function describe(h: unknown): string {
  const o = h as {
    constructor?: { name?: string };
    fd?: number;
    pid?: number;
    spawnfile?: string;
    address?: () => unknown;
    remotePort?: number;
    localPort?: number;
  };
  const name = o.constructor?.name ?? typeof h;
  const parts: string[] = [name];
  if (typeof o.pid === 'number') parts.push(`pid ${o.pid}${o.spawnfile ? ` (${o.spawnfile})` : ''}`);
  if (typeof o.localPort === 'number') parts.push(`local port ${o.localPort}`);
  if (typeof o.remotePort === 'number') parts.push(`remote port ${o.remotePort}`);
  if (typeof o.address === 'function' && typeof o.localPort !== 'number') {
    try {
      parts.push(`listening on ${JSON.stringify(o.address())}`);
    } catch {
      // not bound
    }
  }
  if (typeof o.fd === 'number' && o.fd >= 0) parts.push(`fd ${o.fd}`);
  return parts.join(' ');
}

after(() => {
  const timer = setTimeout(() => {
    const stdio = new Set<unknown>([process.stdin, process.stdout, process.stderr]);
    const getHandles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
    const handles = (getHandles?.call(process) ?? []).filter((h) => !stdio.has(h));
    const resources = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
    const file = basename(process.argv[1] ?? '?');
    process.stderr.write(
      `open-handles: ${file} still runs ${GRACE_MS / 1000} s after its last test; open: ${resources.join(', ') || '(none named)'}\n` +
        handles.map((h) => `  ${describe(h)}\n`).join(''),
    );
    process.exit(1);
  }, GRACE_MS);
  timer.unref();
});
