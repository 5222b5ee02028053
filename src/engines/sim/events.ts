/**
 * The simulated network's queue of future events (a segment arriving, a
 * connect answered, an end of stream or a reset delivered): a binary heap
 * on (time, order scheduled), so that events at equal times run in the
 * order they were scheduled, whatever the heap's shape.
 */

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Events due at virtual times, taken in order. */
export class EventQueue {
  readonly #heap: Scheduled[] = [];
  #seq = 0;

  /** Files `fn` for virtual time `at`. */
  push(at: number, fn: () => void): void {
    const heap = this.#heap;
    const item: Scheduled = { at, seq: this.#seq++, fn };
    let i = heap.length;
    heap.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p] as Scheduled;
      if (before(parent, item)) break;
      heap[i] = parent;
      i = p;
    }
    heap[i] = item;
  }

  /** When the next event is due; Infinity when none is filed. */
  nextAt(): number {
    const top = this.#heap[0];
    return top === undefined ? Infinity : top.at;
  }

  /** Takes the next event when it is due by `now`; null when none is. */
  popDue(now: number): (() => void) | null {
    const heap = this.#heap;
    if (heap.length === 0 || (heap[0] as Scheduled).at > now) return null;
    const top = heap[0] as Scheduled;
    const last = heap.pop() as Scheduled;
    const n = heap.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(heap[r] as Scheduled, heap[l] as Scheduled) ? r : l;
        if (before(last, heap[c] as Scheduled)) break;
        heap[i] = heap[c] as Scheduled;
        i = c;
      }
      heap[i] = last;
    }
    return top.fn;
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
