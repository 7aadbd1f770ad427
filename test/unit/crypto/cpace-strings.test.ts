/**
 * CPace string utilities against the vectors printed in draft-irtf-cfrg-cpace, Appendix
 * "Definition and test vectors for string utility functions".
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { utf8 } from '../../../src/crypto/bytes.js';
import { generatorString, leb128, lvCat, prependLen, transcriptIr } from '../../../src/crypto/cpace-strings.js';
import { hex, toHex } from '../../helpers/vectors.js';

const range = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);

describe('CPace string utilities (draft appendix vectors)', () => {
  it('prepend_len matches the "prepend_len test vectors"', () => {
    const cases: Array<[string, Uint8Array, string]> = [
      ['prepend_len(b"")', new Uint8Array(0), '00'],
      ['prepend_len(b"1234")', utf8('1234'), '0431323334'],
      ['prepend_len(bytes(range(127)))', range(127), '7f' + toHex(range(127))],
      ['prepend_len(bytes(range(128)))', range(128), '8001' + toHex(range(128))],
    ];
    for (const [id, input, expected] of cases) assert.equal(toHex(prependLen(input)), expected, id);
  });

  it('LEB128 encodes multi-byte lengths least-significant group first', () => {
    assert.equal(toHex(leb128(0)), '00', 'leb128(0)');
    assert.equal(toHex(leb128(300)), 'ac02', 'leb128(300)');
    assert.equal(toHex(leb128(16384)), '808001', 'leb128(16384)');
    assert.throws(() => leb128(-1), RangeError, 'negative length');
  });

  it('lv_cat matches "Testvector for lv_cat()"', () => {
    assert.equal(toHex(lvCat(utf8('1234'), utf8('5'), utf8(''), utf8('678'))), '043132333401350003363738', 'lv_cat');
  });

  it('transcript_ir matches "Test vectors transcript_ir function"', () => {
    assert.equal(
      toHex(transcriptIr(utf8('123'), utf8('PartyA'), utf8('234'), utf8('PartyB'))),
      '03313233065061727479410332333406506172747942',
      'transcript_ir(123, PartyA, 234, PartyB)',
    );
    assert.equal(
      toHex(transcriptIr(utf8('3456'), utf8('PartyA'), utf8('2345'), utf8('PartyB'))),
      '043334353606506172747941043233343506506172747942',
      'transcript_ir(3456, PartyA, 2345, PartyB)',
    );
  });

  it('generator_string matches the X25519 "calculate_generator" vector, zero padding included', () => {
    const expected =
      '0843506163653235350850617373776f72646d000000000000000000' +
      '00000000000000000000000000000000000000000000000000000000' +
      '00000000000000000000000000000000000000000000000000000000' +
      '00000000000000000000000000000000000000000000000000000000' +
      '00000000000000000000000000000000180b415f696e69746961746f' +
      '720b425f726573706f6e646572107e4b4791d6a8ef019b936c79fb7f' +
      '2c57';
    const out = generatorString(
      utf8('CPace255'),
      utf8('Password'),
      hex('0b415f696e69746961746f720b425f726573706f6e646572'),
      hex('7e4b4791d6a8ef019b936c79fb7f2c57'),
      128,
    );
    assert.equal(out.length, 170, 'generator_string length');
    assert.equal(toHex(out), expected, 'generator_string bytes (ZPAD length 109)');
  });

  it('generator_string pads to zero when PRS alone fills the first block', () => {
    const longPrs = new Uint8Array(200).fill(0x41);
    const out = generatorString(utf8('CPace255'), longPrs, new Uint8Array(0), new Uint8Array(0), 128);
    // lv_cat(DSI, PRS, b"", CI, sid) with an empty zero-padding field: 9 + 202 + 1 + 1 + 1.
    assert.equal(out.length, 9 + 202 + 1 + 1 + 1, 'len_zpad = max(0, negative) = 0');
  });
});
