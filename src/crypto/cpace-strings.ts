/**
 * The CPace string utilities, exactly as draft-irtf-cfrg-cpace defines them:
 * prepend_len (LEB128 length prefix, §"Notation for string operations" and Appendix
 * "prepend_len function"), lv_cat ("lv_cat function"), generator_string ("Definition of
 * generator_string function") and transcript_ir ("Definitions for transcript_ir function").
 * Pure functions over bytes; no I/O.
 */
import { concatBytes } from './bytes.js';

/** LEB128 encoding of a non-negative length: 7 bits per byte, least significant first. */
export function leb128(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`length ${length} is not a byte count`);
  const out: number[] = [];
  let rest = length;
  do {
    const low = rest & 0x7f;
    rest = Math.floor(rest / 128);
    out.push(rest > 0 ? low | 0x80 : low);
  } while (rest > 0);
  return Uint8Array.from(out);
}

/** prepend_len(data) = LEB128(len(data)) || data. */
export function prependLen(data: Uint8Array): Uint8Array {
  return concatBytes(leb128(data.length), data);
}

/** lv_cat(a0, a1, ...) = prepend_len(a0) || prepend_len(a1) || ... */
export function lvCat(...parts: readonly Uint8Array[]): Uint8Array {
  return concatBytes(...parts.map(prependLen));
}

/**
 * generator_string(DSI, PRS, CI, sid, s_in_bytes) = lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid)
 * with len_zpad = max(0, s_in_bytes - 1 - len(prepend_len(PRS)) - len(prepend_len(DSI))).
 * The zero padding fills the hash's first input block with DSI and PRS alone, so the first
 * compression-function call does not depend on session data (side-channel hardening, draft
 * §"Common function for computing generators").
 */
export function generatorString(
  dsi: Uint8Array,
  prs: Uint8Array,
  ci: Uint8Array,
  sid: Uint8Array,
  sInBytes: number,
): Uint8Array {
  const lenZpad = Math.max(0, sInBytes - 1 - prependLen(prs).length - prependLen(dsi).length);
  return lvCat(dsi, prs, new Uint8Array(lenZpad), ci, sid);
}

/** transcript_ir(Ya, ADa, Yb, ADb) = lv_cat(Ya, ADa) || lv_cat(Yb, ADb) (initiator-responder setting). */
export function transcriptIr(ya: Uint8Array, ada: Uint8Array, yb: Uint8Array, adb: Uint8Array): Uint8Array {
  return concatBytes(lvCat(ya, ada), lvCat(yb, adb));
}
