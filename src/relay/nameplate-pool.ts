/**
 * NameplatePool: hands out the lowest free nameplate >= 1 (docs/design.md §3) so codes stay short,
 * and keeps a released nameplate in quarantine for a while before it is handed out again, so that a
 * stale code (a session that expired, was established or was destroyed) typed later never lands
 * on a newer session and never costs that session a pairing attempt (issue 10).
 *
 * Every number below `#next` is in exactly one of three places: in use, in quarantine, or free.
 * - Free numbers sit in a binary min-heap; allocation takes its minimum, or `#next` when it is
 *   empty. O(log n).
 * - Quarantined numbers sit in a FIFO (release order is also expiry order, the duration being
 *   fixed); allocation first moves every number whose quarantine ended into the free heap.
 * - Memory and nameplate length are bounded: the quarantine holds at most `quarantineCapacity`
 *   numbers. When a release would exceed it, the oldest quarantined number leaves early (it is
 *   freed), so `#next` never exceeds (numbers in use at the peak) + capacity + 1. When every
 *   number up to `max` is in use or quarantined, the oldest quarantined one is handed out
 *   rather than refusing a session.
 *
 * Time is passed in (`now`, epoch ms) so a fake clock can test it; no timer runs.
 */
export interface NameplatePoolOptions {
  /** The largest nameplate that may be handed out. */
  readonly max: number;
  /** How long a released nameplate stays out of use, in ms (0: reused at once). */
  readonly quarantineMs: number;
  /** Most nameplates held in quarantine at once. */
  readonly quarantineCapacity: number;
}

export class NameplatePool {
  readonly #free: number[] = [];
  readonly #inUse = new Set<number>();
  /** Quarantined nameplate → epoch ms at which it was released, in release order. */
  readonly #quarantine = new Map<number, number>();
  #next = 1;
  readonly #max: number;
  readonly #quarantineMs: number;
  readonly #quarantineCapacity: number;

  constructor(options: NameplatePoolOptions) {
    this.#max = options.max;
    this.#quarantineMs = options.quarantineMs;
    this.#quarantineCapacity = options.quarantineCapacity;
  }

  /** The lowest free nameplate not in quarantine, now in use; undefined when none is left. */
  allocate(now: number): number | undefined {
    this.#endQuarantines(now);
    let value: number | undefined;
    if (this.#free.length > 0) {
      value = this.#popMin();
    } else if (this.#next <= this.#max) {
      value = this.#next++;
    } else {
      // Every number is in use or quarantined: better a stale code than no session at all.
      value = this.#takeOldestQuarantined();
    }
    if (value !== undefined) this.#inUse.add(value);
    return value;
  }

  /** Give a nameplate back; it is quarantined. Releasing one that is not in use is a bug and throws. */
  release(value: number, now: number): void {
    if (!this.#inUse.delete(value)) throw new Error(`nameplate ${value} is not in use`);
    if (this.#quarantineMs === 0 || this.#quarantineCapacity === 0) {
      this.#push(value);
      return;
    }
    if (this.#quarantine.size >= this.#quarantineCapacity) {
      const early = this.#takeOldestQuarantined();
      if (early !== undefined) this.#push(early);
    }
    this.#quarantine.set(value, now);
  }

  /** Nameplates in use. */
  get size(): number {
    return this.#inUse.size;
  }

  /** Nameplates in quarantine (some may have served their time; they are freed on the next allocation). */
  get quarantined(): number {
    return this.#quarantine.size;
  }

  /** The largest nameplate ever handed out (0 before the first): how long codes have become. */
  get highest(): number {
    return this.#next - 1;
  }

  /** Numbers the pool holds in any of its structures (for the memory bound). */
  get tracked(): number {
    return this.#inUse.size + this.#quarantine.size + this.#free.length;
  }

  /** Move every nameplate whose quarantine is over into the free heap. */
  #endQuarantines(now: number): void {
    for (const [value, releasedAt] of this.#quarantine) {
      if (now - releasedAt < this.#quarantineMs) break; // FIFO: the rest were released later
      this.#quarantine.delete(value);
      this.#push(value);
    }
  }

  #takeOldestQuarantined(): number | undefined {
    const oldest = this.#quarantine.keys().next();
    if (oldest.done === true) return undefined;
    this.#quarantine.delete(oldest.value);
    return oldest.value;
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
