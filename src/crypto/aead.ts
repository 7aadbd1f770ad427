/**
 * AES-256-GCM seal and open (NIST SP 800-38D) through node:crypto, with a 16-byte tag appended
 * to the ciphertext. The plaintext may be given in parts so the record layer can prefix its
 * one-byte inner type without copying the body first. Opening returns nothing unless the tag
 * verifies: no byte of unauthenticated plaintext ever leaves this module. No I/O.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { assertBytes } from './bytes.js';

export const AES_256_GCM_KEY_BYTES = 32;
export const AES_GCM_NONCE_BYTES = 12;
export const AES_GCM_TAG_BYTES = 16;

/** Encrypt the concatenation of `plaintextParts`; returns ciphertext || tag. */
export function aesGcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintextParts: readonly Uint8Array[],
): Buffer {
  return Buffer.concat(aesGcmSealParts(key, nonce, aad, plaintextParts));
}

/**
 * The same, left in pieces: the ciphertext of each non-empty part in order, then the tag (their
 * concatenation is ciphertext || tag). For a caller that copies the frame once anyway (the relay
 * socket masks it into a WebSocket frame), which saves the copy `Buffer.concat` would make.
 */
export function aesGcmSealParts(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintextParts: readonly Uint8Array[],
): Buffer[] {
  return aesGcmSealPrefixed(key, nonce, aad, undefined, plaintextParts);
}

/**
 * `aesGcmSealParts` of `prefix` (when given) followed by `body` (one buffer or parts), without
 * building an array of them first: the record layer's per-record path (issue 15: fewer objects
 * allocated per record). `key` and `nonce` are read before this returns (node:crypto copies them
 * into the cipher), so a caller may reuse the nonce's buffer for its next record.
 */
export function aesGcmSealPrefixed(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  prefix: Uint8Array | undefined,
  body: Uint8Array | readonly Uint8Array[],
): Buffer[] {
  assertBytes(key, AES_256_GCM_KEY_BYTES, 'AES-256-GCM key');
  assertBytes(nonce, AES_GCM_NONCE_BYTES, 'AES-GCM nonce');
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: AES_GCM_TAG_BYTES });
  cipher.setAAD(aad);
  const out: Buffer[] = [];
  if (prefix !== undefined && prefix.length > 0) out.push(cipher.update(prefix));
  if (body instanceof Uint8Array) {
    if (body.length > 0) out.push(cipher.update(body));
  } else {
    for (let i = 0; i < body.length; i++) {
      const part = body[i]!;
      if (part.length > 0) out.push(cipher.update(part));
    }
  }
  // GCM is a stream mode: update returns as many bytes as it was given and final none.
  const last = cipher.final();
  if (last.length > 0) out.push(last);
  out.push(cipher.getAuthTag());
  return out;
}

/** Decrypt ciphertext || tag; undefined when the input is too short or the tag does not verify. */
export function aesGcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  assertBytes(key, AES_256_GCM_KEY_BYTES, 'AES-256-GCM key');
  assertBytes(nonce, AES_GCM_NONCE_BYTES, 'AES-GCM nonce');
  if (sealed.length < AES_GCM_TAG_BYTES) return undefined;
  const bodyLength = sealed.length - AES_GCM_TAG_BYTES;
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: AES_GCM_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(bodyLength));
  const head = decipher.update(sealed.subarray(0, bodyLength));
  try {
    const tail = decipher.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    // final() throws exactly when authentication fails; the unverified `head` is discarded.
    head.fill(0);
    return undefined;
  }
}
