/**
 * Event bits, with the values Danga::Socket 1.62 exports. They coincide with
 * the epoll bits on Linux (EPOLLIN = POLLIN = 1, …), so the native engine hands
 * the kernel's masks to JavaScript untouched.
 */
export const POLLIN = 1;
export const POLLOUT = 4;
export const POLLERR = 8;
export const POLLHUP = 16;
export const POLLNVAL = 32;

/** The mask every object starts with: errors and hangups are always wanted. */
export const INITIAL_WATCH = POLLERR | POLLHUP | POLLNVAL;

/** A wait without a timeout: for events only (the loop timeout's default). */
export const WAIT_FOREVER = -1;
