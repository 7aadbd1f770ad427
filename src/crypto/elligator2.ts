/**
 * Mapping a hash to a Curve25519 u-coordinate for CPace's generator (draft-irtf-cfrg-cpace
 * §"CPace group objects G_X25519 and G_X448", Appendix "Decoding and Encoding functions
 * according to RFC7748" and "Elligator 2 reference implementation").
 *
 * decodeUCoordinate follows RFC 7748 §5: clear the unused top bit, read little-endian, and do
 * NOT reject values >= p (they are reduced in the field). The map itself is RFC 9380's
 * map_to_curve_elligator2_curve25519 (Z = 2) from @noble/curves; only the u (x) coordinate is
 * kept, as the draft says the v coordinate is not needed. No I/O.
 */
import { _map_to_curve_elligator2_curve25519 as mapToCurveElligator2, ed25519 } from '@noble/curves/ed25519.js';
import { assertBytes } from './bytes.js';

const Fp = ed25519.Point.Fp;

/** Bits of a Curve25519 field element. */
export const X25519_FIELD_BITS = 255;
/** Bytes of an encoded Curve25519 u-coordinate. */
export const X25519_FIELD_BYTES = 32;

/** RFC 7748 decodeUCoordinate for `bits` = 255: mask bit 255, little-endian integer, not reduced. */
export function decodeUCoordinate(encoded: Uint8Array, bits: number = X25519_FIELD_BITS): bigint {
  const length = Math.ceil(bits / 8);
  assertBytes(encoded, length, 'u coordinate');
  const bytes = Uint8Array.from(encoded);
  if (bits % 8 !== 0) bytes[length - 1]! &= (1 << bits % 8) - 1;
  let value = 0n;
  for (let i = length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  return value;
}

/** RFC 7748 encodeUCoordinate: the field element reduced mod p, 32 bytes little-endian. */
export function encodeUCoordinate(u: bigint): Uint8Array {
  return Fp.toBytes(Fp.create(u));
}

/**
 * Elligator 2 onto Curve25519: the u-coordinate of map_to_curve_elligator2(u), encoded.
 * `u` may be any integer below 2^255 (the output of decodeUCoordinate); it is reduced mod p.
 */
export function elligator2Curve25519(u: bigint): Uint8Array {
  if (u < 0n || u >= 1n << BigInt(X25519_FIELD_BITS)) throw new RangeError('u is not a 255-bit integer');
  const { xMn, xMd } = mapToCurveElligator2(Fp.create(u));
  return encodeUCoordinate(Fp.div(xMn, xMd));
}
