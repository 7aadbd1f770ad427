/**
 * CPACE-X25519-SHA512 against the published vectors of draft-irtf-cfrg-cpace:
 * test/vectors/cpace/testvectors.json entries G_25519 and X25519_points, and the appendix text
 * "Test vectors for calculate_generator with group X25519" and "Test vectors for
 * G_X25519.scalar_mult_vfy: low order points".
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CPACE_NEUTRAL,
  calculateGenerator,
  computeIskIr,
  isCanonicalShare,
  sampleScalar,
  scalarMult,
  scalarMultVfy,
} from '../../../src/crypto/cpace.js';
import { decodeUCoordinate, encodeUCoordinate } from '../../../src/crypto/elligator2.js';
import { hex, loadVectors, toHex } from '../../helpers/vectors.js';

interface CpaceVectors {
  G_25519: Record<'PRS' | 'CI' | 'sid' | 'g' | 'ya' | 'ADa' | 'Ya' | 'yb' | 'ADb' | 'Yb' | 'K' | 'ISK_IR', string>;
  X25519_points: Record<string, string>;
}

const vectors = loadVectors<CpaceVectors>('cpace/testvectors.json');
const v = vectors.G_25519;
const lower = (s: string): string => s.toLowerCase();

describe('CPACE-X25519-SHA512 (G_25519 vectors)', () => {
  it('calculate_generator reproduces g, via the decoded 255-bit field element', () => {
    // Appendix: "decoded field element of 255 bits" is the hash with bit 255 cleared.
    const hashed = hex('03998087bdb1a2617bbe25ef5a7c18cd4f84f902328701790958755ee4aed1d3');
    const decoded = decodeUCoordinate(hashed);
    assert.equal(
      toHex(encodeUCoordinate(decoded)),
      '03998087bdb1a2617bbe25ef5a7c18cd4f84f902328701790958755ee4aed153',
      'G_25519 decoded field element',
    );
    assert.equal(toHex(calculateGenerator(hex(v.PRS), hex(v.CI), hex(v.sid))), lower(v.g), 'G_25519 g');
  });

  it('scalar_mult reproduces Ya and Yb from ya, yb and g', () => {
    const g = hex(v.g);
    assert.equal(toHex(scalarMult(hex(v.ya), g)), lower(v.Ya), 'G_25519 Ya');
    assert.equal(toHex(scalarMult(hex(v.yb), g)), lower(v.Yb), 'G_25519 Yb');
  });

  it('scalar_mult_vfy gives the same K on both sides', () => {
    assert.equal(toHex(scalarMultVfy(hex(v.ya), hex(v.Yb))), lower(v.K), 'G_25519 K = scalar_mult_vfy(ya, Yb)');
    assert.equal(toHex(scalarMultVfy(hex(v.yb), hex(v.Ya))), lower(v.K), 'G_25519 K = scalar_mult_vfy(yb, Ya)');
  });

  it('ISK for the initiator-responder setting equals ISK_IR', () => {
    const isk = computeIskIr(hex(v.sid), hex(v.K), hex(v.Ya), hex(v.ADa), hex(v.Yb), hex(v.ADb));
    assert.equal(isk.length, 64, 'ISK is 64 bytes');
    assert.equal(toHex(isk), lower(v.ISK_IR), 'G_25519 ISK_IR');
  });

  it('the published shares are canonical encodings', () => {
    assert.ok(isCanonicalShare(hex(v.Ya)), 'G_25519 Ya canonical');
    assert.ok(isCanonicalShare(hex(v.Yb)), 'G_25519 Yb canonical');
  });

  it('sampled scalars are 32 fresh bytes from the CSPRNG', () => {
    const a = sampleScalar();
    const b = sampleScalar();
    assert.equal(a.length, 32, 'scalar length');
    assert.notEqual(toHex(a), toHex(b), 'two samples differ');
  });
});

describe('Security: CPace refuses invalid points (X25519_points vectors)', () => {
  const s = hex('af46e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449aff');
  // Appendix "Test vectors for G_X25519.scalar_mult_vfy: low order points": qN = scalar_mult_vfy(s, uN).
  const q: Record<string, string> = {
    'Invalid Y0': '00'.repeat(32),
    'Invalid Y1': '00'.repeat(32),
    'Invalid Y2': '00'.repeat(32),
    'Invalid Y3': '00'.repeat(32),
    'Invalid Y4': '00'.repeat(32),
    'Invalid Y5': '00'.repeat(32),
    'Invalid Y6': 'd8e2c776bbacd510d09fd9278b7edcd25fc5ae9adfba3b6e040e8d3b71b21806',
    'Invalid Y7': '00'.repeat(32),
    'Invalid Y8': 'c85c655ebe8be44ba9c0ffde69f2fe10194458d137f09bbff725ce58803cdb38',
    'Invalid Y9': 'db64dafa9b8fdd136914e61461935fe92aa372cb056314e1231bc4ec12417456',
    'Invalid Y10': 'e062dcd5376d58297be2618c7498f55baa07d7e03184e8aada20bca28888bf7a',
    'Invalid Y11': '993c6ad11c4c29da9a56f7691fd0ff8d732e49de6250b6c2e80003ff4629a175',
  };

  it('scalar_mult_vfy(s, uN) produces exactly the published qN (bit 255 masked, low order → G.I)', () => {
    const entries = Object.entries(vectors.X25519_points);
    assert.equal(entries.length, 12, 'twelve X25519_points entries');
    for (const [id, u] of entries) {
      const expected = q[id];
      assert.ok(expected !== undefined, `${id} has an expected q`);
      assert.equal(toHex(scalarMultVfy(s, hex(u))), expected, `${id} scalar_mult_vfy`);
    }
  });

  it('every "Invalid" point is refused as a received share: non-canonical, or K = G.I', () => {
    for (const [id, u] of Object.entries(vectors.X25519_points)) {
      assert.ok(id.startsWith('Invalid'), `${id} is labelled Invalid`);
      const point = hex(u);
      const k = scalarMultVfy(sampleScalar(), point);
      const refused = !isCanonicalShare(point) || toHex(k) === toHex(CPACE_NEUTRAL);
      assert.ok(refused, `${id} must make a party abort`);
    }
  });

  it('the draft\'s "MUST abort" points u0..u5 and u7 give K = G.I for any scalar', () => {
    for (const id of ['Invalid Y0', 'Invalid Y1', 'Invalid Y2', 'Invalid Y3', 'Invalid Y4', 'Invalid Y5', 'Invalid Y7']) {
      const u = vectors.X25519_points[id];
      assert.ok(u !== undefined, id);
      assert.equal(toHex(scalarMultVfy(sampleScalar(), hex(u))), '00'.repeat(32), `${id} gives G.I`);
    }
  });

  it('shares with bit 255 set or a value >= p are not canonical', () => {
    const p = hex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
    const pMinus1 = hex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');
    const highBit = hex('0900000000000000000000000000000000000000000000000000000000000080');
    assert.ok(!isCanonicalShare(p), 'p itself');
    assert.ok(isCanonicalShare(pMinus1), 'p - 1 is canonical (it is refused through K = G.I instead)');
    assert.ok(!isCanonicalShare(highBit), 'bit 255 set');
    assert.ok(!isCanonicalShare(new Uint8Array(31)), 'wrong length');
  });

  it('crypto entry points assert lengths with KP_ERR_INVALID_ARGUMENT', () => {
    assert.throws(() => scalarMultVfy(new Uint8Array(31), hex(v.g)), { code: 'KP_ERR_INVALID_ARGUMENT' });
    assert.throws(() => scalarMultVfy(hex(v.ya), new Uint8Array(33)), { code: 'KP_ERR_INVALID_ARGUMENT' });
    assert.throws(() => computeIskIr(hex(v.sid), new Uint8Array(31), hex(v.Ya), hex(v.ADa), hex(v.Yb), hex(v.ADb)), {
      code: 'KP_ERR_INVALID_ARGUMENT',
    });
  });
});

describe('kubepair CPace inputs (docs/design.md §4)', () => {
  it('CI is lv_cat("kubepair/1"), as docs/protocol.md prints it', async () => {
    const { kubepairChannelIdentifier } = await import('../../../src/crypto/cpace.js');
    assert.equal(toHex(kubepairChannelIdentifier('kubepair/1')), '0a6b75626570616972 2f31'.replace(' ', ''));
  });
});
