/**
 * Event bits, with the values Danga::Socket 1.62 exports. They coincide with
 * the epoll bits on Linux (EPOLLIN = POLLIN = 1, …), so the native engine hands
 * the kernel's masks to JavaScript untouched.
 *
 * POLLIN: readable (also: end of stream, a connection to accept).
 *
 * @original `Danga::Socket::POLLIN`
 */
export const POLLIN = 1;
/**
 * Writable (also: a non-blocking connect finished).
 *
 * @original `Danga::Socket::POLLOUT`
 */
export const POLLOUT = 4;
/**
 * Error condition.
 *
 * @original `Danga::Socket::POLLERR`
 */
export const POLLERR = 8;
/**
 * Hangup.
 *
 * @original `Danga::Socket::POLLHUP`
 */
export const POLLHUP = 16;
/**
 * Invalid request: the fd is not open.
 *
 * @original `Danga::Socket::POLLNVAL`
 */
export const POLLNVAL = 32;

/** The mask every object starts with: errors and hangups are always wanted. */
export const INITIAL_WATCH = POLLERR | POLLHUP | POLLNVAL;

/** A wait without a timeout: for events only (the loop timeout's default). */
export const WAIT_FOREVER = -1;

/** The empty Buffer, shared by everything that hands one out (an empty Buffer has nothing to change). */
export const EMPTY = Buffer.alloc(0);

/** A function that does nothing: an 'error' listener that only keeps an error from being unhandled, a keep-alive timer's callback. */
export const noop = (): void => {};
