/**
 * The relay's `Retry-After` header (RFC 9110 §10.2.3) on a refusal that is worth retrying (429
 * rate limited, 503 shutting down or at capacity), as a wait in milliseconds (docs/design.md §8.1
 * "Liveness": a `share` waiting for a client, and a DurableLink reconnecting, wait it out instead of
 * giving up or hammering the relay).
 *
 * Untrusted input: the header comes from the relay (or whatever answers in its place). It is
 * parsed strictly — `delay-seconds` (digits only) or an IMF-fixdate HTTP-date, nothing else — and
 * the wait is bounded by RECONNECT_RETRY_AFTER_MAX_MS, so a relay can delay an endpoint's next
 * attempt by at most that much per refusal; anything else is ignored (the caller's own backoff
 * applies). A date in the past means "now" (0).
 */
import { RECONNECT_RETRY_AFTER_MAX_MS } from '../limits.js';

/** `delay-seconds`: 1*DIGIT; more than nine digits is far past the bound anyway. */
const DELAY_SECONDS = /^[0-9]{1,9}$/;
/** IMF-fixdate, the only HTTP-date form a sender may generate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;

/**
 * The wait `Retry-After: value` asks for, in ms, at most RECONNECT_RETRY_AFTER_MAX_MS; undefined
 * when the header is absent, repeated or malformed. `now` is the time the answer arrived (ms).
 */
export function parseRetryAfter(value: string | readonly string[] | undefined, now: number = Date.now()): number | undefined {
  if (typeof value !== 'string') return undefined; // absent, or sent twice: not believed
  const text = value.trim();
  if (DELAY_SECONDS.test(text)) return Math.min(Number(text) * 1000, RECONNECT_RETRY_AFTER_MAX_MS);
  if (!IMF_FIXDATE.test(text)) return undefined;
  const at = Date.parse(text);
  // Date.parse accepts 31 Feb and the like by rolling over; a date that does not print back the same is refused.
  if (Number.isNaN(at) || new Date(at).toUTCString() !== text) return undefined;
  return Math.min(Math.max(0, at - now), RECONNECT_RETRY_AFTER_MAX_MS);
}
