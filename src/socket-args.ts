/**
 * Argument checks shared by the socket helpers (sockets.ts) and the TLS
 * helpers (tls.ts): errors name the argument, as Node's own do.
 */
import { isIP } from 'node:net';
import { invalidArgType, invalidArgValue } from './core/errors.js';

/** An IP literal (IPv6 with or without brackets) or "localhost" (127.0.0.1). */
export function validateHost(name: string, host: unknown): string {
  if (typeof host !== 'string') throw invalidArgType(name, 'of type string', host);
  if (host === 'localhost') return '127.0.0.1';
  const unbracketed = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(unbracketed) === 0) {
    throw invalidArgValue(
      name,
      `must be an IP address or "localhost" (resolve names with dns.lookup first; for TLS pass the name as servername). Received ${JSON.stringify(host)}`,
    );
  }
  return unbracketed;
}

/** A Unix socket path. */
export function validatePath(path: unknown): string {
  if (typeof path !== 'string') throw invalidArgType('path', 'of type string', path);
  if (path.length === 0 || path.includes('\0')) throw invalidArgValue('path', 'must be a non-empty path without NUL bytes');
  return path;
}

/**
 * Listens on `host`, or, when none is given, on "::" (IPv4 and IPv6) and on
 * "0.0.0.0" where the machine has no IPv6.
 */
export function listenOnHost<T>(host: unknown, listen: (host: string) => T): T {
  if (host !== undefined) return listen(validateHost('options.host', host));
  try {
    return listen('::');
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
    return listen('0.0.0.0');
  }
}
