/**
 * Session keys a restarted relay can still verify (docs/design.md §3 `agent_key`/`client_key`, §8.1
 * "relay restarts"): each key is a MAC under the relay secret (relay-secret.ts) over the session
 * id, the role and the key's expiry, so a fresh relay process accepts the resuming sockets of a
 * session it never saw without any stored state. docs/protocol.md §11 has the layout.
 *
 * Key (32 bytes, base64url without padding, 43 characters):
 *
 *   offset  size  field
 *   0       4     expiry: Unix time in seconds, unsigned 32-bit big-endian
 *   4       4     issuer: random per relay process (tells this process's keys from a predecessor's)
 *   8       4     nonce: random per key (two pairing attempts of one session never share a key)
 *   12      20    tag = HMAC-SHA256(relay secret, "kubepair/1 session key" || 0x00 || role ||
 *                       session_id[16] || key[0..12])[0..20]      role: 0x01 agent, 0x02 client
 *
 * Verification recomputes the tag from the presented key's first 12 bytes and compares it in
 * constant time before it looks at any field, so neither the expiry nor the issuer of a forged
 * key is ever acted on. A 160-bit tag is far beyond online guessing, which the failure budget
 * bounds anyway. Untrusted input: the presented key and session id.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { KubepairError } from '../errors/index.js';
import type { PeerRole } from '../protocol/relay-api.js';

/** Bytes of the relay secret. */
export const RELAY_SECRET_BYTES = 32;
/** Bytes of a session key, of its MAC'd header, and of its tag. */
const KEY_BYTES = 32;
const HEADER_BYTES = 12;
const TAG_BYTES = KEY_BYTES - HEADER_BYTES;
const ISSUER_BYTES = 4;
const SESSION_ID_BYTES = 16;
/** Domain separation: these MACs are session keys of kubepair/1 and nothing else. */
const LABEL = Buffer.from('kubepair/1 session key\u0000', 'ascii');
const ROLE_BYTE: Record<PeerRole, number> = { agent: 0x01, client: 0x02 };
/** The last second a 32-bit expiry can name (2106-02-07). */
const MAX_EXPIRY_S = 0xffff_ffff;

/** What a presented key proves. */
export type KeyVerdict =
  | { readonly valid: false }
  | {
      readonly valid: true;
      /** Epoch ms at which the key expires (whole seconds). */
      readonly expiresAt: number;
      /** True when the key has expired (as of the `now` given). */
      readonly expired: boolean;
      /** True when this relay process issued the key (so it knows the session's fate). */
      readonly ownIssue: boolean;
    };

/** The expiry written into a key: `epochMs` rounded up to whole seconds, so the key outlives the session. */
export function keyExpiryFor(epochMs: number): number {
  return Math.ceil(epochMs / 1000) * 1000;
}

export class SessionKeys {
  readonly #secret: Buffer;
  readonly #issuer: Buffer;

  /** `secret`: the relay secret; `issuer`: 4 random bytes naming this relay process (random when absent). */
  constructor(secret: Uint8Array, issuer: Uint8Array = randomBytes(ISSUER_BYTES)) {
    if (secret.length !== RELAY_SECRET_BYTES) throw new KubepairError('KP_ERR_INTERNAL', `the relay secret must be ${RELAY_SECRET_BYTES} bytes`);
    if (issuer.length !== ISSUER_BYTES) throw new KubepairError('KP_ERR_INTERNAL', `the issuer must be ${ISSUER_BYTES} bytes`);
    this.#secret = Buffer.from(secret);
    this.#issuer = Buffer.from(issuer);
  }

  /** A new key for `role` of session `sessionId`, valid until `expiresAt` (epoch ms, rounded up to seconds). */
  issue(sessionId: string, role: PeerRole, expiresAt: number): string {
    const expiry = Math.ceil(expiresAt / 1000);
    if (!Number.isSafeInteger(expiry) || expiry < 0 || expiry > MAX_EXPIRY_S) throw new KubepairError('KP_ERR_INTERNAL', 'a session key expiry out of range');
    const key = Buffer.alloc(KEY_BYTES);
    key.writeUInt32BE(expiry, 0);
    this.#issuer.copy(key, 4);
    randomBytes(4).copy(key, 8);
    this.#tag(sessionIdBytes(sessionId), role, key.subarray(0, HEADER_BYTES)).copy(key, HEADER_BYTES);
    return key.toString('base64url');
  }

  /** What `key` proves about `role` of session `sessionId` at `now` (epoch ms). */
  verify(sessionId: string, role: PeerRole, key: string, now: number = Date.now()): KeyVerdict {
    const raw = Buffer.from(key, 'base64url');
    const id = Buffer.from(sessionId, 'base64url');
    // Formats were checked by the caller's patterns; refuse anything else without a MAC, and a
    // key that is not the canonical encoding of its bytes (one key, one text, one digest).
    if (raw.length !== KEY_BYTES || id.length !== SESSION_ID_BYTES || raw.toString('base64url') !== key) return { valid: false };
    const expected = this.#tag(id, role, raw.subarray(0, HEADER_BYTES));
    // Constant time over the whole tag: a forged key learns nothing from the answer's timing.
    if (!timingSafeEqual(expected, raw.subarray(HEADER_BYTES))) return { valid: false };
    const expiresAt = raw.readUInt32BE(0) * 1000;
    return { valid: true, expiresAt, expired: expiresAt <= now, ownIssue: raw.subarray(4, 8).equals(this.#issuer) };
  }

  #tag(sessionId: Buffer, role: PeerRole, header: Buffer): Buffer {
    return createHmac('sha256', this.#secret)
      .update(LABEL)
      .update(Buffer.of(ROLE_BYTE[role]))
      .update(sessionId)
      .update(header)
      .digest()
      .subarray(0, TAG_BYTES);
  }
}

function sessionIdBytes(sessionId: string): Buffer {
  const id = Buffer.from(sessionId, 'base64url');
  if (id.length !== SESSION_ID_BYTES) throw new KubepairError('KP_ERR_INTERNAL', 'a session id is 16 bytes');
  return id;
}
