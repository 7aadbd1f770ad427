/**
 * The failure budget (docs/design.md §3: 20 requests/min per address; issue 10): at most `max`
 * unauthenticated failures per client address per fixed window, on every route and for WebSocket
 * upgrades. Past it the address is refused with 429 before any other work, so nobody can try keys,
 * or make the relay write, as fast as it can open connections. Fastify's route rate limit covers
 * `/api/*` requests of every kind; this budget covers what fails before a caller is known.
 *
 * `FailureBudget` is what a shared store can honestly promise (async: a relay cluster's budget
 * counts in Redis, redis-limits.ts, docs/design.md §8.2); `AddressLimiter` is the in-memory one of
 * a single relay process, which a cluster node also keeps as its floor while Redis is away. Memory is bounded: at most `capacity` addresses are tracked; the oldest entry is
 * forgotten when a new one arrives. Windows are checked on access, so no timer runs. Untrusted
 * input: the address (already resolved through --trust-proxy).
 *
 * Callers pass the client's address as resolved; a budget counts it under its limit key itself
 * (`addressLimitKey`: an IPv6 address by its /64), as every per-address limit of the relay does, so
 * no route can spend or check a budget under a key an attacker picks by varying the low bits.
 */
import { addressLimitKey } from './client-address.js';

export interface FailureBudget {
  /** Resolves true while `address` has spent its budget in the current window. */
  exhausted(address: string): Promise<boolean>;
  /** Spend one unit of `address`'s budget (one unauthenticated failure). */
  spend(address: string): Promise<void>;
  /** How long until `address`'s current window ends, in ms (0 without one): the 429's `Retry-After`. */
  retryAfterMs(address: string): Promise<number>;
}

interface Window {
  start: number;
  count: number;
}

export class AddressLimiter implements FailureBudget {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #capacity: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  constructor(max: number, windowMs: number, capacity: number, now: () => number = Date.now) {
    this.#max = max;
    this.#windowMs = windowMs;
    this.#capacity = capacity;
    this.#now = now;
  }

  exhausted(address: string): Promise<boolean> {
    return Promise.resolve(this.limited(address));
  }

  spend(address: string): Promise<void> {
    this.hit(address);
    return Promise.resolve();
  }

  retryAfterMs(address: string): Promise<number> {
    const window = this.#current(address);
    return Promise.resolve(window === undefined ? 0 : Math.max(0, window.start + this.#windowMs - this.#now()));
  }

  /** True while `address` has used up its events in the current window. */
  limited(address: string): boolean {
    return (this.#current(address)?.count ?? 0) >= this.#max;
  }

  /** Count one event for `address`. */
  hit(address: string): void {
    const key = addressLimitKey(address);
    const window = this.#current(address);
    if (window !== undefined) {
      window.count++;
      return;
    }
    if (this.#windows.size >= this.#capacity) {
      const oldest = this.#windows.keys().next();
      if (oldest.done !== true) this.#windows.delete(oldest.value);
    }
    this.#windows.set(key, { start: this.#now(), count: 1 });
  }

  /** Addresses tracked (for tests). */
  get size(): number {
    return this.#windows.size;
  }

  #current(address: string): Window | undefined {
    const key = addressLimitKey(address);
    const window = this.#windows.get(key);
    if (window !== undefined && this.#now() - window.start >= this.#windowMs) {
      this.#windows.delete(key);
      return undefined;
    }
    return window;
  }
}
