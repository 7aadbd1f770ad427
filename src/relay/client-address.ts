/**
 * The address a request really comes from (docs/design.md §3 per-address limits, §7
 * `--trust-proxy`).
 *
 * Without `--trust-proxy` it is the TCP peer and X-Forwarded-For is ignored, so nobody can
 * dodge the per-address limits by sending the header. With it, X-Forwarded-For is walked from
 * the right, skipping only hops that are trusted proxies, exactly as Fastify does for API
 * requests (the same trust function is handed to Fastify), so HTTP requests and WebSocket
 * upgrades agree. The per-address connection cap (connection-gate.ts) is the exception: it
 * counts the TCP peer, before any header exists, and exempts trusted proxies. Untrusted input:
 * the X-Forwarded-For header.
 */
import { isIP } from 'node:net';
import type { BlockList } from 'node:net';
import { RELAY_IPV6_LIMIT_PREFIX_BITS } from '../limits.js';
import { ipv6Groups } from '../net/ip-address.js';

/** Most X-Forwarded-For entries examined. */
const MAX_FORWARDED_HOPS = 16;

/** An address as the relay logs it: trimmed, IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as plain IPv4. */
export function normalizeAddress(address: string): string {
  const trimmed = address.trim();
  const lower = trimmed.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(trimmed.slice(7)) === 4) return trimmed.slice(7);
  return trimmed;
}

/**
 * The key a normalized address is counted under by the relay's per-address limits (rate limit,
 * failure budget, connections, sessions): an IPv4 address itself; an IPv6 address its /64
 * (`RELAY_IPV6_LIMIT_PREFIX_BITS`: `2001:db8:1:2::/64`), the block one subscriber or one host is
 * usually given, so an attacker who owns a /64 gets one budget, not 2^64. Logs and audit records
 * keep the whole address. Anything that is not an IP address (`unknown`) is its own key. The
 * groups are read by `ipv6Groups` (src/net/ip-address.ts), a `%zone` dropped.
 *
 * Callers pass addresses as resolved; each per-address limit keys them itself, so no caller can
 * forget to: the failure budgets (address-limiter.ts, redis-limits.ts), the connection cap
 * (connection-gate.ts), sessions per address (both session stores), and the route rate limit's
 * `keyGenerator` (http-app.ts, a plugin option).
 */
export function addressLimitKey(address: string): string {
  const groups = ipv6Groups(address);
  if (groups === undefined) return address;
  const prefix = groups.slice(0, RELAY_IPV6_LIMIT_PREFIX_BITS / 16).map((group) => group.toString(16));
  return `${prefix.join(':')}::/${RELAY_IPV6_LIMIT_PREFIX_BITS}`;
}

export class ClientAddressResolver {
  readonly #trusted: BlockList | undefined;

  /** `trusted`: proxy addresses from --trust-proxy; undefined trusts no proxy. */
  constructor(trusted: BlockList | undefined) {
    this.#trusted = trusted;
  }

  /** Is `address` a trusted proxy? */
  isTrustedProxy = (address: string): boolean => {
    if (this.#trusted === undefined) return false;
    const bare = normalizeAddress(address);
    const family = isIP(bare);
    if (family === 0) return false;
    return this.#trusted.check(bare, family === 4 ? 'ipv4' : 'ipv6');
  };

  /** The client address of a connection from `remote` carrying `forwardedFor`. */
  resolve(remote: string | undefined, forwardedFor: string | string[] | undefined): string {
    const peer = normalizeAddress(remote ?? 'unknown');
    if (this.#trusted === undefined || forwardedFor === undefined) return peer;
    const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
    const hops = header.split(',').map(normalizeAddress).filter((hop) => hop !== '').reverse().slice(0, MAX_FORWARDED_HOPS);
    let current = peer;
    for (const hop of hops) {
      if (!this.isTrustedProxy(current)) return current;
      if (isIP(hop) === 0) return current;
      current = hop;
    }
    return current;
  }
}
