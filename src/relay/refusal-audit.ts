/**
 * RefusalAudit: the audit records of refusals that any address can cause at will (issue 10:
 * 40,000 unauthenticated requests overflowed the audit backlog when each wrote a line). They
 * are summed per address and window, so the audit log grows with the number of addresses that
 * misbehave, not with the number of requests they send.
 *
 * Per address and window (RELAY_REFUSAL_AUDIT_WINDOW_MS):
 * - the first unauthenticated failure is written at once as `auth_failed` (where, reason, route
 *   or role and session), so a single mistyped token shows up without delay;
 * - the first refusal by each limit is written at once as `limit_hit` (limit, address);
 * - when the window ends, or the relay stops, one `refusals_summary` holds the count of every
 *   kind of refusal of that address in the window, first and last time, if any refusal was not
 *   written on its own.
 * At most `capacity` addresses are tracked per window; refusals of further addresses are summed
 * into one `refusals_summary` with `address: null`. So a window writes at most about
 * 6 × capacity + 1 lines whatever arrives, and the table never holds more than `capacity`
 * entries. The window's timer runs only while something is waiting to be summed.
 *
 * Untrusted input: the address (resolved through --trust-proxy) and the request facts the
 * callers pass (route templates, registry codes, ids from the path already matched by pattern).
 */
import type { AuditFieldValue, RelayAuditSink } from './relay-audit.js';

/** Limits that refuse an address's requests or connections. */
export type RefusalLimit = 'rate_limit' | 'auth_failures' | 'connections_per_address' | 'reconnects';

const LIMITS: readonly RefusalLimit[] = ['rate_limit', 'auth_failures', 'connections_per_address', 'reconnects'];

/** What the first `auth_failed` record of an address in a window says. */
export interface AuthFailure {
  readonly where: 'api' | 'upgrade';
  /** The registry code the caller got. */
  readonly reason: string;
  readonly [field: string]: AuditFieldValue;
}

interface Tally {
  authFailed: number;
  readonly limits: Record<RefusalLimit, number>;
  /** Refusals written as their own record (the first of each kind). */
  written: number;
  firstAt: number;
  lastAt: number;
}

export interface RefusalAuditOptions {
  readonly sink: RelayAuditSink;
  readonly windowMs: number;
  /** Addresses tracked per window. */
  readonly capacity: number;
  readonly now?: () => number;
}

const newTally = (now: number): Tally => ({
  authFailed: 0,
  limits: { rate_limit: 0, auth_failures: 0, connections_per_address: 0, reconnects: 0 },
  written: 0,
  firstAt: now,
  lastAt: now,
});

export class RefusalAudit {
  readonly #sink: RelayAuditSink;
  readonly #windowMs: number;
  readonly #capacity: number;
  readonly #now: () => number;
  readonly #tallies = new Map<string, Tally>();
  /** Refusals of addresses beyond `capacity` in this window. */
  #untracked: Tally | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RefusalAuditOptions) {
    this.#sink = options.sink;
    this.#windowMs = options.windowMs;
    this.#capacity = options.capacity;
    this.#now = options.now ?? Date.now;
  }

  /** An unauthenticated request or upgrade from `address` was refused. */
  authFailed(address: string, failure: AuthFailure): void {
    const tally = this.#tally(address);
    if (tally === undefined) return;
    tally.authFailed++;
    if (tally.authFailed === 1 && tally !== this.#untracked) {
      tally.written++;
      this.#sink.note('auth_failed', { ...failure, address });
    }
  }

  /** A limit refused a request or connection of `address`; `fields` go into the first record. */
  limitHit(address: string, limit: RefusalLimit, fields: Readonly<Record<string, AuditFieldValue>> = {}): void {
    const tally = this.#tally(address);
    if (tally === undefined) return;
    tally.limits[limit]++;
    if (tally.limits[limit] === 1 && tally !== this.#untracked) {
      tally.written++;
      this.#sink.note('limit_hit', { limit, address, ...fields });
    }
  }

  /** Write the window's summaries and start a new window. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const [address, tally] of this.#tallies) this.#summarize(address, tally);
    this.#tallies.clear();
    if (this.#untracked !== undefined) this.#summarize(null, this.#untracked);
    this.#untracked = undefined;
  }

  /** Flush and stop: later refusals are not recorded (the relay is stopping). */
  close(): void {
    this.flush();
    this.#closed = true;
  }

  /** Addresses tracked in this window (for tests). */
  get size(): number {
    return this.#tallies.size;
  }

  /** The tally of `address` in this window, counting this refusal's time; undefined once closed. */
  #tally(address: string): Tally | undefined {
    if (this.#closed) return undefined;
    const now = this.#now();
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#windowMs);
      this.#timer.unref();
    }
    let tally = this.#tallies.get(address);
    if (tally === undefined) {
      if (this.#tallies.size >= this.#capacity) {
        this.#untracked ??= newTally(now);
        tally = this.#untracked;
      } else {
        tally = newTally(now);
        this.#tallies.set(address, tally);
      }
    }
    tally.lastAt = now;
    return tally;
  }

  #summarize(address: string | null, tally: Tally): void {
    const total = tally.authFailed + LIMITS.reduce((sum, limit) => sum + tally.limits[limit], 0);
    if (total === tally.written) return; // every refusal already has its own record
    this.#sink.note('refusals_summary', {
      address,
      auth_failed: tally.authFailed,
      rate_limit: tally.limits.rate_limit,
      auth_failures: tally.limits.auth_failures,
      connections_per_address: tally.limits.connections_per_address,
      reconnects: tally.limits.reconnects,
      first_at: new Date(tally.firstAt).toISOString(),
      last_at: new Date(tally.lastAt).toISOString(),
    });
  }
}
