/**
 * Foreign fds: descriptors the loop watches for readability beside its
 * sockets, each with a callback (`DangaSocket.otherFds()` and
 * `addOtherFds()`). The loop keeps the map; this checks what is given and
 * registers the fds with the driver.
 */
import { invalidArgType, invalidArgValue, systemError, validateFunction } from './errors.js';
import { reactor, type OtherFdCallback } from './loop.js';
import { text } from './log.js';

type OtherFdMap = Map<number, OtherFdCallback> | Record<number, OtherFdCallback>;

/** Replaces the foreign fds with those of `map`: every entry checked first; fds no longer wanted are unwatched, new ones watched. */
export function replaceOtherFds(map: OtherFdMap): void {
  const entries = otherFdEntries(map);
  const wanted = new Set(entries.map(([fd]) => fd));
  for (const fd of reactor.otherFds.keys()) {
    if (!wanted.has(fd)) reactor.unwatchOtherFd(fd);
  }
  const kept = new Map(reactor.otherFds);
  reactor.otherFds.clear();
  for (const [fd, cb] of entries) {
    if (!kept.has(fd)) watchOtherFd(fd);
    reactor.otherFds.set(fd, cb);
  }
}

/** Adds the foreign fds of `map` (watched at once). */
export function addOtherFds(map: OtherFdMap): void {
  for (const [fd, cb] of otherFdEntries(map)) {
    if (!reactor.otherFds.has(fd)) watchOtherFd(fd);
    reactor.otherFds.set(fd, cb);
  }
}

function otherFdEntries(map: Map<number, OtherFdCallback> | Record<number, OtherFdCallback>): Array<[number, OtherFdCallback]> {
  if (map === null || typeof map !== 'object') throw invalidArgType('map', 'a Map or an object', map);
  const raw: Array<[unknown, unknown]> = map instanceof Map ? Array.from(map.entries()) : Object.entries(map);
  return raw.map(([k, v]) => {
    const fd = typeof k === 'string' ? Number(k) : k;
    if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
      throw invalidArgValue('map', `has a key that is not a file descriptor: ${text(k)}`);
    }
    return [fd, validateFunction<OtherFdCallback>(`map[${fd}]`, v)];
  });
}

function watchOtherFd(fd: number): void {
  const rc = reactor.driver.watchFd(fd, true);
  if (rc < 0) {
    throw invalidArgValue('map', `has fd ${fd}, which cannot be watched`, systemError(rc, 'epoll_ctl', `fd ${fd}`));
  }
}
