/**
 * ReconnectBudget: how many new sockets each side of an established session may open per minute
 * (docs/design.md §8.1 with §3's rate limits). Every socket after `established` is a resumption or
 * a replacement; each costs the relay an upgrade, a key check and three audit lines, and closes the
 * older socket. An endpoint that reconnects with jittered backoff needs a handful per minute; a
 * buggy loop or a holder of a leaked key gets 429 KP_ERR_RELAY_RATE_LIMITED once the budget is
 * spent, and the session's current socket is left alone.
 *
 * Bounded: fixed one-minute windows per session side; the table holds at most `capacity` sides
 * (sides whose window is over go first, then the oldest), and a session's sides are forgotten when
 * it ends. Input: session ids and roles already verified by the upgrade handler.
 *
 * `ReconnectLimit` is what the upgrade handler uses: this class in one relay process, or the
 * Redis one of redis-limits.ts for a cluster (each side's budget then holds across nodes).
 */
import type { PeerRole } from '../protocol/relay-api.js';

const WINDOW_MS = 60_000; // 1 min

/** A new socket allowed (and counted), or refused until its window ends. */
export interface ReconnectVerdict {
  readonly allowed: boolean;
  /** When refused: ms until the window ends (the 429's `Retry-After`). */
  readonly retryAfterMs: number;
}

export interface ReconnectLimit {
  /** Spend one new socket of `role` of session `id`, unless this minute's budget is gone. */
  attempt(id: string, role: PeerRole): Promise<ReconnectVerdict>;
  /** Forget both sides of session `id` (it ended). */
  forget(id: string): void;
}

interface Window {
  readonly start: number;
  count: number;
}

export class ReconnectBudget implements ReconnectLimit {
  readonly #bySide = new Map<string, Window>();
  readonly #perMinute: number;
  readonly #capacity: number;
  readonly #now: () => number;

  constructor(options: { readonly perMinute: number; readonly capacity: number; readonly now?: () => number }) {
    this.#perMinute = options.perMinute;
    this.#capacity = options.capacity;
    this.#now = options.now ?? Date.now;
  }

  /** Spend one new socket of `role` of session `id`; false (nothing spent) when this minute's budget is gone. */
  spend(id: string, role: PeerRole): boolean {
    const now = this.#now();
    const side = `${id}/${role}`;
    let window = this.#bySide.get(side);
    if (window === undefined || now - window.start >= WINDOW_MS) {
      // A fresh window goes to the end of the table, which keeps the table in start order.
      this.#bySide.delete(side);
      window = { start: now, count: 0 };
      this.#bySide.set(side, window);
      this.#bound(now);
    }
    if (window.count >= this.#perMinute) return false;
    window.count++;
    return true;
  }

  attempt(id: string, role: PeerRole): Promise<ReconnectVerdict> {
    const allowed = this.spend(id, role);
    return Promise.resolve({ allowed, retryAfterMs: allowed ? 0 : this.retryAfterMs(id, role) });
  }

  /** How long until the current window of `role` of session `id` ends, in ms (0 without one): a refusal's `Retry-After`. */
  retryAfterMs(id: string, role: PeerRole): number {
    const window = this.#bySide.get(`${id}/${role}`);
    return window === undefined ? 0 : Math.max(0, window.start + WINDOW_MS - this.#now());
  }

  /** Forget both sides of session `id` (it ended). */
  forget(id: string): void {
    this.#bySide.delete(`${id}/agent`);
    this.#bySide.delete(`${id}/client`);
  }

  get size(): number {
    return this.#bySide.size;
  }

  #bound(now: number): void {
    for (const [side, window] of this.#bySide) {
      if (this.#bySide.size <= this.#capacity && now - window.start < WINDOW_MS) return;
      this.#bySide.delete(side);
    }
  }
}
