/**
 * Random identifiers and secrets of the relay (docs/design.md §3) and how they are compared.
 *
 * Session ids and relay tokens come from node:crypto only; session keys are MACs made by
 * session-keys.ts. Keys and tokens are never stored: the relay keeps their SHA-256 and compares
 * digests with timingSafeEqual, so neither a memory dump nor a response-time measurement reveals
 * a usable secret. Presented keys and tokens are untrusted input.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { RELAY_TOKEN_PREFIX } from '../protocol/relay-api.js';

/** `session_id`: 16 random bytes, base64url without padding. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

/** A relay bearer token: `kprt_` + 32 random bytes in base64url (43 characters). */
export function newRelayToken(): string {
  return RELAY_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** SHA-256 of a secret's UTF-8 text: what the relay stores instead of the secret. */
export function digestSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Constant-time equality of two SHA-256 digests (both 32 bytes, so lengths never leak). */
export function digestsEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== 32 || b.length !== 32) return false;
  return timingSafeEqual(a, b);
}
