/**
 * Where relay tokens are kept between runs (docs/design.md §7: tokens live in the OS keychain with
 * an environment-variable fallback, never in a plain file): the RelayTokenStore interface, the
 * keychain entry's names, and the key a token is stored under, the relay's origin.
 *
 * One token per relay origin (`https://host[:port]`, default port left out; ws/wss are the
 * same relay as http/https; a path prefix is not part of it), so `--relay
 * https://relay.example.com/` and `--relay wss://relay.example.com:443/kp` find the same token.
 *
 * Untrusted input: the relay URL the user typed (parsed strictly by resolveRelay()).
 */
import { KubepairError } from '../errors/index.js';
import { resolveRelay } from '../relay-client/relay-endpoint.js';
import { RELAY_TOKEN_PATTERN } from '../protocol/relay-api.js';

/** The keychain service name of every kubepair relay token; the account is the relay's origin. */
export const KEYCHAIN_SERVICE = 'kubepair';

/** A place that keeps one relay token per relay origin. */
export interface RelayTokenStore {
  /** Where the tokens are, for messages: "the OS keychain (Secret Service)". */
  readonly name: string;
  /** The token stored for `origin`, or undefined. Throws KP_ERR_KEYCHAIN_UNAVAILABLE / _FAILED. */
  get(origin: string): Promise<string | undefined>;
  /** Store `token` for `origin`, replacing any earlier one. */
  set(origin: string, token: string): Promise<void>;
  /** Remove the token of `origin`; false when there was none. */
  delete(origin: string): Promise<boolean>;
}

const TOKEN_FORMAT = new RegExp(RELAY_TOKEN_PATTERN);

/** True for a well-formed relay token (`kprt_` and 43 base64url characters). */
export function isRelayTokenFormat(token: string): boolean {
  return TOKEN_FORMAT.test(token);
}

/** The origin a relay's token is stored under. Throws KP_ERR_RELAY_URL_INVALID for a bad URL. */
export function relayOrigin(relayUrl: string): string {
  // Storing is not sending: a token may be kept for a plaintext relay, which share and connect
  // still refuse to use without --insecure.
  const relay = resolveRelay({ url: relayUrl, insecure: true });
  const origin = new URL(relay.httpBase).origin;
  if (origin === 'null') throw new KubepairError('KP_ERR_RELAY_URL_INVALID', 'the relay URL has no origin');
  return origin;
}
