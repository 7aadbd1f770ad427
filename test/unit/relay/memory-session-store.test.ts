/**
 * MemorySessionStore's own promise: expiry by timers that `close()` leaves none of (docs/design.md
 * §3, §8). What every SessionStore promises is tested for it and for the Redis store by
 * test/integration/relay/session-store-contract.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { MemorySessionStore } from '../../../src/relay/memory-session-store.js';
import { newSessionId } from '../../../src/relay/secrets.js';
import { TEST_KEY_EXPIRY, TEST_SESSION_POLICY, actor, digest } from '../../helpers/session-store-fixture.js';

const POLICY = TEST_SESSION_POLICY;
const KEY_EXPIRY = TEST_KEY_EXPIRY;

function timers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

describe('MemorySessionStore', { timeout: 60_000 }, () => {
  it('close() leaves no timer behind and refuses later work', async () => {
    const before = timers();
    const store = new MemorySessionStore(POLICY);
    for (let i = 0; i < 50; i++) {
      await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: { tokenName: null, address: `10.0.0.${i}` } });
      if (i % 2 === 0) await store.claim(String(i + 1), { clientKeyDigest: () => digest(), actor });
    }
    assert.equal(timers(), before + 75, 'one expiry timer per session, one per claim');
    await store.close();
    assert.equal(timers(), before);
    await assert.rejects(store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor }), (err) => isKubepairError(err, 'KP_ERR_RELAY_SHUTTING_DOWN'));
  });

  describe('durable sessions (docs/design.md §8.1)', () => {
    it('close() clears resume deadlines too', async () => {
      const before = timers();
      const store = new MemorySessionStore(POLICY);
      await store.recreate({ id: newSessionId(), role: 'agent', keyExpiresAt: Date.now() + 3_600_000, keyDigest: digest(), actor });
      assert.equal(timers(), before + 2, 'expiry and resume deadline');
      await store.close();
      assert.equal(timers(), before);
    });
  });
});
