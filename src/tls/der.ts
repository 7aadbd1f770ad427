/**
 * A DER writer (ITU-T X.690 §8 and §10, Distinguished Encoding Rules) for the few ASN.1 types an
 * X.509 certificate of src/tls needs (RFC 5280 §4.1): SEQUENCE, SET, INTEGER, OBJECT
 * IDENTIFIER, BOOLEAN, BIT STRING, OCTET STRING, PrintableString, UTF8String, UTCTime,
 * GeneralizedTime and context-specific tags. Encoding only: it parses nothing and does no
 * cryptography. Each function returns one complete TLV (tag, length, contents) as a Buffer,
 * so that a structure is written by nesting calls the way the ASN.1 module nests types.
 *
 * Input: kubepair's own values (names and addresses already checked by certificate-request.ts,
 * keys and signatures from node:crypto); each function still asserts what DER cannot encode
 * (a negative length, a malformed OID, a date outside GeneralizedTime's four-digit years), so a
 * bug fails loudly instead of producing a certificate a peer reads differently.
 */

/** Universal tags (X.690 §8.1.2, X.680 §8.4) of the types written here; constructed types carry bit 0x20. */
const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  objectIdentifier: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

/** Context-specific class bits (X.690 §8.1.2.2) and the constructed bit (§8.1.2.5). */
const CONTEXT_SPECIFIC = 0x80;
const CONSTRUCTED = 0x20;

/** The length octets (X.690 §8.1.3, §10.1: the definite form with the fewest octets). */
export function derLength(length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`DER length ${length} is not a non-negative integer`);
  // Short form: one octet, bit 8 clear, for 0-127.
  if (length < 0x80) return Buffer.from([length]);
  // Long form: 0x80 | the number of length octets, then the length big-endian without leading zeros.
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

/** One TLV with a single-octet tag (every tag used here is below 31, X.690 §8.1.2.3). */
export function tlv(tag: number, contents: Uint8Array): Buffer {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & 0x1f) === 0x1f) throw new RangeError(`DER tag ${tag} needs more than one octet`);
  return Buffer.concat([Buffer.from([tag]), derLength(contents.length), contents]);
}

/** SEQUENCE of the given encodings, in order (X.690 §8.9). */
export function sequence(...elements: readonly Uint8Array[]): Buffer {
  return tlv(TAG.sequence, Buffer.concat(elements));
}

/**
 * SET OF the given encodings (X.690 §8.12), which DER orders by their encodings compared as
 * octet strings (§11.6).
 */
export function setOf(...elements: readonly Uint8Array[]): Buffer {
  const sorted = [...elements].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return tlv(TAG.set, Buffer.concat(sorted));
}

/** BOOLEAN (X.690 §11.1: TRUE is 0xff). */
export function boolean(value: boolean): Buffer {
  return tlv(TAG.boolean, Buffer.from([value ? 0xff : 0x00]));
}

/**
 * INTEGER of the non-negative number whose big-endian magnitude is `magnitude` (X.690 §8.3):
 * two's complement in the fewest octets, so leading zero octets are dropped and one zero octet
 * is put back in front when the first remaining octet has its top bit set (which would read as
 * negative). Zero is one 0x00 octet.
 */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start++;
  const significant = Buffer.from(magnitude.subarray(start));
  if (significant.length === 0) return tlv(TAG.integer, Buffer.from([0x00]));
  return tlv(TAG.integer, significant[0]! & 0x80 ? Buffer.concat([Buffer.from([0x00]), significant]) : significant);
}

/** INTEGER of a small non-negative number (a version, a path length). */
export function smallInteger(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`DER integer ${value} is not a non-negative safe integer`);
  const octets: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return unsignedInteger(Buffer.from(octets));
}

/** The base-128 octets of one OID arc: seven bits per octet, bit 8 set on all but the last (X.690 §8.19.2). */
function base128(arc: number): number[] {
  const octets = [arc % 128];
  for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) octets.unshift(0x80 | rest % 128);
  return octets;
}

/** OBJECT IDENTIFIER from its dotted form, e.g. `2.5.4.3` (X.690 §8.19). */
export function objectIdentifier(dotted: string): Buffer {
  if (!/^[0-2](?:\.(?:0|[1-9][0-9]*))+$/.test(dotted)) throw new RangeError(`"${dotted}" is not a dotted object identifier`);
  const arcs = dotted.split('.').map(Number);
  if (!arcs.every(Number.isSafeInteger)) throw new RangeError(`object identifier "${dotted}" has an arc too large`);
  const [first, second, ...rest] = arcs as [number, number, ...number[]];
  // The first two arcs share one subidentifier, 40 × first + second; second < 40 under arcs 0 and 1 (§8.19.4).
  if (first < 2 && second >= 40) throw new RangeError(`object identifier "${dotted}": the second arc must be below 40`);
  return tlv(TAG.objectIdentifier, Buffer.from([first * 40 + second, ...rest].flatMap(base128)));
}

