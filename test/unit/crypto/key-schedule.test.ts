/**
 * The key schedule: HKDF-SHA256 against RFC 5869 Appendix A, HMAC-SHA256 (used for the
 * confirmation tags) against RFC 4231, and the kubepair labels, directions and key update.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { utf8 } from '../../../src/crypto/bytes.js';
import {
  KEY_SCHEDULE_LABELS,
  confirmationTag,
  deriveSessionKeys,
  hkdfExpand,
  hkdfExtract,
  nextTrafficSecret,
  resumeMac,
} from '../../../src/crypto/key-schedule.js';
import { hex, loadVectors, toHex } from '../../helpers/vectors.js';

interface HkdfCase {
  id: string;
  ikm: string;
  salt: string;
  info: string;
  length: number;
  prk: string;
  okm: string;
}
interface HmacCase {
  id: string;
  key: string;
  data: string;
  mac: string;
}

describe('HKDF-SHA256 (RFC 5869 Appendix A)', () => {
  for (const c of loadVectors<{ cases: HkdfCase[] }>('rfc5869/hkdf-sha256.json').cases) {
    it(`test case ${c.id}: extract and expand`, () => {
      const prk = hkdfExtract(hex(c.salt), hex(c.ikm));
      assert.equal(toHex(prk), c.prk, `RFC 5869 ${c.id} PRK`);
      assert.equal(toHex(hkdfExpand(prk, hex(c.info), c.length)), c.okm, `RFC 5869 ${c.id} OKM`);
    });
  }
});

describe('HMAC-SHA256 (RFC 4231)', () => {
  for (const c of loadVectors<{ cases: HmacCase[] }>('rfc4231/hmac-sha256.json').cases) {
    it(`test case ${c.id}`, () => {
      assert.equal(createHmac('sha256', hex(c.key)).update(hex(c.data)).digest('hex'), c.mac, `RFC 4231 ${c.id}`);
    });
  }
});

describe('kubepair key schedule (docs/design.md §4)', () => {
  const isk = Uint8Array.from({ length: 64 }, (_, i) => i);
  const sid = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

  it('derives each output as HKDF-Expand(Extract(sid, ISK), label) with the normative labels', () => {
    const keys = deriveSessionKeys(isk, sid);
    const prk = hkdfExtract(sid, isk);
    const expect = (label: string, length: number): string => toHex(hkdfExpand(prk, utf8(label), length));
    assert.equal(toHex(keys.confirmA), expect('kubepair/1 confirm a', 32), 'confirm a');
    assert.equal(toHex(keys.confirmB), expect('kubepair/1 confirm b', 32), 'confirm b');
    assert.equal(toHex(keys.agentToClient.key), expect('kubepair/1 key a2c', 32), 'key a2c');
    assert.equal(toHex(keys.clientToAgent.key), expect('kubepair/1 key c2a', 32), 'key c2a');
    assert.equal(toHex(keys.agentToClient.iv), expect('kubepair/1 iv a2c', 12), 'iv a2c');
    assert.equal(toHex(keys.clientToAgent.iv), expect('kubepair/1 iv c2a', 12), 'iv c2a');
    assert.equal(KEY_SCHEDULE_LABELS.keyUpdate, 'kubepair/1 key update', 'key update label');
    assert.equal(toHex(keys.resume), expect('kubepair/1 resume', 32), 'resume key (docs/design.md §8.1)');
  });

  it('the resume key is distinct from every other output, and its MAC is HMAC-SHA256', () => {
    const keys = deriveSessionKeys(isk, sid);
    const others = [keys.confirmA, keys.confirmB, keys.agentToClient.key, keys.clientToAgent.key].map(toHex);
    assert.ok(!others.includes(toHex(keys.resume)), 'resume key differs');
    const message = utf8('resume message');
    assert.equal(toHex(resumeMac(keys.resume, message)), createHmac('sha256', keys.resume).update(message).digest('hex'));
    assert.throws(() => resumeMac(new Uint8Array(31), message), { code: 'KP_ERR_INVALID_ARGUMENT' });
  });

  it('gives the two directions and the two confirmations distinct keys', () => {
    const keys = deriveSessionKeys(isk, sid);
    const all = [keys.confirmA, keys.confirmB, keys.agentToClient.key, keys.clientToAgent.key].map(toHex);
    assert.equal(new Set(all).size, 4, 'four distinct 32-byte keys');
    assert.notEqual(toHex(keys.agentToClient.iv), toHex(keys.clientToAgent.iv), 'distinct ivs');
  });

  it('binds the session id: another sid gives other keys', () => {
    const other = Uint8Array.from(sid);
    other[0]! ^= 1;
    assert.notEqual(toHex(deriveSessionKeys(isk, sid).confirmA), toHex(deriveSessionKeys(isk, other).confirmA));
    assert.throws(() => deriveSessionKeys(isk, new Uint8Array(15)), { code: 'KP_ERR_INVALID_ARGUMENT' });
  });

  it('confirmation tag = HMAC-SHA256(key, SHA-256(HELLO_A || HELLO_B))', () => {
    const key = new Uint8Array(32).fill(7);
    const helloA = utf8('hello-a');
    const helloB = utf8('hello-b');
    const th = createHash('sha256').update(Buffer.concat([helloA, helloB])).digest();
    const expected = createHmac('sha256', key).update(th).digest('hex');
    assert.equal(toHex(confirmationTag(key, helloA, helloB)), expected, 'tag');
    assert.notEqual(toHex(confirmationTag(key, helloB, helloA)), expected, 'order matters');
  });

  it('key update expands key and iv from the old key with their own labels', () => {
    const current = { key: new Uint8Array(32).fill(1), iv: new Uint8Array(12).fill(2) };
    const next = nextTrafficSecret(current);
    assert.equal(toHex(next.key), toHex(hkdfExpand(current.key, utf8('kubepair/1 key update'), 32)), "key'");
    assert.equal(toHex(next.iv), toHex(hkdfExpand(current.key, utf8('kubepair/1 iv update'), 12)), "iv'");
    assert.notEqual(toHex(next.iv), toHex(next.key.subarray(0, 12)), "iv' is not a prefix of key'");
  });
});
