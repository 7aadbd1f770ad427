/**
 * MemorySessionStore: atomic nameplate claims, attempt counting, session bounds, and expiry by
 * timers that `close()` leaves none of (docs/design.md §3, §8).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { MemorySessionStore } from '../../../src/relay/memory-session-store.js';
import { newSessionId } from '../../../src/relay/secrets.js';
import type { AttemptOutcome, SessionPolicy, SessionRecord } from '../../../src/relay/session-store.js';
import { SessionLimitError } from '../../../src/relay/session-store.js';

const POLICY: SessionPolicy = {
  unpairedTtlMs: 60_000,
  establishedLifetimeMs: 120_000,
  claimConnectTimeoutMs: 30_000,
  maxPairingAttempts: 5,
  maxSessions: 100,
  maxSessionsPerToken: 50,
  maxSessionsPerAddress: 50,
  nameplateQuarantineMs: 0,
  maxResumeWindowMs: 60_000,
  maxRecreatedWaiting: 10,
};

/** The key expiry written into test sessions (the store only keeps and reports it). */
const KEY_EXPIRY = Date.now() + 3_600_000;

const digest = (): Uint8Array => randomBytes(32);
const actor = { tokenName: 'agent-1', address: '127.0.0.1' };

async function withStore(policy: Partial<SessionPolicy>, body: (store: MemorySessionStore) => Promise<void>, now?: () => number): Promise<void> {
  const store = new MemorySessionStore({ ...POLICY, ...policy }, now);
  try {
    await body(store);
  } finally {
    await store.close();
  }
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

describe('MemorySessionStore', { timeout: 60_000 }, () => {
  it('creates sessions under the lowest free nameplate and frees it on destroy', async () => {
    await withStore({}, async (store) => {
      const a = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
      const b = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
      assert.deepEqual([a.nameplate, b.nameplate], ['1', '2']);
      assert.equal(a.state, 'waiting');
      assert.ok(Object.isFrozen(a), 'callers get frozen snapshots');
      await store.destroy(a.id);
      const c = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
      assert.equal(c.nameplate, '1');
      assert.equal(await store.destroy(a.id), undefined, 'destroying twice is a no-op');
    });
  });

  it('Security: a nameplate is claimed by exactly one client at a time', async () => {
    await withStore({}, async (store) => {
      const session = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
      const claims = await Promise.allSettled(Array.from({ length: 10 }, () => store.claim('1', { clientKeyDigest: () => digest(), actor })));
      assert.equal(claims.filter((c) => c.status === 'fulfilled').length, 1);
      for (const claim of claims.filter((c) => c.status === 'rejected')) {
        assert.ok(isKubepairError(claim.reason, 'KP_ERR_RELAY_NAMEPLATE_BUSY'));
      }
      assert.equal((await store.get(session.id))?.state, 'claimed');
      await assert.rejects(store.claim('2', { clientKeyDigest: () => digest(), actor }), (err) => isKubepairError(err, 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN'));
    });
  });

  it('Security: attach admits one socket per role, and a client only with the current claim', async () => {
    await withStore({}, async (store) => {
      const session = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
      assert.equal(await store.attach(session.id, 'agent'), 'attached');
      assert.equal(await store.attach(session.id, 'agent'), 'already_connected');
      const key = digest();
      assert.equal(await store.attach(session.id, 'client', key), 'gone', 'no claim yet');
      await store.claim('1', { clientKeyDigest: () => key, actor });
      assert.equal(await store.attach(session.id, 'client', digest()), 'gone', 'another key');
      assert.equal(await store.attach(session.id, 'client', key), 'attached');
      assert.equal(await store.attach(session.id, 'client', key), 'already_connected');
      await store.detach(session.id, 'agent');
      assert.equal(await store.attach(session.id, 'agent'), 'attached');
      assert.equal(await store.attach(newSessionId(), 'agent'), 'gone');
    });
  });

  it('counts each ended attempt once; the last allowed one destroys the session', async () => {
    await withStore({ maxPairingAttempts: 3 }, async (store) => {
      const session = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
      const outcomes: AttemptOutcome[] = [];
      for (let i = 1; i <= 3; i++) {
        const key = digest();
        await store.claim('1', { clientKeyDigest: () => key, actor });
        const outcome = await store.endAttempt(session.id, key, 'pake_failed');
        assert.ok(outcome);
        outcomes.push(outcome);
        assert.equal(await store.endAttempt(session.id, key, 'client_left'), undefined, `attempt ${i} counts once`);
      }
      assert.deepEqual(
        outcomes.map((o) => [o.attempts, o.destroyed, o.reason]),
        [
          [1, false, 'pake_failed'],
          [2, false, 'pake_failed'],
          [3, true, 'pake_failed'],
        ],
      );
      assert.equal(await store.get(session.id), undefined);
      await assert.rejects(store.claim('1', { clientKeyDigest: () => digest(), actor }), (err) => isKubepairError(err, 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN'));
    });
  });

  it('establish needs both sides connected; it frees the nameplate and switches to the established lifetime', async () => {
    await withStore({}, async (store) => {
      const session = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
      const key = digest();
      await store.claim('1', { clientKeyDigest: () => key, actor });
      assert.equal(await store.establish(session.id), undefined, 'nobody connected');
      await store.attach(session.id, 'agent');
      await store.attach(session.id, 'client', key);
      const established = await store.establish(session.id);
      assert.equal(established?.state, 'established');
      assert.equal(established?.nameplate, undefined);
      assert.ok((established?.expiresAt ?? 0) - Date.now() > POLICY.unpairedTtlMs, 'established lifetime');
      assert.equal(await store.establish(session.id), undefined, 'only once');
      assert.equal(await store.endAttempt(session.id, key, 'client_left'), undefined, 'no attempt after established');
      const next = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
      assert.equal(next.nameplate, '1', 'the nameplate was freed');
    });
  });

  it('Security: a freed nameplate is quarantined: a stale claim finds no session and costs the newer one nothing', async () => {
    let clock = 1_000_000;
    const quarantine = 10 * 60_000;
    await withStore(
      { nameplateQuarantineMs: quarantine },
      async (store) => {
        const expired = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
        const established = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
        assert.deepEqual([expired.nameplate, established.nameplate], ['1', '2']);
        await store.destroy(expired.id);
        const key = digest();
        await store.claim('2', { clientKeyDigest: () => key, actor });
        await store.attach(established.id, 'agent');
        await store.attach(established.id, 'client', key);
        await store.establish(established.id);
        clock += 60_000; // a minute later
        const newer = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
        assert.equal(newer.nameplate, '3', 'neither the destroyed session\'s 1 nor the established one\'s 2 is handed out');
        for (const stale of ['1', '2']) {
          await assert.rejects(
            store.claim(stale, { clientKeyDigest: () => digest(), actor }),
            (err) => isKubepairError(err, 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN') && /expired, was used already, or was mistyped/.test(err.message),
            `stale nameplate ${stale}`,
          );
        }
        assert.equal((await store.get(newer.id))?.attempts, 0, 'the stale codes cost the newer session nothing');
        assert.equal((await store.get(newer.id))?.state, 'waiting');
        clock += quarantine;
        const later = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
        assert.equal(later.nameplate, '1', 'after the quarantine the lowest number is handed out again');
      },
      () => clock,
    );
  });

  it('expires an unpaired session by timer and reports it', async () => {
    await withStore({ unpairedTtlMs: 30 }, async (store) => {
      const session = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
      const [expired] = (await once(store, 'expired')) as [SessionRecord];
      assert.equal(expired.id, session.id);
      assert.equal(expired.nameplate, '1', 'the event names the freed nameplate');
      assert.equal(await store.get(session.id), undefined);
      assert.deepEqual(await store.counts(), { waiting: 0, claimed: 0, established: 0, suspended: 0, resumable: 0, recreatedWaiting: 0 });
    });
  });

  it('ends a claim whose client never connects and counts the attempt', async () => {
    await withStore({ claimConnectTimeoutMs: 20 }, async (store) => {
      const session = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
      const key = digest();
      await store.claim('1', { clientKeyDigest: () => key, actor });
      const [outcome] = (await once(store, 'attemptEnded')) as [AttemptOutcome];
      assert.deepEqual([outcome.reason, outcome.attempts, outcome.destroyed], ['connect_timeout', 1, false]);
      assert.equal((await store.get(session.id))?.state, 'waiting');
      assert.equal(await store.attach(session.id, 'client', key), 'gone');
    });
  });

  it('a client that connects in time stops the claim timer', async () => {
    await withStore({ claimConnectTimeoutMs: 20 }, async (store) => {
      const session = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
      const key = digest();
      let ended = false;
      store.on('attemptEnded', () => (ended = true));
      await store.claim('1', { clientKeyDigest: () => key, actor });
      await store.attach(session.id, 'client', key);
      await new Promise((resolve) => setTimeout(resolve, 60));
      assert.equal(ended, false);
      assert.equal((await store.get(session.id))?.state, 'claimed');
    });
  });

  it('Security: bounds sessions in total, per token and per address', async () => {
    await withStore({ maxSessions: 4, maxSessionsPerToken: 2, maxSessionsPerAddress: 3 }, async (store) => {
      const make = (tokenName: string | null, address: string): Promise<SessionRecord> =>
        store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: { tokenName, address } });
      await make('a', '10.0.0.1');
      await make('a', '10.0.0.2');
      await assert.rejects(make('a', '10.0.0.3'), (err) => err instanceof SessionLimitError && err.limit === 'sessions_per_token' && err.code === 'KP_ERR_RELAY_SESSION_QUOTA');
      await make('b', '10.0.0.1');
      await make(null, '10.0.0.1');
      await assert.rejects(make('c', '10.0.0.9'), (err) => err instanceof SessionLimitError && err.limit === 'sessions_total' && err.code === 'KP_ERR_RELAY_CAPACITY');
    });
    await withStore({ maxSessionsPerAddress: 1 }, async (store) => {
      await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: { tokenName: null, address: '::1' } });
      await assert.rejects(
        store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: { tokenName: null, address: '::1' } }),
        (err) => err instanceof SessionLimitError && err.limit === 'sessions_per_address',
      );
    });
  });

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

  it('the claim\'s client key is made from the claimed session\'s id and key expiry', async () => {
    await withStore({}, async (store) => {
      const session = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
      const seen: Array<{ id: string; keyExpiresAt: number }> = [];
      const key = digest();
      await store.claim('1', { clientKeyDigest: (claimed) => (seen.push({ ...claimed }), key), actor });
      assert.deepEqual(seen, [{ id: session.id, keyExpiresAt: KEY_EXPIRY }]);
      assert.deepEqual(Buffer.from((await store.get(session.id))?.claim?.clientKeyDigest ?? []), key);
    });
  });

  describe('durable sessions (docs/design.md §8.1)', () => {
    /** An established session with both sides attached; returns its id and the client key digest. */
    async function established(store: MemorySessionStore): Promise<{ id: string; agentKey: Uint8Array; clientKey: Uint8Array }> {
      const agentKey = digest();
      const session = await store.create({ id: newSessionId(), agentKeyDigest: agentKey, keyExpiresAt: KEY_EXPIRY, creator: actor });
      const clientKey = digest();
      await store.claim(session.nameplate ?? '', { clientKeyDigest: () => clientKey, actor });
      await store.attach(session.id, 'agent', agentKey);
      await store.attach(session.id, 'client', clientKey);
      assert.ok(await store.establish(session.id));
      return { id: session.id, agentKey, clientKey };
    }

    it('without a resume window a dropped side is not suspended (the caller ends the session)', async () => {
      await withStore({}, async (store) => {
        const { id } = await established(store);
        assert.equal(await store.suspend(id, 'client'), undefined);
        const waiting = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
        assert.equal(await store.setResumeWindow(waiting.id, 10_000), undefined, 'no window before established');
        assert.equal(await store.suspend(waiting.id, 'agent'), undefined, 'no suspension before established');
      });
    });

    it('suspend starts the resume deadline; the side attaching again ends the suspension; replaced only after established', async () => {
      await withStore({}, async (store) => {
        const { id, clientKey } = await established(store);
        const granted = await store.setResumeWindow(id, 10 * 60_000);
        assert.equal(granted?.resumeWindowMs, POLICY.maxResumeWindowMs, 'capped by the maximum');
        assert.equal(await store.attach(id, 'client', clientKey), 'replaced', 'a newer socket of a connected side takes over');
        const before = Date.now();
        const suspended = await store.suspend(id, 'client');
        assert.ok(suspended?.resumeBy !== undefined && suspended.resumeBy >= before + POLICY.maxResumeWindowMs && suspended.resumeBy <= Date.now() + POLICY.maxResumeWindowMs);
        assert.equal(suspended.connected.client, false);
        assert.equal((await store.counts()).suspended, 1);
        const firstDeadline = suspended.resumeBy;
        const both = await store.suspend(id, 'agent');
        assert.equal(both?.resumeBy, firstDeadline, 'a second side going away does not extend the deadline');
        assert.equal(await store.attach(id, 'client', digest()), 'gone', 'only the session\'s client key resumes');
        assert.equal(await store.attach(id, 'client', clientKey), 'attached');
        assert.equal((await store.get(id))?.resumeBy, firstDeadline, 'still suspended: the agent is away');
        assert.equal(await store.attach(id, 'agent'), 'attached');
        const resumed = await store.get(id);
        assert.equal(resumed?.resumeBy, undefined);
        assert.deepEqual(resumed?.connected, { agent: true, client: true });
        assert.equal((await store.counts()).suspended, 0);
      });
    });

    it('the deadline passing removes the session and reports resumeExpired; it never outlives the session', async () => {
      await withStore({ establishedLifetimeMs: 150, maxResumeWindowMs: 60_000 }, async (store) => {
        const { id } = await established(store);
        await store.setResumeWindow(id, 60_000);
        const suspended = await store.suspend(id, 'client');
        assert.ok(suspended?.resumeBy !== undefined && suspended.resumeBy <= suspended.expiresAt, 'capped by the session\'s end');
        const ended = await Promise.race([once(store, 'expired'), once(store, 'resumeExpired')]);
        assert.equal((ended[0] as SessionRecord).id, id, 'the session ended at its end of life, not later');
        assert.equal(await store.get(id), undefined);
      });
      await withStore({ maxResumeWindowMs: 50 }, async (store) => {
        const { id } = await established(store);
        await store.setResumeWindow(id, 50);
        const expired = once(store, 'expired');
        await store.suspend(id, 'agent');
        const [ended] = (await once(store, 'resumeExpired')) as [SessionRecord];
        assert.equal(ended.id, id);
        assert.equal(await Promise.race([expired.then(() => 'expired'), new Promise((resolve) => setTimeout(() => resolve('only resumeExpired'), 100))]), 'only resumeExpired');
      });
    });

    it('recreate rebuilds an established session waiting for both sides, adopting each side\'s first key', async () => {
      await withStore({}, async (store) => {
        const id = newSessionId();
        const agentKey = digest();
        const { session, created } = await store.recreate({ id, role: 'agent', keyExpiresAt: Date.now() + 3_600_000, keyDigest: agentKey, actor: { tokenName: null, address: '10.0.0.1' } });
        assert.equal(created, true);
        assert.equal(session.state, 'established');
        assert.equal(session.nameplate, undefined);
        assert.equal(session.recreated, true);
        assert.ok(session.resumeBy !== undefined && session.resumeBy <= Date.now() + POLICY.maxResumeWindowMs);
        assert.ok(session.expiresAt <= Date.now() + POLICY.establishedLifetimeMs, 'never longer than a lifetime granted now');
        assert.equal((await store.recreate({ id, role: 'client', keyExpiresAt: 0, keyDigest: digest(), actor })).created, false, 'the second side finds it');
        assert.equal(await store.attach(id, 'agent', digest()), 'gone', 'the agent key was adopted from the recreation');
        assert.equal(await store.attach(id, 'agent', agentKey), 'attached');
        const clientKey = digest();
        assert.equal(await store.attach(id, 'client', clientKey), 'attached', 'the first client key is adopted');
        assert.equal(await store.attach(id, 'client', digest()), 'gone', 'and then it is the only one');
        assert.deepEqual(await store.counts(), { waiting: 0, claimed: 0, established: 1, suspended: 0, resumable: 1, recreatedWaiting: 0 });
      });
    });

    it('Security: recreated sessions waiting for a side are bounded, and count towards the session bound', async () => {
      await withStore({ maxRecreatedWaiting: 3, maxSessions: 5 }, async (store) => {
        const recreate = (): Promise<unknown> =>
          store.recreate({ id: newSessionId(), role: 'agent', keyExpiresAt: Date.now() + 3_600_000, keyDigest: digest(), actor });
        for (let i = 0; i < 3; i++) await recreate();
        await assert.rejects(recreate(), (err) => err instanceof SessionLimitError && err.limit === 'recreated_waiting' && err.code === 'KP_ERR_RELAY_CAPACITY');
        assert.equal((await store.counts()).recreatedWaiting, 3);
        await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
        await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
        await assert.rejects(store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor }), (err) => err instanceof SessionLimitError && err.limit === 'sessions_total');
      });
      await withStore({ maxResumeWindowMs: 30, maxRecreatedWaiting: 1 }, async (store) => {
        await store.recreate({ id: newSessionId(), role: 'client', keyExpiresAt: Date.now() + 3_600_000, keyDigest: digest(), actor });
        await once(store, 'resumeExpired');
        assert.equal((await store.counts()).recreatedWaiting, 0, 'an expired recreation frees its place');
        await store.recreate({ id: newSessionId(), role: 'client', keyExpiresAt: Date.now() + 3_600_000, keyDigest: digest(), actor });
      });
    });

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
