/**
 * Relay identifiers and secrets: formats of docs/design.md §3, digests compared in constant time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestSecret, digestsEqual, newRelayToken, newSessionId } from '../../../src/relay/secrets.js';

describe('relay secrets', { timeout: 60_000 }, () => {
  it('session ids are 16 bytes, tokens kprt_ + 32 bytes, all base64url and distinct', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const id = newSessionId();
      const token = newRelayToken();
      assert.match(id, /^[A-Za-z0-9_-]{22}$/);
      assert.equal(Buffer.from(id, 'base64url').length, 16);
      assert.match(token, /^kprt_[A-Za-z0-9_-]{43}$/);
      for (const value of [id, token]) {
        assert.ok(!seen.has(value));
        seen.add(value);
      }
    }
  });

  it('digestsEqual compares SHA-256 digests and refuses other lengths', () => {
    const a = digestSecret('one');
    assert.equal(a.length, 32);
    assert.ok(digestsEqual(a, digestSecret('one')));
    assert.ok(!digestsEqual(a, digestSecret('two')));
    assert.ok(!digestsEqual(a, a.subarray(0, 16)));
    assert.ok(!digestsEqual(new Uint8Array(0), new Uint8Array(0)));
  });
});
