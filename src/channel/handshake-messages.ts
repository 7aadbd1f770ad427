/**
 * Handshake frames (docs/design.md §4, normative): `0x01 | type | body`, with
 *   0x01 HELLO_A   Ya[32] | ADa
 *   0x02 HELLO_B   Yb[32] | ADb
 *   0x03 CONFIRM_A tag[32]
 *   0x04 CONFIRM_B tag[32]
 * Every received frame is untrusted: version, type and length are checked before any field
 * is used, and the share must be a canonical X25519 encoding.
 */
import { CPACE_POINT_BYTES, isCanonicalShare } from '../crypto/cpace.js';
import { concatBytes } from '../crypto/bytes.js';
import { CONFIRM_TAG_BYTES } from '../crypto/key-schedule.js';
import { KubepairError } from '../errors/index.js';
import { HANDSHAKE_AD_MAX_BYTES } from '../limits.js';

export const HANDSHAKE_VERSION = 0x01;

export const HandshakeType = { HELLO_A: 0x01, HELLO_B: 0x02, CONFIRM_A: 0x03, CONFIRM_B: 0x04 } as const;
export type HandshakeType = (typeof HandshakeType)[keyof typeof HandshakeType];
export type HelloType = typeof HandshakeType.HELLO_A | typeof HandshakeType.HELLO_B;
export type ConfirmType = typeof HandshakeType.CONFIRM_A | typeof HandshakeType.CONFIRM_B;

const HEADER_BYTES = 2;
const NAMES: Readonly<Record<number, string>> = { 1: 'HELLO_A', 2: 'HELLO_B', 3: 'CONFIRM_A', 4: 'CONFIRM_B' };

export interface HelloMessage {
  readonly share: Uint8Array;
  readonly ad: Uint8Array;
}

function checkHeader(frame: Uint8Array, expected: HandshakeType): void {
  const expectedName = NAMES[expected] ?? String(expected);
  if (frame.length < HEADER_BYTES) {
    throw new KubepairError('KP_ERR_HANDSHAKE_PROTOCOL', `expected ${expectedName}, got a ${frame.length}-byte frame`);
  }
  if (frame[0] !== HANDSHAKE_VERSION) {
    throw new KubepairError('KP_ERR_HANDSHAKE_PROTOCOL', `expected ${expectedName}, got handshake version ${String(frame[0])}`);
  }
  if (frame[1] !== expected) {
    const got = NAMES[frame[1] ?? -1] ?? `type ${String(frame[1])}`;
    throw new KubepairError('KP_ERR_HANDSHAKE_PROTOCOL', `expected ${expectedName}, got ${got}`);
  }
}

export function encodeHello(type: HelloType, share: Uint8Array, ad: Uint8Array): Uint8Array {
  if (share.length !== CPACE_POINT_BYTES || ad.length === 0 || ad.length > HANDSHAKE_AD_MAX_BYTES) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'hello share must be 32 bytes and AD 1..1024 bytes');
  }
  return concatBytes(Uint8Array.of(HANDSHAKE_VERSION, type), share, ad);
}

export function decodeHello(frame: Uint8Array, expected: HelloType): HelloMessage {
  checkHeader(frame, expected);
  const adLength = frame.length - HEADER_BYTES - CPACE_POINT_BYTES;
  if (adLength < 1 || adLength > HANDSHAKE_AD_MAX_BYTES) {
    throw new KubepairError('KP_ERR_HANDSHAKE_PROTOCOL', `${NAMES[expected]} of ${frame.length} bytes`);
  }
  const share = frame.slice(HEADER_BYTES, HEADER_BYTES + CPACE_POINT_BYTES);
  if (!isCanonicalShare(share)) throw new KubepairError('KP_ERR_INVALID_PUBLIC_SHARE', 'non-canonical encoding');
  return { share, ad: frame.slice(HEADER_BYTES + CPACE_POINT_BYTES) };
}

export function encodeConfirm(type: ConfirmType, tag: Uint8Array): Uint8Array {
  if (tag.length !== CONFIRM_TAG_BYTES) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'tag must be 32 bytes');
  return concatBytes(Uint8Array.of(HANDSHAKE_VERSION, type), tag);
}

export function decodeConfirm(frame: Uint8Array, expected: ConfirmType): Uint8Array {
  checkHeader(frame, expected);
  if (frame.length !== HEADER_BYTES + CONFIRM_TAG_BYTES) {
    throw new KubepairError('KP_ERR_HANDSHAKE_PROTOCOL', `${NAMES[expected]} of ${frame.length} bytes, expected 34`);
  }
  return frame.slice(HEADER_BYTES);
}
