/**
 * Connection: the base for protocol connections, a DangaSocket with the
 * defaults every server re-wrote: reading from the start, end of stream
 * delivered once, and hangups and errors closing the object.
 */
import { POLLIN } from './constants.js';
import type { Sock } from './contract.js';
import { DangaSocket, kReadBeforeError } from './danga-socket.js';
import type { DangaSocketOptions } from './socket-types.js';
import { invalidArgType } from './errors.js';

const DEFAULTS: DangaSocketOptions = { eofOnce: true };

function withDefaults(options: DangaSocketOptions | undefined): DangaSocketOptions {
  if (options === undefined) return DEFAULTS;
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
  return { ...DEFAULTS, ...options };
}

/**
 * A DangaSocket for a protocol connection. Beside the 1.62 base class it
 *
 * - watches reads from the start (no `watchRead(true)` in each constructor);
 * - delivers end of stream once (`eofOnce`): after `read()` (or a framing
 *   helper) returned null, read interest goes off for good, so a handler
 *   that answered with `end()` is not re-fired while the reply drains;
 * - closes on `eventHup` (reason 'hup', after the data before the hangup
 *   was read) and `eventErr` (reason 'error', after what was readable
 *   before the error was read) instead of throwing.
 *
 * Override `eventRead()`; the framing helpers (`readLine`, `readUntil`,
 * `readExact`, `readSome`), `end()`, the watermarks and the idle timeout are
 * all inherited.
 *
 * @throws as `DangaSocket` (its constructor: the same argument errors).
 * @original new in danga-socket (not in Danga::Socket 1.62): a `Danga::Socket` subclass with the defaults that Perlbal, MogileFS and DJabberd each re-wrote
 */
export class Connection<S extends object = Sock> extends DangaSocket<S> {
  /**
   * @param sock as for DangaSocket
   * @param options as for DangaSocket; `eofOnce` defaults to true here
   *
   * @throws as the DangaSocket constructor.
   */
  constructor(sock: S | number, options?: DangaSocketOptions) {
    super(sock, withDefaults(options));
    this.watchRead(true);
  }

  /**
   * Hangup: closes the object (reason 'hup'), once what the peer sent
   * before it has been read: while read interest is on, eventRead (called
   * first in the same dispatch) reads on until end of stream, which turns
   * read interest off; the hangup after that closes.
   *
   * @throws Nothing.
   * @original `$obj->event_hup()`, overridden
   */
  override eventHup(): void {
    if (this.watchMask() & POLLIN) return;
    this.close('hup');
  }

  /**
   * Error condition: closes the object (reason 'error'), once what arrived
   * before the error has been read: while read interest is on, eventRead is
   * called again as long as it makes progress (the read that finds the
   * error returns null and, with eofOnce, turns read interest off), so
   * bytes that came before a reset are not lost to a handler that reads a
   * piece per event.
   *
   * @throws Nothing of its own (an exception of eventRead propagates).
   * @original `$obj->event_err()`, overridden
   */
  override eventErr(): void {
    this[kReadBeforeError]();
    if (!this.closed) this.close('error');
  }
}
