/**
 * CPace with cipher suite CPACE-X25519-SHA512, initiator-responder setting, exactly as in
 * draft-irtf-cfrg-cpace (§"The CPace protocol", §"CPace group objects G_X25519 and G_X448",
 * Appendix "Test vector for CPace using group X25519 and hash SHA-512"). docs/design.md §4 fixes
 * the inputs: PRS = the 8 ASCII digits of the pairing secret, sid = the 16 session_id bytes,
 * CI = lv_cat("kubepair/1"), agent = initiator A, client = responder B.
 *
 * Untrusted inputs: the peer's public share (Ya or Yb) and associated data. Shares must be
 * canonical encodings (kubepair's addition, see isCanonicalShare) and the shared point K must
 * not be the neutral element (the draft's abort condition). No I/O.
 */
import { createHash, randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { assertBytes, isAllZero, utf8 } from './bytes.js';
import { generatorString, lvCat, transcriptIr } from './cpace-strings.js';
import { X25519_FIELD_BYTES, decodeUCoordinate, elligator2Curve25519 } from './elligator2.js';

/** G_X25519.DSI (domain-separation identifier). */
export const CPACE_DSI = utf8('CPace255');
/** G.DSI || "_ISK", the domain separator of the ISK hash. */
export const CPACE_DSI_ISK = utf8('CPace255_ISK');
/** H.s_in_bytes for SHA-512: the input block size. */
export const SHA512_BLOCK_BYTES = 128;
/** ISK length: H.b_in_bytes for SHA-512. */
export const ISK_BYTES = 64;
/** Encoded share, scalar and point sizes. */
export const CPACE_POINT_BYTES = X25519_FIELD_BYTES;
/** G_X25519.I: the neutral element's encoding, all zeros. */
export const CPACE_NEUTRAL: Uint8Array = new Uint8Array(X25519_FIELD_BYTES);

const FIELD_PRIME = 2n ** 255n - 19n;

function sha512(data: Uint8Array): Uint8Array {
  return createHash('sha512').update(data).digest();
}

/**
 * G.calculate_generator(H, PRS, CI, sid): hash generator_string to 32 bytes with SHA-512,
 * decodeUCoordinate (255 bits), then Elligator 2. The result is the encoded u-coordinate g.
 */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  assertBytes(prs, undefined, 'PRS');
  assertBytes(ci, undefined, 'CI');
  assertBytes(sid, undefined, 'sid');
  const genStr = generatorString(CPACE_DSI, prs, ci, sid, SHA512_BLOCK_BYTES);
  const genStrHash = sha512(genStr).subarray(0, X25519_FIELD_BYTES);
  return elligator2Curve25519(decodeUCoordinate(genStrHash));
}

/** G.sample_scalar(): 32 bytes from the CSPRNG (X25519 clamps them). */
export function sampleScalar(): Uint8Array {
  return new Uint8Array(randomBytes(X25519_FIELD_BYTES));
}

/**
 * G.scalar_mult_vfy(y, g) = X25519(y, g), returning G.I (all zeros) when the input is a
 * low-order point or the result is the neutral element. @noble/curves rejects low-order
 * inputs before running the ladder (no timing oracle on the secret scalar) by throwing; lengths
 * are checked here first, so a throw can only mean "no contributory result", and it maps to
 * G.I, which every caller treats as an abort (fail closed).
 */
export function scalarMultVfy(scalar: Uint8Array, point: Uint8Array): Uint8Array {
  assertBytes(scalar, X25519_FIELD_BYTES, 'scalar');
  assertBytes(point, X25519_FIELD_BYTES, 'point');
  let result: Uint8Array;
  try {
    result = x25519.scalarMult(scalar, point);
  } catch {
    // noble throws only for a low-order input or an all-zero result: that is G.I by definition.
    return new Uint8Array(CPACE_NEUTRAL);
  }
  return isAllZero(result) ? new Uint8Array(CPACE_NEUTRAL) : result;
}

/** G.scalar_mult(y, g): identical to scalar_mult_vfy for G_X25519. */
export const scalarMult = scalarMultVfy;

/**
 * True when `share` is the canonical encoding of a field element: bit 255 clear and the value
 * below p. Every honest X25519 output is canonical, so kubepair refuses any other encoding of a
 * received Ya / Yb before use. This is stricter than the draft (which reduces such inputs) and
 * makes every "Invalid" entry of the draft's X25519_points vectors abort: those with bit 255 set
 * here, the low-order ones through K = G.I.
 */
export function isCanonicalShare(share: Uint8Array): boolean {
  if (share.length !== X25519_FIELD_BYTES) return false;
  if ((share[X25519_FIELD_BYTES - 1]! & 0x80) !== 0) return false;
  return decodeUCoordinate(share) < FIELD_PRIME;
}

/**
 * ISK = H.hash(lv_cat(G.DSI || "_ISK", sid, K) || transcript_ir(Ya, ADa, Yb, ADb)) for the
 * initiator-responder setting. Callers must already have aborted when K = G.I.
 */
export function computeIskIr(
  sid: Uint8Array,
  k: Uint8Array,
  ya: Uint8Array,
  ada: Uint8Array,
  yb: Uint8Array,
  adb: Uint8Array,
): Uint8Array {
  assertBytes(k, X25519_FIELD_BYTES, 'K');
  assertBytes(ya, X25519_FIELD_BYTES, 'Ya');
  assertBytes(yb, X25519_FIELD_BYTES, 'Yb');
  const prefix = lvCat(CPACE_DSI_ISK, sid, k);
  const transcript = transcriptIr(ya, ada, yb, adb);
  return createHash('sha512').update(prefix).update(transcript).digest();
}

/** CI for kubepair: lv_cat("kubepair/1") (docs/design.md §4). */
export function kubepairChannelIdentifier(protocol: string): Uint8Array {
  return lvCat(utf8(protocol));
}
