/**
 * The one redaction module for logs and audit records (DESIGN §6, seeds/004 "Secret
 * redaction"). Everything logged or audited passes through here first. Input is untrusted.
 *
 * This first version covers bearer tokens and Authorization headers; provider token shapes,
 * private keys, JWTs, flags and URL credentials are added in src/audit (issue 5).
 */

/** What a redacted secret is replaced with. */
export const REDACTED = '[REDACTED]';

/** Object keys whose values are always secrets, compared case-insensitively. */
const SECRET_KEYS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'token', 'password', 'secret']);

const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;

/** Redact secrets inside one string. */
export function redactString(text: string): string {
  return text.replace(BEARER, (_match, scheme: string) => `${scheme} ${REDACTED}`);
}

/** Redact secrets in any JSON-like value: strings are scrubbed, secret keys blanked, depth bounded. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 16) return REDACTED;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[redactString(key)] = SECRET_KEYS.has(key.toLowerCase()) ? REDACTED : redactValue(item, depth + 1);
  }
  return out;
}
