/**
 * SessionKeys (docs/design.md §3, §8.1): session keys are MACs under the relay secret over the
 * session id, the side and the key's expiry, laid out byte by byte as docs/protocol.md §11 says, so
 * a restarted relay verifies them without stored state. Every forgery is refused.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { newSessionId } from '../../../src/relay/secrets.js';
import { SessionKeys, keyExpiryFor } from '../../../src/relay/session-keys.js';

const HOUR = 3_600_000;

describe('SessionKeys', () => {
  it('a key is 32 bytes of base64url and verifies for its session and side, with its expiry', () => {
    const keys = new SessionKeys(randomBytes(32));
    const id = newSessionId();
    const expiresAt = keyExpiryFor(Date.now() + HOUR);
    const key = keys.issue(id, 'agent', expiresAt);
    assert.match(key, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(key, 'base64url').length, 32);
    assert.deepEqual(keys.verify(id, 'agent', key), { valid: true, expiresAt, expired: false, ownIssue: true });
  });

  it('the layout is the documented one: expiry, issuer, nonce, then HMAC-SHA256 over label, side, session id and those 12 bytes', () => {
    const secret = randomBytes(32);
    const issuer = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const keys = new SessionKeys(secret, issuer);
    const id = newSessionId();
    const expiresAt = Date.UTC(2030, 0, 1);
    for (const [role, roleByte] of [['agent', 0x01], ['client', 0x02]] as const) {
      const raw = Buffer.from(keys.issue(id, role, expiresAt), 'base64url');
      assert.equal(raw.readUInt32BE(0), expiresAt / 1000, `${role}: expiry in seconds, big-endian`);
      assert.deepEqual(raw.subarray(4, 8), issuer, `${role}: issuer`);
      const tag = createHmac('sha256', secret)
        .update(Buffer.concat([Buffer.from('kubepair/1 session key', 'ascii'), Buffer.of(0x00, roleByte), Buffer.from(id, 'base64url'), raw.subarray(0, 12)]))
        .digest()
        .subarray(0, 20);
      assert.deepEqual(raw.subarray(12), tag, `${role}: the tag, recomputed from the documented construction`);
    }
  });

  it('two keys of one session and side differ (two pairing attempts never share a key)', () => {
    const keys = new SessionKeys(randomBytes(32));
    const id = newSessionId();
    const expiresAt = keyExpiryFor(Date.now() + HOUR);
    const seen = new Set(Array.from({ length: 100 }, () => keys.issue(id, 'client', expiresAt)));
    assert.equal(seen.size, 100);
  });

  it('expiries are rounded up to whole seconds, so a key outlives its session', () => {
    assert.equal(keyExpiryFor(1_700_000_000_001), 1_700_000_001_000);
    assert.equal(keyExpiryFor(1_700_000_000_000), 1_700_000_000_000);
    const keys = new SessionKeys(randomBytes(32));
    const id = newSessionId();
    const verdict = keys.verify(id, 'agent', keys.issue(id, 'agent', 1_700_000_000_001), 0);
    assert.ok(verdict.valid);
    assert.equal(verdict.expiresAt, 1_700_000_001_000);
  });

  it('a key of a previous relay process (same secret, another issuer) verifies and is not this process\'s own', () => {
    const secret = randomBytes(32);
    const id = newSessionId();
    const old = new SessionKeys(secret, Buffer.from([1, 2, 3, 4])).issue(id, 'client', keyExpiryFor(Date.now() + HOUR));
    const verdict = new SessionKeys(secret, Buffer.from([5, 6, 7, 8])).verify(id, 'client', old);
    assert.ok(verdict.valid);
    assert.equal(verdict.ownIssue, false);
  });

  describe('Security: forged keys are refused', () => {
    const secret = randomBytes(32);
    const keys = new SessionKeys(secret);
    const id = newSessionId();
    const expiresAt = keyExpiryFor(Date.now() + HOUR);
    const agentKey = keys.issue(id, 'agent', expiresAt);

    it('a key for the other side, another session, or under another secret', () => {
      assert.deepEqual(keys.verify(id, 'client', agentKey), { valid: false }, 'the agent key used by a client');
      assert.deepEqual(keys.verify(newSessionId(), 'agent', agentKey), { valid: false }, 'another session');
      const foreign = new SessionKeys(randomBytes(32)).issue(id, 'agent', expiresAt);
      assert.deepEqual(keys.verify(id, 'agent', foreign), { valid: false }, 'another relay secret');
      assert.deepEqual(keys.verify(id, 'agent', randomBytes(32).toString('base64url')), { valid: false }, 'random bytes');
    });

    it('any single changed bit (a later expiry, another issuer, a changed tag)', () => {
      const raw = Buffer.from(agentKey, 'base64url');
      for (let bit = 0; bit < raw.length * 8; bit++) {
        const forged = Buffer.from(raw);
        forged[bit >> 3] = (forged[bit >> 3] as number) ^ (1 << (bit & 7));
        assert.deepEqual(keys.verify(id, 'agent', forged.toString('base64url')), { valid: false }, `bit ${bit}`);
      }
    });

    it('a non-canonical encoding of a valid key (other bits in the last character), and wrong lengths', () => {
      const last = agentKey.at(-1) as string;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const index = alphabet.indexOf(last);
      // 43 characters carry 258 bits; the last character's two low bits are padding.
      const sibling = alphabet[(index & ~0b11) | ((index + 1) & 0b11)] as string;
      const twin = agentKey.slice(0, -1) + sibling;
      assert.deepEqual(Buffer.from(twin, 'base64url'), Buffer.from(agentKey, 'base64url'), 'the twin decodes to the same bytes');
      assert.deepEqual(keys.verify(id, 'agent', twin), { valid: false });
      assert.deepEqual(keys.verify(id, 'agent', agentKey.slice(0, 42)), { valid: false });
      assert.deepEqual(keys.verify('short', 'agent', agentKey), { valid: false });
    });

    it('an expired key is reported as expired, only after its MAC verified', () => {
      const past = keys.issue(id, 'agent', keyExpiryFor(Date.now() - 1000));
      const verdict = keys.verify(id, 'agent', past);
      assert.ok(verdict.valid);
      assert.equal(verdict.expired, true);
      const raw = Buffer.from(past, 'base64url');
      raw.writeUInt32BE(0xffff_ffff, 0); // pushed into the future without the secret
      assert.deepEqual(keys.verify(id, 'agent', raw.toString('base64url')), { valid: false });
    });
  });
});
