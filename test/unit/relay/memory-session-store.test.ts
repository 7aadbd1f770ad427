/**
 * MemorySessionStore's own promise: expiry by timers that `close()` leaves none of (docs/design.md
 * §3, §8), every session's expiry on one timer (issue 15) and still on time under a storm of
 * sessions. What every SessionStore promises is tested for it and for the Redis store by
 * test/integration/relay/session-store-contract.test.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it, mock } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { MemorySessionStore } from '../../../src/relay/memory-session-store.js';
import { newSessionId } from '../../../src/relay/secrets.js';
import type { SessionRecord } from '../../../src/relay/session-store.js';
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
    assert.equal(timers(), before + 1 + 25, 'one expiry timer for all sessions (deadline-queue.ts), one per claim');
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

  describe('Security: expiry under a storm of sessions (one deadline queue, deadline-queue.ts)', () => {
    afterEach(() => {
      mock.timers.reset();
    });

    it('expires every unpaired session at its deadline and releases its nameplate and its place, while established ones live on to theirs', async () => {
      const START = 2_000_000_000_000;
      const STEP_MS = 100;
      const WAVES = 10;
      const PER_WAVE = 200;
      const TOTAL = WAVES * PER_WAVE;
      mock.timers.enable({ apis: ['setTimeout', 'Date'], now: START });
      const policy = { ...POLICY, maxSessions: TOTAL, maxSessionsPerToken: TOTAL, maxSessionsPerAddress: TOTAL, unpairedTtlMs: 60_000, establishedLifetimeMs: 120_000 };
      const store = new MemorySessionStore(policy);
      const keyExpiresAt = START + 3_600_000;
      /** Each live session's deadline as the store reported it; removed once it expired. */
      const due = new Map<string, number>();
      const destroyed = new Set<string>();
      const late: string[] = [];
      let expiredCount = 0;
      /** The nameplate of an unpaired offer of the last wave, claimed after its deadline. */
      let lastOffer: string | undefined;
      store.on('expired', (session: SessionRecord) => {
        expiredCount++;
        const at = due.get(session.id);
        if (at === undefined || destroyed.has(session.id)) {
          late.push(`${session.id}: expired twice, after destroy, or unknown`);
          return;
        }
        const lateBy = Date.now() - at;
        if (lateBy < 0 || lateBy > STEP_MS) late.push(`${session.id}: expired ${lateBy} ms after its deadline`);
        due.delete(session.id);
      });
      try {
        // The storm: waves of sessions a second apart, every 4th paired and established (its
        // deadline moves later), every 7th destroyed (its deadline leaves the middle of the queue).
        for (let wave = 0; wave < WAVES; wave++) {
          for (let i = 0; i < PER_WAVE; i++) {
            const agentKey = digest();
            const session = await store.create({ id: newSessionId(), agentKeyDigest: agentKey, keyExpiresAt, creator: actor });
            let record: SessionRecord | undefined = session;
            if (i % 4 === 0) {
              const clientKey = digest();
              await store.claim(session.nameplate!, { clientKeyDigest: () => clientKey, actor });
              await store.attach(session.id, 'agent', agentKey);
              await store.attach(session.id, 'client', clientKey);
              record = await store.establish(session.id);
              assert.equal(record?.state, 'established', `session ${wave}/${i} established`);
            }
            due.set(session.id, record.expiresAt);
            if (wave === WAVES - 1 && i === 1) lastOffer = session.nameplate;
            if (i % 7 === 3) {
              destroyed.add(session.id);
              due.delete(session.id);
              await store.destroy(session.id);
            }
          }
          mock.timers.tick(1_000);
        }
        const live = due.size;
        assert.ok(live > TOTAL / 2, `${live} live sessions`);
        // Past every unpaired deadline: only the established sessions are left.
        for (let moved = 0; moved <= policy.unpairedTtlMs; moved += STEP_MS) mock.timers.tick(STEP_MS);
        const established = [...due.values()].filter((at) => at > START + policy.unpairedTtlMs + WAVES * 1_000).length;
        assert.equal(due.size, established, 'every unpaired session expired, none established did');
        let counts = await store.counts();
        assert.deepEqual([counts.waiting, counts.claimed, counts.established], [0, 0, established]);
        // An expired nameplate is released: claiming it finds no waiting session.
        assert.ok(lastOffer !== undefined);
        await assert.rejects(store.claim(lastOffer, { clientKeyDigest: () => digest(), actor }), (err) => isKubepairError(err, 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN'));
        for (let moved = 0; moved <= policy.establishedLifetimeMs; moved += STEP_MS) mock.timers.tick(STEP_MS);
        assert.deepEqual(late, [], late.slice(0, 5).join('; '));
        assert.equal(due.size, 0, `${due.size} sessions never expired`);
        assert.equal(expiredCount, live, 'each expired once');
        counts = await store.counts();
        assert.deepEqual(counts, { waiting: 0, claimed: 0, established: 0, suspended: 0, resumable: 0, recreatedWaiting: 0 });
        // Their places are free again: the store takes a full load of new sessions.
        for (let i = 0; i < TOTAL; i++) await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt, creator: actor });
      } finally {
        await store.close();
      }
    });
  });
});
