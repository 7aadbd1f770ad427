/**
 * The kubepair key schedule after CPace (docs/design.md §4, normative): HKDF-SHA256 (RFC 5869) with
 * PRK = Extract(salt = sid, ikm = ISK) and one Expand per label; key confirmation tags
 * HMAC-SHA256(confirm key, SHA-256(HELLO_A frame || HELLO_B frame)); and the KEY_UPDATE step
 * key' = HKDF-Expand(key, "kubepair/1 key update", 32). The resume key (docs/design.md §8.1) comes from the same PRK:
 * resume = HKDF-Expand(PRK, "kubepair/1 resume", 32); it keys the HMAC-SHA256 each endpoint
 * puts on its RESUME message to prove, on a new carrier, that it holds the session's keys.
 *
 * The iv after a key update (docs/design.md §4): it cannot be updated the way the key is, since
 * HKDF-Expand needs a PRK of at least HashLen (32) bytes (RFC 5869 §2.3) and the 12-byte iv
 * cannot be the PRK; the new iv is expanded from the same old key with its own label:
 * iv' = HKDF-Expand(key, "kubepair/1 iv update", 12) — TLS 1.3 likewise derives key and iv
 * from one secret with distinct labels.
 * docs/protocol.md records this choice. No I/O.
 */
import { createHash, createHmac } from 'node:crypto';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { assertBytes, utf8, wipe } from './bytes.js';

/** AES-256-GCM key and iv sizes. */
export const TRAFFIC_KEY_BYTES = 32;
export const TRAFFIC_IV_BYTES = 12;
/** Confirmation key and tag sizes (HMAC-SHA256). */
export const CONFIRM_KEY_BYTES = 32;
export const CONFIRM_TAG_BYTES = 32;
/** session_id size, the HKDF salt. */
export const SESSION_ID_BYTES = 16;
/** Resume key and resume MAC sizes (HMAC-SHA256, docs/design.md §8.1). */
export const RESUME_KEY_BYTES = 32;
export const RESUME_MAC_BYTES = 32;

/** The HKDF info labels (docs/design.md §4). */
export const KEY_SCHEDULE_LABELS = {
  confirmA: 'kubepair/1 confirm a',
  confirmB: 'kubepair/1 confirm b',
  keyA2C: 'kubepair/1 key a2c',
  keyC2A: 'kubepair/1 key c2a',
  ivA2C: 'kubepair/1 iv a2c',
  ivC2A: 'kubepair/1 iv c2a',
  keyUpdate: 'kubepair/1 key update',
  ivUpdate: 'kubepair/1 iv update',
  resume: 'kubepair/1 resume',
} as const;

/** One direction's AEAD key and iv. */
export interface TrafficSecret {
  readonly key: Uint8Array;
  readonly iv: Uint8Array;
}

/** Everything the handshake derives from ISK. */
export interface SessionKeys {
  readonly confirmA: Uint8Array;
  readonly confirmB: Uint8Array;
  /** Agent → client records. */
  readonly agentToClient: TrafficSecret;
  /** Client → agent records. */
  readonly clientToAgent: TrafficSecret;
  /**
   * Keys the MAC of RESUME messages (docs/design.md §8.1); kept for the session, wiped on close.
   */
  readonly resume: Uint8Array;
}

/** HKDF-Extract(salt, ikm) with SHA-256 (RFC 5869 §2.2). */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return extract(sha256, ikm, salt);
}

/** HKDF-Expand(prk, info, length) with SHA-256 (RFC 5869 §2.3); prk must be >= 32 bytes. */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return expand(sha256, prk, info, length);
}

/** Derive confirmation keys and both directions' traffic secrets from ISK and sid. */
export function deriveSessionKeys(isk: Uint8Array, sid: Uint8Array): SessionKeys {
  assertBytes(isk, undefined, 'ISK');
  assertBytes(sid, SESSION_ID_BYTES, 'sid');
  const prk = hkdfExtract(sid, isk);
  const labelled = (label: string, length: number): Uint8Array => hkdfExpand(prk, utf8(label), length);
  try {
    return {
      confirmA: labelled(KEY_SCHEDULE_LABELS.confirmA, CONFIRM_KEY_BYTES),
      confirmB: labelled(KEY_SCHEDULE_LABELS.confirmB, CONFIRM_KEY_BYTES),
      agentToClient: {
        key: labelled(KEY_SCHEDULE_LABELS.keyA2C, TRAFFIC_KEY_BYTES),
        iv: labelled(KEY_SCHEDULE_LABELS.ivA2C, TRAFFIC_IV_BYTES),
      },
      clientToAgent: {
        key: labelled(KEY_SCHEDULE_LABELS.keyC2A, TRAFFIC_KEY_BYTES),
        iv: labelled(KEY_SCHEDULE_LABELS.ivC2A, TRAFFIC_IV_BYTES),
      },
      resume: labelled(KEY_SCHEDULE_LABELS.resume, RESUME_KEY_BYTES),
    };
  } finally {
    wipe(prk);
  }
}

/** tag = HMAC-SHA256(confirm key, SHA-256(HELLO_A frame || HELLO_B frame)). */
export function confirmationTag(confirmKey: Uint8Array, helloA: Uint8Array, helloB: Uint8Array): Uint8Array {
  assertBytes(confirmKey, CONFIRM_KEY_BYTES, 'confirmation key');
  const transcriptHash = createHash('sha256').update(helloA).update(helloB).digest();
  return createHmac('sha256', confirmKey).update(transcriptHash).digest();
}

/**
 * A private copy of a traffic secret, lengths checked: whoever holds one wipes it when its
 * channel closes, so two holders must never share the bytes (wiping one would zero the other).
 */
export function copyTrafficSecret(secret: TrafficSecret): TrafficSecret {
  assertBytes(secret.key, TRAFFIC_KEY_BYTES, 'traffic key');
  assertBytes(secret.iv, TRAFFIC_IV_BYTES, 'traffic iv');
  return { key: Uint8Array.from(secret.key), iv: Uint8Array.from(secret.iv) };
}

/** mac = HMAC-SHA256(resume key, the RESUME message up to its MAC field). */
export function resumeMac(resumeKey: Uint8Array, message: Uint8Array): Uint8Array {
  assertBytes(resumeKey, RESUME_KEY_BYTES, 'resume key');
  return createHmac('sha256', resumeKey).update(message).digest();
}

/** The traffic secret after a KEY_UPDATE: both parts expanded from the old key. */
export function nextTrafficSecret(current: TrafficSecret): TrafficSecret {
  assertBytes(current.key, TRAFFIC_KEY_BYTES, 'traffic key');
  return {
    key: hkdfExpand(current.key, utf8(KEY_SCHEDULE_LABELS.keyUpdate), TRAFFIC_KEY_BYTES),
    iv: hkdfExpand(current.key, utf8(KEY_SCHEDULE_LABELS.ivUpdate), TRAFFIC_IV_BYTES),
  };
}
