/**
 * EndedSessions: the sessions that ended on this relay process, and why (docs/design.md §8.1).
 *
 * Session keys stay valid MACs after their session ended (session-keys.ts), and a restarted relay
 * recreates any session whose key verifies. Remembering the ends lets the upgrade handler
 * - answer a side that comes back too late with the reason (404 "its resume window closed before
 *   this side came back") instead of a bare "not found", so the endpoint stops retrying and says why;
 * - refuse to recreate a session that was itself recreated here and then ended (its window closed,
 *   a side ended it on purpose, an operator ended it): without this, a key of a session that is
 *   over could make the relay wait one more resume window for it after every end.
 *
 * Bounded: each end is kept until `rememberMs` passed (the longest a session key can stay valid)
 * and at most `capacity` at once (the oldest is forgotten first). Entries are inserted in time
 * order with one fixed lifetime, so the oldest is always first and pruning costs no timer.
 * Sessions ended on a previous relay process are not known here: the recreation bound and the
 * endpoints' own resume proof cover them. Input: session ids the relay itself produced or verified.
 */
import type { SessionEndReason } from './relay-metrics.js';

interface Ended {
  readonly reason: SessionEndReason;
  readonly until: number;
}

/** Why a session ended, as the side that comes back reads it. */
const REASON_TEXT: Record<SessionEndReason, string> = {
  resume_expired: 'its resume window closed before this side came back',
  agent_left: 'the agent ended it',
  client_left: 'the client ended it',
  expired: 'it reached the end of its lifetime',
  operator: 'the relay operator ended it',
  attempts_exhausted: 'too many pairing attempts failed',
  shutdown: 'the relay shut down',
};

export class EndedSessions {
  readonly #byId = new Map<string, Ended>();
  readonly #capacity: number;
  readonly #rememberMs: number;
  readonly #now: () => number;

  constructor(options: { readonly capacity: number; readonly rememberMs: number; readonly now?: () => number }) {
    this.#capacity = options.capacity;
    this.#rememberMs = options.rememberMs;
    this.#now = options.now ?? Date.now;
  }

  /** Record that session `id` ended for `reason` (the first reason recorded stays). */
  remember(id: string, reason: SessionEndReason): void {
    const now = this.#now();
    this.#prune(now);
    if (this.#byId.has(id)) return;
    this.#byId.set(id, { reason, until: now + this.#rememberMs });
    while (this.#byId.size > this.#capacity) {
      const oldest = this.#byId.keys().next();
      if (oldest.done === true) break;
      this.#byId.delete(oldest.value);
    }
  }

  /** Why session `id` ended here, or undefined when it did not (or was forgotten). */
  reasonOf(id: string): SessionEndReason | undefined {
    this.#prune(this.#now());
    return this.#byId.get(id)?.reason;
  }

  get size(): number {
    return this.#byId.size;
  }

  #prune(now: number): void {
    for (const [id, ended] of this.#byId) {
      if (ended.until > now) return;
      this.#byId.delete(id);
    }
  }
}

/** The words for a session's end, for the refusal a returning side reads. */
export function endedReasonText(reason: SessionEndReason): string {
  return REASON_TEXT[reason];
}
