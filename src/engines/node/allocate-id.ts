/**
 * Descriptor-map ids for the node engine's sockets.
 *
 * Its sockets have no fd the loop could rely on: Node closes a socket's fd
 * by itself on errors, and the kernel would hand the number to the next
 * socket while the old object is still in the descriptor map. So each gets
 * a negative id, never reused.
 */
let nextId = -1000;

/** A fresh descriptor-map id: negative, never handed out twice. */
export function allocateId(): number {
  return nextId--;
}