/** OCTET STRING (X.690 §8.7, primitive in DER). */
export function octetString(contents: Uint8Array): Buffer {
  return tlv(TAG.octetString, contents);
}

/** BIT STRING of whole octets (X.690 §8.6: the first contents octet is the number of unused bits, here 0). */
export function bitString(contents: Uint8Array): Buffer {
  return tlv(TAG.bitString, Buffer.concat([Buffer.from([0x00]), contents]));
}

/**
 * BIT STRING of named bits (X.680 §22.7, X.690 §11.2.2): bit `n` of the ASN.1 type is the
 * value's bit `n`, counted from the most significant bit of the first octet, and DER drops the
 * trailing zero bits, so the encoding ends at the highest bit set. `bits` is a mask with bit
 * `n` at 1 << n, as in RFC 5280 §4.2.1.3 (digitalSignature = 1 << 0).
 */
export function namedBitString(bits: number): Buffer {
  if (!Number.isSafeInteger(bits) || bits < 0 || bits > 0xffff) throw new RangeError(`named bits ${bits} out of range`);
  if (bits === 0) return tlv(TAG.bitString, Buffer.from([0x00]));
  const highest = Math.floor(Math.log2(bits));
  const octets = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (let n = 0; n <= highest; n++) {
    if (bits & (1 << n)) octets[n >> 3]! |= 0x80 >> (n & 7);
  }
  const unusedBits = 7 - (highest & 7);
  return tlv(TAG.bitString, Buffer.concat([Buffer.from([unusedBits]), octets]));
}

/** The characters of PrintableString (X.680 §41.4, table 10). */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** True when `text` can be a PrintableString. */
export function isPrintable(text: string): boolean {
  return PRINTABLE.test(text);
}

/** PrintableString; refuses characters outside its set. */
export function printableString(text: string): Buffer {
  if (!isPrintable(text)) throw new RangeError('text outside PrintableString');
  return tlv(TAG.printableString, Buffer.from(text, 'latin1'));
}

/** UTF8String (X.680 §41.16). */
export function utf8String(text: string): Buffer {
  return tlv(TAG.utf8String, Buffer.from(text, 'utf8'));
}

/** The date's fields, two digits each from month on, at whole seconds in UTC. */
function utcFields(date: Date): { year: number; rest: string } {
  const two = (n: number): string => String(n).padStart(2, '0');
  return {
    year: date.getUTCFullYear(),
    rest: `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}`,
  };
}

/**
 * An X.509 Time (RFC 5280 §4.1.2.5): UTCTime `YYMMDDHHMMSSZ` for the years 1950-2049 and
 * GeneralizedTime `YYYYMMDDHHMMSSZ` from 2050 on, both in UTC with whole seconds (fractions
 * are dropped, §4.1.2.5.1-2). Years before 1950 or after 9999 have no encoding here.
 */
export function x509Time(date: Date): Buffer {
  if (Number.isNaN(date.getTime())) throw new RangeError('invalid date');
  const { year, rest } = utcFields(date);
  if (year < 1950 || year > 9999) throw new RangeError(`year ${year} cannot be encoded as an X.509 time`);
  if (year < 2050) return tlv(TAG.utcTime, Buffer.from(`${String(year % 100).padStart(2, '0')}${rest}Z`, 'latin1'));
  return tlv(TAG.generalizedTime, Buffer.from(`${year}${rest}Z`, 'latin1'));
}

/** `[number] EXPLICIT`: a constructed context-specific tag around one complete encoding (X.690 §8.14.2). */
export function explicitTag(number: number, encoding: Uint8Array): Buffer {
  if (!Number.isInteger(number) || number < 0 || number > 30) throw new RangeError(`context tag ${number} out of range`);
  return tlv(CONTEXT_SPECIFIC | CONSTRUCTED | number, encoding);
}

/** `[number] IMPLICIT` of a primitive type: its contents octets under a context-specific tag (X.690 §8.14.3). */
export function implicitPrimitive(number: number, contents: Uint8Array): Buffer {
  if (!Number.isInteger(number) || number < 0 || number > 30) throw new RangeError(`context tag ${number} out of range`);
  return tlv(CONTEXT_SPECIFIC | number, contents);
}
