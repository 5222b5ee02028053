/**
 * Whether the epoll engine can drive this runtime's event loop, checked
 * before the addon is loaded (engines/install.ts).
 *
 * The addon runs its loop from Node's: it asks N-API for the libuv loop
 * (napi_get_uv_event_loop) and watches its epoll fd there with a uv_poll_t,
 * a timer and idle/check handles. That needs the runtime's event loop to be
 * libuv, as Node's is. Other runtimes that load N-API addons answer with a
 * stand-in: Deno's uv_* functions exist but nothing ever runs the watcher
 * (the loop never turns; an echo round trip hangs) and it has no
 * uv_timer_get_due_in (a call would end the process); Bun's uv_poll_init
 * panics. Probing those functions would crash or hang the process, so the
 * check is on what the runtime says it is, before any of them is called.
 */

/**
 * Why the epoll engine cannot drive this runtime's event loop, or null when
 * it can (Node: libuv runs the loop).
 */
export function hostLoopProblem(): string | null {
  const v = process.versions as Record<string, string | undefined>;
  if (v.deno !== undefined) return `Deno ${v.deno} has no libuv loop for addons: the addon's epoll watcher would never run`;
  if (v.bun !== undefined) return `Bun ${v.bun} has no libuv loop for addons: uv_poll_init is not supported`;
  if (typeof v.uv !== 'string') return 'this runtime has no libuv event loop (process.versions.uv is not set)';
  return null;
}
