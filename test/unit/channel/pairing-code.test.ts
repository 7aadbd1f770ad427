/**
 * The pairing code: generation, display, tolerant parsing and precise errors (docs/design.md §4).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatPairingCode,
  generatePairingSecret,
  newPairingCode,
  pairingSecretBytes,
  parsePairingCode,
} from '../../../src/channel/pairing-code.js';
import { isKubepairError } from '../../../src/errors/index.js';

describe('pairing code', () => {
  it('generates 8-digit secrets, all digits in use (bounded sample)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const secret = generatePairingSecret();
      assert.match(secret, /^[0-9]{8}$/, `sample ${i}`);
      for (const digit of secret) seen.add(digit);
    }
    assert.equal(seen.size, 10, 'every digit appears in 4,000 draws');
    const distinct = new Set(Array.from({ length: 200 }, generatePairingSecret));
    assert.ok(distinct.size >= 199, 'no repeats to speak of among 200 codes');
  });

  it('displays as nameplate-XXXX-XXXX', () => {
    assert.equal(formatPairingCode({ nameplate: '42', secret: '73150286' }), '42-7315-0286');
    assert.equal(formatPairingCode({ nameplate: '7', secret: '00000001' }), '7-0000-0001');
  });

  it('newPairingCode wraps a relay nameplate and refuses a bad one', () => {
    assert.equal(newPairingCode('9').nameplate, '9');
    assert.throws(() => newPairingCode('09'), (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'));
  });

  it('the PRS is the 8 ASCII digits', () => {
    assert.deepEqual([...pairingSecretBytes({ nameplate: '1', secret: '01234567' })], [...Buffer.from('01234567')]);
  });

  const accepted: Array<[string, string, string]> = [
    ['42-7315-0286', '42', '73150286'],
    ['42 7315 0286', '42', '73150286'],
    ['42-73150286', '42', '73150286'],
    ['  42 - 7315 - 0286\n', '42', '73150286'],
    ['42--7315--0286', '42', '73150286'],
    ['42\u20137315\u20140286', '42', '73150286'],
    ['1-0000-0000', '1', '00000000'],
    ['9999999-1234-5678', '9999999', '12345678'],
  ];
  for (const [input, nameplate, secret] of accepted) {
    it(`accepts ${JSON.stringify(input)}`, () => {
      assert.deepEqual(parsePairingCode(input), { nameplate, secret });
    });
  }

  const refused: Array<[string, RegExp]> = [
    ['', /empty/],
    ['   ', /empty/],
    ['abc', /must start with the nameplate number, found 'a'/],
    ['-42-7315-0286', /must start with the nameplate number/],
    ['4273150286', /more than 7 digits; is the dash after it missing/],
    ['042-7315-0286', /must not start with 0/],
    ['0-7315-0286', /must not start with 0/],
    ['42', /secret after "42-" is missing/],
    ['42x7315-0286', /expected a dash after the nameplate "42", found 'x'/],
    ['42-7315-028', /has 7 digits; it needs 8/],
    ['42-7315-02861', /has 9 digits; it needs 8/],
    ['42-73l5-0286', /unexpected 'l' at position 6 \(did you mean the digit 1\?\)/],
    ['42-7315-O286', /unexpected 'O' at position 9 \(did you mean the digit 0\?\)/],
    ['42-7315-0286\u0000', /U\+0000/],
    ['42-７３１５-0286', /unexpected '７'/],
    ['4'.repeat(65), /65 characters long/],
  ];
  for (const [input, pattern] of refused) {
    it(`refuses ${JSON.stringify(input.length > 20 ? input.slice(0, 20) + '…' : input)} with a precise message`, () => {
      assert.throws(
        () => parsePairingCode(input),
        (err) => isKubepairError(err, 'KP_ERR_PAIRING_CODE_MALFORMED') && err.exitCode === 2 && pattern.test(err.message),
      );
    });
  }
});
