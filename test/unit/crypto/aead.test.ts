/** AES-256-GCM seal/open against the GCM specification's AES-256 test cases 14 and 16. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aesGcmOpen, aesGcmSeal } from '../../../src/crypto/aead.js';
import { hex, loadVectors, toHex } from '../../helpers/vectors.js';

interface GcmCase {
  id: string;
  key: string;
  iv: string;
  aad: string;
  plaintext: string;
  ciphertext: string;
  tag: string;
}

const cases = loadVectors<{ cases: GcmCase[] }>('gcm-spec/aes-256-gcm.json').cases;

describe('AES-256-GCM (GCM specification vectors)', () => {
  for (const c of cases) {
    it(`test case ${c.id}: seal gives ciphertext || tag, open gives the plaintext back`, () => {
      const plaintext = hex(c.plaintext);
      const sealed = aesGcmSeal(hex(c.key), hex(c.iv), hex(c.aad), [plaintext.subarray(0, 5), plaintext.subarray(5)]);
      assert.equal(toHex(sealed), c.ciphertext + c.tag, `GCM ${c.id} seal (plaintext in two parts)`);
      const opened = aesGcmOpen(hex(c.key), hex(c.iv), hex(c.aad), sealed);
      assert.ok(opened, `GCM ${c.id} opens`);
      assert.equal(toHex(opened), c.plaintext, `GCM ${c.id} open`);
    });
  }

  it('refuses a changed ciphertext byte, tag byte, aad byte, or a short input', () => {
    const c = cases[1]!;
    const sealed = hex(c.ciphertext + c.tag);
    for (const index of [0, sealed.length - 17, sealed.length - 1]) {
      const changed = Uint8Array.from(sealed);
      changed[index]! ^= 0x01;
      assert.equal(aesGcmOpen(hex(c.key), hex(c.iv), hex(c.aad), changed), undefined, `byte ${index} flipped`);
    }
    const aad = hex(c.aad);
    aad[0]! ^= 1;
    assert.equal(aesGcmOpen(hex(c.key), hex(c.iv), aad, sealed), undefined, 'aad changed');
    assert.equal(aesGcmOpen(hex(c.key), hex(c.iv), hex(c.aad), sealed.subarray(0, 15)), undefined, 'shorter than a tag');
  });
});
