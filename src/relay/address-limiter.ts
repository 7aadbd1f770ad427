/**
 * AddressLimiter: at most `max` events per address per fixed window, for refusals the HTTP
 * route rate limiter does not see (DESIGN §3 "20 requests/min per IP"): WebSocket upgrades that
 * fail authentication and requests from a disallowed browser Origin. Without it an address
 * could try keys, or fill the audit log, as fast as it can open connections.
 *
 * Memory is bounded: at most `capacity` addresses are tracked; the oldest entry is forgotten
 * when a new one arrives. Windows are checked on access, so no timer runs. Untrusted input:
 * the address (already resolved through --trust-proxy).
 */
interface Window {
  start: number;
  count: number;
  /** The refusal of this window was already reported (audited) once. */
  reported: boolean;
}

export class AddressLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #capacity: number;
  readonly #windows = new Map<string, Window>();

  constructor(max: number, windowMs: number, capacity: number) {
    this.#max = max;
    this.#windowMs = windowMs;
    this.#capacity = capacity;
  }

  #current(address: string, now: number): Window | undefined {
    const window = this.#windows.get(address);
    if (window !== undefined && now - window.start >= this.#windowMs) {
      this.#windows.delete(address);
      return undefined;
    }
    return window;
  }

  /** True while `address` has used up its events in the current window. */
  limited(address: string, now = Date.now()): boolean {
    return (this.#current(address, now)?.count ?? 0) >= this.#max;
  }

  /** Count one event for `address`. */
  hit(address: string, now = Date.now()): void {
    const window = this.#current(address, now);
    if (window !== undefined) {
      window.count++;
      return;
    }
    if (this.#windows.size >= this.#capacity) {
      const oldest = this.#windows.keys().next();
      if (oldest.done !== true) this.#windows.delete(oldest.value);
    }
    this.#windows.set(address, { start: now, count: 1, reported: false });
  }

  /** For a limited address: true the first time it is asked in the current window. */
  firstRefusal(address: string, now = Date.now()): boolean {
    const window = this.#current(address, now);
    if (window === undefined || window.count < this.#max || window.reported) return false;
    window.reported = true;
    return true;
  }

  /** Addresses tracked (for tests). */
  get size(): number {
    return this.#windows.size;
  }
}
