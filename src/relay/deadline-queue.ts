/**
 * DeadlineQueue: many deadlines of a relay node with one timer (seeds/003 "deadlines"; issue 15,
 * docs/performance.md "Idle sessions"). The memory store's session expiry used a `setTimeout` per
 * session (a `Timeout` object, its argument array and boxed numbers: some 0.2 KiB per idle
 * session); here a session costs one slot of two arrays and a number of its own.
 *
 * How: an indexed binary min-heap ordered by due time. Each item carries its position in the heap
 * (`deadlineSlot`, NOT_QUEUED when not in it), so moving or removing a deadline is O(log n)
 * without a search. One timer is armed for the earliest due time; when that item is removed or
 * moved later the timer is kept and, on firing early, just re-armed for the new earliest. A
 * deadline fires no earlier than its due time, and as late as a `setTimeout` for it would (the
 * event loop's lateness): the lateness of expiry is unchanged. Items due at one firing are handed
 * out in order of due time, at most the count queued when the firing began (items queued by the
 * callbacks wait for the next firing), so a callback that queues again cannot keep the loop busy.
 *
 * Input: due times derived from the relay's own policy and clock; nothing here reads the network.
 */

/** What the queue needs of an item: where it sits in the heap, written only by the queue. */
export interface Deadlined {
  deadlineSlot: number;
}

/** `deadlineSlot` of an item in no queue. */
export const NOT_QUEUED = -1;

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days); a later deadline is reached in steps. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export class DeadlineQueue<T extends Deadlined> {
  readonly #fire: (item: T) => void;
  /** The heap: `#items[i]` is due at `#due[i]`; a parent is never due after its children. */
  readonly #items: T[] = [];
  readonly #due: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (epoch ms). */
  #timerAt = Infinity;

  /** `fire` is called once per deadline reached, the item already out of the queue. */
  constructor(fire: (item: T) => void) {
    this.#fire = fire;
  }

  /** Items queued now. */
  get size(): number {
    return this.#items.length;
  }

  /** Whether a timer is armed (none while the queue is empty). */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /** Fire `item` at `dueAt` (epoch ms), replacing the deadline it had. */
  set(item: T, dueAt: number): void {
    const slot = item.deadlineSlot;
    if (slot === NOT_QUEUED) {
      const at = this.#items.length;
      this.#items.push(item);
      this.#due.push(dueAt);
      item.deadlineSlot = at;
      this.#up(at);
    } else {
      const before = this.#due[slot]!;
      this.#due[slot] = dueAt;
      if (dueAt < before) this.#up(slot);
      else this.#down(slot);
    }
    if (dueAt < this.#timerAt) this.#arm(dueAt);
  }

  /** Forget `item`'s deadline; safe when it has none. */
  delete(item: T): void {
    const slot = item.deadlineSlot;
    if (slot === NOT_QUEUED) return;
    item.deadlineSlot = NOT_QUEUED;
    const last = this.#items.length - 1;
    const lastItem = this.#items.pop()!;
    const lastDue = this.#due.pop()!;
    if (slot !== last) {
      const before = this.#due[slot]!;
      this.#items[slot] = lastItem;
      this.#due[slot] = lastDue;
      lastItem.deadlineSlot = slot;
      if (lastDue < before) this.#up(slot);
      else this.#down(slot);
    }
    if (this.#items.length === 0) this.#disarm();
    // Otherwise the timer stays: firing early costs one re-arm, re-arming on every removal more.
  }

  /** Forget every deadline and the timer (the store closes). */
  clear(): void {
    for (const item of this.#items) item.deadlineSlot = NOT_QUEUED;
    this.#items.length = 0;
    this.#due.length = 0;
    this.#disarm();
  }

  #arm(dueAt: number): void {
    clearTimeout(this.#timer);
    const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, dueAt - Date.now()));
    this.#timerAt = dueAt;
    this.#timer = setTimeout(this.#onTimer, delay);
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = Date.now();
    let budget = this.#items.length;
    while (budget > 0 && this.#items.length > 0 && this.#due[0]! <= now) {
      budget--;
      const item = this.#items[0]!;
      this.delete(item);
      this.#fire(item);
    }
    // A callback may have armed the timer for a deadline it set, later than one still queued.
    if (this.#items.length > 0 && this.#due[0]! < this.#timerAt) this.#arm(this.#due[0]!);
  };

  #swap(a: number, b: number): void {
    const item = this.#items[a]!;
    const due = this.#due[a]!;
    this.#items[a] = this.#items[b]!;
    this.#due[a] = this.#due[b]!;
    this.#items[b] = item;
    this.#due[b] = due;
    this.#items[a].deadlineSlot = a;
    item.deadlineSlot = b;
  }

  #up(slot: number): void {
    let at = slot;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (this.#due[parent]! <= this.#due[at]!) return;
      this.#swap(at, parent);
      at = parent;
    }
  }

  #down(slot: number): void {
    let at = slot;
    const length = this.#items.length;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= length) return;
      const right = left + 1;
      const child = right < length && this.#due[right]! < this.#due[left]! ? right : left;
      if (this.#due[at]! <= this.#due[child]!) return;
      this.#swap(at, child);
      at = child;
    }
  }
}
