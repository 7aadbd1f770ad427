/**
 * Browser exposure of the relay (docs/design.md §7; seeds/000 #10 and #17, seeds/003 finding 2):
 * a request or WebSocket upgrade that carries an `Origin` header is refused unless that origin
 * is in `--allow-origin` (default: none, so no web page can drive the relay from a victim's
 * browser). Requests without `Origin` (the kubepair CLI, curl, Prometheus) are not browsers
 * and pass. CORS headers are sent only for an allowed origin; preflights of others get 403.
 *
 * Untrusted input: the `Origin` header, compared exactly after the same normalisation as the
 * allowlist (lower-case scheme://host[:port]).
 */
import { normalizeOrigin } from './relay-options.js';

export type OriginVerdict = { readonly kind: 'none' } | { readonly kind: 'allowed'; readonly origin: string } | { readonly kind: 'denied' };

export class OriginPolicy {
  readonly #allowed: ReadonlySet<string>;

  constructor(allowOrigins: readonly string[]) {
    this.#allowed = new Set(allowOrigins.map((origin) => normalizeOrigin(origin)));
  }

  /** Judge an `Origin` header value (`undefined` when absent; `null` origins are denied). */
  check(header: string | string[] | undefined): OriginVerdict {
    if (header === undefined) return { kind: 'none' };
    if (typeof header !== 'string' || header.length > 512) return { kind: 'denied' };
    const origin = header.trim().toLowerCase();
    return this.#allowed.has(origin) ? { kind: 'allowed', origin } : { kind: 'denied' };
  }

  /** Response headers for an allowed origin. */
  static corsHeaders(origin: string): Record<string, string> {
    return { 'access-control-allow-origin': origin, vary: 'Origin' };
  }

  /** Extra headers answering a CORS preflight from an allowed origin. */
  static preflightHeaders(): Record<string, string> {
    return {
      'access-control-allow-methods': 'GET, POST, DELETE',
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-max-age': '600',
    };
  }
}
