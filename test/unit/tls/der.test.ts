/**
 * The DER writer (src/tls/der.ts): every type against encodings worked out by hand from X.690
 * (and X.690's own example OID 2.999.3), the length forms at their boundaries (127/128, 255/256,
 * 65535/65536), INTEGER's sign octet, named bit strings, UTCTime up to 2049 and
 * GeneralizedTime from 2050. OpenSSL reads the same encodings back in
 * test/integration/tls/openssl-reads-certificates.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bitString,
  boolean,
  derLength,
  explicitTag,
  implicitPrimitive,
  isPrintable,
  namedBitString,
  objectIdentifier,
  octetString,
  printableString,
  sequence,
  setOf,
  smallInteger,
  tlv,
  unsignedInteger,
  utf8String,
  x509Time,
} from '../../../src/tls/der.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('DER writer', () => {
  describe('lengths (X.690 §8.1.3, §10.1)', () => {
    const cases: Array<[number, string]> = [
      [0, '00'],
      [1, '01'],
      [127, '7f'],
      [128, '8180'],
      [255, '81ff'],
      [256, '820100'],
      [300, '82012c'],
      [65_535, '82ffff'],
      [65_536, '83010000'],
    ];
    for (const [length, expected] of cases) {
      it(`${length} is ${expected}`, () => assert.equal(hex(derLength(length)), expected, `length ${length}`));
    }

    it('a TLV of 128 and of 300 content octets carries the long form and all the contents', () => {
      const long = tlv(0x04, Buffer.alloc(128, 0xab));
      assert.equal(hex(long.subarray(0, 3)), '048180');
      assert.equal(long.length, 3 + 128);
      const longer = tlv(0x04, Buffer.alloc(300, 0xcd));
      assert.equal(hex(longer.subarray(0, 4)), '0482012c');
      assert.equal(longer.length, 4 + 300);
      assert.equal(longer.at(-1), 0xcd);
    });

    it('refuses lengths and tags DER cannot write', () => {
      assert.throws(() => derLength(-1), RangeError);
      assert.throws(() => derLength(1.5), RangeError);
      assert.throws(() => tlv(0x1f, Buffer.alloc(0)), RangeError, 'high tag number form');
      assert.throws(() => tlv(256, Buffer.alloc(0)), RangeError);
    });
  });

  describe('INTEGER (X.690 §8.3): two\'s complement in the fewest octets', () => {
    const cases: Array<[string, string, string]> = [
      ['zero', '', '020100'],
      ['zero octets only', '0000', '020100'],
      ['0x7f stays one octet', '7f', '02017f'],
      ['0x80 gets a sign octet', '80', '02020080'],
      ['leading zeros are dropped', '000001', '020101'],
      ['a leading zero before a high bit stays one', '000080', '02020080'],
      ['16 octets of 0xff get a 17th', 'ff'.repeat(16), `021100${'ff'.repeat(16)}`],
      ['a serial with its top bit clear keeps its 16 octets', `7f${'00'.repeat(15)}`, `02107f${'00'.repeat(15)}`],
    ];
    for (const [name, magnitude, expected] of cases) {
      it(name, () => assert.equal(hex(unsignedInteger(Buffer.from(magnitude, 'hex'))), expected, name));
    }

    it('small integers: 0, 2, 127, 128, 256', () => {
      assert.equal(hex(smallInteger(0)), '020100');
      assert.equal(hex(smallInteger(2)), '020102');
      assert.equal(hex(smallInteger(127)), '02017f');
      assert.equal(hex(smallInteger(128)), '02020080');
      assert.equal(hex(smallInteger(256)), '02020100');
      assert.throws(() => smallInteger(-1), RangeError);
    });
  });

  describe('OBJECT IDENTIFIER (X.690 §8.19)', () => {
    const cases: Array<[string, string]> = [
      ['2.5.4.3', '0603550403'],
      ['2.5.29.19', '0603551d13'],
      ['1.2.840.10045.4.3.2', '06082a8648ce3d040302'],
      ['1.3.6.1.5.5.7.3.1', '06082b06010505070301'],
      ['2.999.3', '0603883703'], // X.690 §8.19.5's example: first subidentifier 1079
      ['0.0', '060100'],
    ];
    for (const [dotted, expected] of cases) {
      it(dotted, () => assert.equal(hex(objectIdentifier(dotted)), expected, dotted));
    }

    for (const bad of ['1', '3.1', '1.40', '1.2.', '01.2', '1..2', 'a.b', '']) {
      it(`refuses "${bad}"`, () => assert.throws(() => objectIdentifier(bad), RangeError, bad));
    }
  });

  describe('BIT STRING with named bits (X.690 §11.2.2): trailing zero bits dropped', () => {
    const cases: Array<[string, number, string]> = [
      ['digitalSignature (bit 0)', 1 << 0, '03020780'],
      ['keyCertSign and cRLSign (bits 5, 6)', (1 << 5) | (1 << 6), '03020106'],
      ['bit 7 fills the first octet', 1 << 7, '03020001'],
      ['decipherOnly (bit 8) takes a second octet', 1 << 8, '0303070080'],
      ['no bits', 0, '030100'],
    ];
    for (const [name, bits, expected] of cases) {
      it(name, () => assert.equal(hex(namedBitString(bits)), expected, name));
    }

    it('whole octets: the unused-bits octet is 0', () => assert.equal(hex(bitString(Buffer.from('a1b2', 'hex'))), '030300a1b2'));
  });

  describe('Time (RFC 5280 §4.1.2.5): UTCTime through 2049, GeneralizedTime from 2050', () => {
    const cases: Array<[string, string, string]> = [
      ['2026-12-07T01:02:03.999Z', '17', '261207010203Z'],
      ['1950-01-01T00:00:00Z', '17', '500101000000Z'],
      ['2049-12-31T23:59:59Z', '17', '491231235959Z'],
      ['2050-01-01T00:00:00Z', '18', '20500101000000Z'],
      ['9999-12-31T23:59:59Z', '18', '99991231235959Z'],
    ];
    for (const [iso, tag, text] of cases) {
      it(`${iso} is ${text}`, () => {
        const encoded = x509Time(new Date(iso));
        assert.equal(encoded[0]!.toString(16), tag, iso);
        assert.equal(encoded[1], text.length, iso);
        assert.equal(encoded.subarray(2).toString('latin1'), text, iso);
      });
    }

    it('refuses years it cannot encode and invalid dates', () => {
      assert.throws(() => x509Time(new Date('1949-12-31T23:59:59Z')), RangeError);
      assert.throws(() => x509Time(new Date('+010000-01-01T00:00:00Z')), RangeError);
      assert.throws(() => x509Time(new Date(Number.NaN)), RangeError);
    });
  });

  describe('strings, BOOLEAN, OCTET STRING, SET OF and context tags', () => {
    it('PrintableString takes its own characters only; UTF8String any', () => {
      assert.equal(hex(printableString("kubepair CA (x) 'y'+,-./:=?")), `131b${Buffer.from("kubepair CA (x) 'y'+,-./:=?").toString('hex')}`);
      for (const text of ['a_b', 'a*b', 'a@b', 'a\\b', 'a"b', 'ü', 'a#b']) assert.equal(isPrintable(text), false, text);
      assert.throws(() => printableString('a_b'), RangeError);
      assert.equal(hex(utf8String('ü')), '0c02c3bc');
    });

    it('BOOLEAN TRUE is 0xff, FALSE 0x00', () => {
      assert.equal(hex(boolean(true)), '0101ff');
      assert.equal(hex(boolean(false)), '010100');
    });

    it('OCTET STRING, SEQUENCE and the context tags', () => {
      assert.equal(hex(octetString(Buffer.from('0102', 'hex'))), '04020102');
      assert.equal(hex(sequence(boolean(true), smallInteger(1))), '30060101ff020101');
      assert.equal(hex(explicitTag(0, smallInteger(2))), 'a003020102');
      assert.equal(hex(explicitTag(3, sequence())), 'a3023000');
      assert.equal(hex(implicitPrimitive(2, Buffer.from('ab'))), '82026162');
      assert.equal(hex(implicitPrimitive(7, Buffer.from([127, 0, 0, 1]))), '87047f000001');
      assert.throws(() => explicitTag(31, Buffer.alloc(0)), RangeError);
    });

    it('SET OF orders its elements by their encodings (X.690 §11.6)', () => {
      assert.equal(hex(setOf(smallInteger(2), smallInteger(1), boolean(true))), '3109' + '0101ff' + '020101' + '020102');
    });
  });
});
