/**
 * NameplatePool: hands out the lowest free nameplate >= 1 (DESIGN §3) so codes stay short.
 *
 * Numbers below `#next` that were released sit in a binary min-heap; allocation takes the
 * heap's minimum, or `#next` when the heap is empty. Both operations are O(log n); the heap
 * holds at most as many numbers as were ever in use at once, which the session bound limits.
 */
export class NameplatePool {
  readonly #free: number[] = [];
  readonly #inUse = new Set<number>();
  #next = 1;
  readonly #max: number;

  /** `max`: the largest nameplate that may be handed out. */
  constructor(max: number) {
    this.#max = max;
  }

  /** The lowest free nameplate, now in use; undefined when every number up to max is taken. */
  allocate(): number | undefined {
    let value: number;
    if (this.#free.length > 0) {
      value = this.#popMin();
    } else {
      if (this.#next > this.#max) return undefined;
      value = this.#next++;
    }
    this.#inUse.add(value);
    return value;
  }

  /** Give a nameplate back. Releasing one that is not in use is a bug and throws. */
  release(value: number): void {
    if (!this.#inUse.delete(value)) throw new Error(`nameplate ${value} is not in use`);
    this.#push(value);
  }

  /** Nameplates in use. */
  get size(): number {
    return this.#inUse.size;
  }

  #push(value: number): void {
    const heap = this.#free;
    heap.push(value);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as number;
      if (p <= value) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = value;
  }

  #popMin(): number {
    const heap = this.#free;
    const min = heap[0] as number;
    const last = heap.pop() as number;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const right = left + 1;
        const child = right < heap.length && (heap[right] as number) < (heap[left] as number) ? right : left;
        if ((heap[child] as number) >= last) break;
        heap[i] = heap[child] as number;
        i = child;
      }
      heap[i] = last;
    }
    return min;
  }
}
