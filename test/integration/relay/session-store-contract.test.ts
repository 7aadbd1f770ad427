/**
 * The SessionStore contract (src/relay/session-store.ts; docs/design.md §3, §8): one suite run
 * against every store — the memory store and the Redis store on a real redis-server started here
 * (127.0.0.1, a free port, no persistence, stopped by pid) — so both keep the same promises:
 * lowest free nameplates with the quarantine, one claim per nameplate, one socket per role, one
 * counted failure per attempt, the session bounds, expiry reported as events, suspension and
 * recreation. The Redis store gets a fresh key prefix per test.
 *
 * Then what only a shared store must hold: two store instances ("two relay nodes") on one Redis
 * hand out distinct lowest-free nameplates to 200 concurrent sessions, exactly one of two claims
 * of one nameplate wins, the bounds hold for the two together, each deadline is processed once
 * (and by the surviving node when the other is gone), and a socket's end on one node does not
 * undo a newer socket's attach on the other.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { MemorySessionStore } from '../../../src/relay/memory-session-store.js';
import { RedisSessionStore } from '../../../src/relay/redis-session-store.js';
import { newSessionId } from '../../../src/relay/secrets.js';
import { newAttachmentTag } from '../../../src/relay/attachment-tag.js';
import { createClient } from '@redis/client';
import type { AttemptOutcome, NodeSweepReport, SessionEndedElsewhere, SessionPolicy, SessionRecord, SessionStore } from '../../../src/relay/session-store.js';
import { SessionLimitError } from '../../../src/relay/session-store.js';
import { startRedis } from '../../helpers/redis-server.js';
import type { TestRedis } from '../../helpers/redis-server.js';
import { within } from '../../helpers/wait-until.js';
import { TEST_KEY_EXPIRY, TEST_SESSION_POLICY, actor, digest } from '../../helpers/session-store-fixture.js';

const POLICY = TEST_SESSION_POLICY;
const KEY_EXPIRY = TEST_KEY_EXPIRY;

/** A fresh session claimed by a new client key; every attempt that ends is collected in `outcomes`. */
async function claimedSession(store: SessionStore): Promise<{ session: SessionRecord; key: Uint8Array; outcomes: AttemptOutcome[]; connectBy: number }> {
  const session = await store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor });
  const key = digest();
  const outcomes: AttemptOutcome[] = [];
  store.on('attemptEnded', (outcome) => outcomes.push(outcome));
  const claimed = await store.claim('1', { clientKeyDigest: () => key, actor });
  return { session, key, outcomes, connectBy: claimed.claim?.connectBy ?? 0 };
}

/** How a test gets a fresh, empty store of one kind. */
interface StoreKind {
  readonly name: string;
  open(policy: SessionPolicy, now?: () => number): Promise<SessionStore>;
}

let redis: TestRedis | undefined;
let prefixes = 0;

/** A fresh key prefix: a new, empty store on the same Redis. */
function freshPrefix(): string {
  prefixes++;
  return `kubepair-test-${process.pid}-${prefixes}:`;
}

function openRedisStore(policy: SessionPolicy, prefix: string, now?: () => number): Promise<RedisSessionStore> {
  if (redis === undefined) throw new Error('redis-server is not running');
  return RedisSessionStore.open({ url: redis.url, keyPrefix: prefix, policy, ...(now === undefined ? {} : { now }) });
}

const KINDS: readonly StoreKind[] = [
  { name: 'memory', open: (policy, now) => Promise.resolve(new MemorySessionStore(policy, now)) },
  { name: 'redis', open: (policy, now) => openRedisStore(policy, freshPrefix(), now) },
];

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

for (const kind of KINDS) {
  async function withStore(policy: Partial<SessionPolicy>, body: (store: SessionStore) => Promise<void>, now?: () => number): Promise<void> {
    const store = await kind.open({ ...POLICY, ...policy }, now);
    try {
      await body(store);
    } finally {
      await store.close();
    }
  }

  describe(`SessionStore contract: ${kind.name}`, { timeout: 60_000 }, () => {
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
        assert.equal((await store.attach(session.id, 'agent')).result, 'attached');
        assert.equal((await store.attach(session.id, 'agent')).result, 'already_connected');
        const key = digest();
        assert.equal((await store.attach(session.id, 'client', key)).result, 'gone', 'no claim yet');
        await store.claim('1', { clientKeyDigest: () => key, actor });
        assert.equal((await store.attach(session.id, 'client', digest())).result, 'gone', 'another key');
        assert.equal((await store.attach(session.id, 'client', key)).result, 'attached');
        assert.equal((await store.attach(session.id, 'client', key)).result, 'already_connected');
        await store.detach(session.id, 'agent');
        assert.equal((await store.attach(session.id, 'agent')).result, 'attached');
        assert.equal((await store.attach(newSessionId(), 'agent')).result, 'gone');
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
        assert.equal((await store.attach(session.id, 'client', key)).result, 'gone');
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

    it('a client handed over to another node runs its claim timeout again: leaving before it attaches there is timed out and counted once', async () => {
      await withStore({ claimConnectTimeoutMs: 200 }, async (store) => {
        const { session, key, outcomes, connectBy } = await claimedSession(store);
        // Its first socket attaches (the timer stops), then moves on (session-broker.ts #moveOn) and ends on the way.
        await store.attach(session.id, 'client', key, 'client-on-a');
        assert.equal(await store.detach(session.id, 'client', 'client-on-a', true), 'detached');
        const [outcome] = (await within(5_000, 'the claim timed out', once(store, 'attemptEnded'))) as [AttemptOutcome];
        assert.ok(Date.now() >= connectBy - 50, 'not before the claim\'s own deadline');
        assert.deepEqual([outcome.reason, outcome.attempts, outcome.destroyed], ['connect_timeout', 1, false]);
        const after = await store.get(session.id);
        assert.deepEqual([after?.state, after?.claim, after?.attempts], ['waiting', undefined, 1]);
        assert.equal((await store.attach(session.id, 'client', key)).result, 'gone', 'the old claim cannot come back');
        assert.equal(await store.endAttempt(session.id, key, 'client_left'), undefined, 'counted once');
        assert.equal(outcomes.length, 1);
        // A plain detach (the broker counts the attempt itself right after) leaves the timer stopped;
        // a handed-over client attaching on its new node stops it again.
        const second = digest();
        await store.claim('1', { clientKeyDigest: () => second, actor });
        await store.attach(session.id, 'client', second, 'client-2-on-a');
        assert.equal(await store.detach(session.id, 'client', 'client-2-on-a', true), 'detached');
        assert.equal((await store.attach(session.id, 'client', second, 'client-2-on-b')).result, 'attached');
        await new Promise((resolve) => setTimeout(resolve, 400));
        assert.equal(outcomes.length, 1, 'attached on the new node: not timed out');
        assert.equal((await store.get(session.id))?.state, 'claimed');
        assert.equal(await store.detach(session.id, 'client', 'client-2-on-b'), 'detached');
        await new Promise((resolve) => setTimeout(resolve, 400));
        assert.equal(outcomes.length, 1, 'a plain detach does not time the claim out');
        assert.equal((await store.endAttempt(session.id, second, 'client_left'))?.attempts, 2);
      });
    });

    it('a client found gone after its claim\'s deadline (its node died) is timed out at once, not given a new deadline', async () => {
      await withStore({ claimConnectTimeoutMs: 2_000 }, async (store) => {
        const { session, key, outcomes, connectBy } = await claimedSession(store);
        await store.attach(session.id, 'client', key, 'client-on-dead-node');
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, connectBy - Date.now()) + 200));
        assert.equal(outcomes.length, 0, 'attached: its deadline does not run');
        // The dead node's cleanup (upgrade-handler.ts) after the claim's deadline.
        const cleared = Date.now();
        assert.equal(await store.detach(session.id, 'client', 'client-on-dead-node', true), 'detached');
        const [outcome] = (await within(5_000, 'the claim timed out', once(store, 'attemptEnded'))) as [AttemptOutcome];
        assert.ok(Date.now() - cleared < 1_500, 'at once: the claim\'s own deadline had passed, no new one');
        assert.deepEqual([outcome.reason, outcome.attempts, outcome.destroyed], ['connect_timeout', 1, false]);
        assert.deepEqual([(await store.get(session.id))?.state, outcomes.length], ['waiting', 1]);
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
      async function established(store: SessionStore): Promise<{ id: string; agentKey: Uint8Array; clientKey: Uint8Array }> {
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
          assert.equal((await store.attach(id, 'client', clientKey)).result, 'replaced', 'a newer socket of a connected side takes over');
          const before = Date.now();
          const suspended = await store.suspend(id, 'client');
          assert.ok(suspended?.resumeBy !== undefined && suspended.resumeBy >= before + POLICY.maxResumeWindowMs && suspended.resumeBy <= Date.now() + POLICY.maxResumeWindowMs);
          assert.equal(suspended.connected.client, false);
          assert.equal((await store.counts()).suspended, 1);
          const firstDeadline = suspended.resumeBy;
          const both = await store.suspend(id, 'agent');
          assert.equal(both?.resumeBy, firstDeadline, 'a second side going away does not extend the deadline');
          assert.equal((await store.attach(id, 'client', digest())).result, 'gone', 'only the session\'s client key resumes');
          assert.equal((await store.attach(id, 'client', clientKey)).result, 'attached');
          assert.equal((await store.get(id))?.resumeBy, firstDeadline, 'still suspended: the agent is away');
          assert.equal((await store.attach(id, 'agent')).result, 'attached');
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
          assert.equal((await store.attach(id, 'agent', digest())).result, 'gone', 'the agent key was adopted from the recreation');
          assert.equal((await store.attach(id, 'agent', agentKey)).result, 'attached');
          const clientKey = digest();
          assert.equal((await store.attach(id, 'client', clientKey)).result, 'attached', 'the first client key is adopted');
          assert.equal((await store.attach(id, 'client', digest())).result, 'gone', 'and then it is the only one');
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

    });

    it('refuses work after close()', async () => {
      const store = await kind.open(POLICY);
      await store.close();
      await assert.rejects(store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator: actor }), (err) => isKubepairError(err, 'KP_ERR_RELAY_SHUTTING_DOWN'));
    });

    it('a suspend or detach with a socket\'s old attachment tag changes nothing once a newer socket attached', async () => {
      await withStore({}, async (store) => {
        const agentKey = digest();
        const session = await store.create({ id: newSessionId(), agentKeyDigest: agentKey, keyExpiresAt: KEY_EXPIRY, creator: actor });
        const clientKey = digest();
        await store.claim('1', { clientKeyDigest: () => clientKey, actor });
        assert.equal((await store.attach(session.id, 'agent', agentKey, 'agent-socket-1')).result, 'attached');
        assert.equal((await store.attach(session.id, 'client', clientKey, 'client-socket-1')).result, 'attached');
        assert.deepEqual((await store.get(session.id))?.attachments, { agent: 'agent-socket-1', client: 'client-socket-1' }, 'the record names each side\'s current socket');
        assert.equal(await store.detach(session.id, 'client', 'client-socket-0'), 'stale');
        assert.equal((await store.get(session.id))?.connected.client, true, 'a detach with a tag that never attached is ignored');
        assert.ok(await store.establish(session.id));
        await store.setResumeWindow(session.id, 60_000);
        assert.equal((await store.attach(session.id, 'client', clientKey, 'client-socket-2')).result, 'replaced');
        const stale = await store.suspend(session.id, 'client', 'client-socket-1');
        assert.ok(stale !== undefined && stale.resumeBy === undefined, 'the older socket\'s end starts no suspension');
        assert.equal(stale.connected.client, true);
        assert.equal(stale.attachments.client, 'client-socket-2', 'the newer socket is the current attachment');
        assert.equal(await store.detach(session.id, 'client', 'client-socket-1'), 'stale');
        assert.equal((await store.get(session.id))?.connected.client, true, 'nor does its detach');
        const current = await store.suspend(session.id, 'client', 'client-socket-2');
        assert.ok(current?.resumeBy !== undefined, 'the current socket\'s end suspends');
        assert.equal(current.connected.client, false);
        assert.equal(current.attachments.client, 'client-socket-2', 'a suspended side still names the socket (and node) that had it last');
      });
    });

    it('attach answers the other side\'s attachment as it stood at the same atomic step', async () => {
      await withStore({}, async (store) => {
        const agentKey = digest();
        const session = await store.create({ id: newSessionId(), agentKeyDigest: agentKey, keyExpiresAt: KEY_EXPIRY, creator: actor });
        const clientKey = digest();
        await store.claim('1', { clientKeyDigest: () => clientKey, actor });
        assert.deepEqual(await store.attach(session.id, 'agent', agentKey, 'agent-1'), { result: 'attached', otherTag: '' }, 'the client is not connected yet');
        assert.deepEqual(await store.attach(session.id, 'client', clientKey, 'client-1'), { result: 'attached', otherTag: 'agent-1' });
        assert.deepEqual(await store.attach(session.id, 'agent', agentKey, 'agent-x'), { result: 'already_connected', otherTag: 'client-1' });
        assert.ok(await store.establish(session.id));
        await store.setResumeWindow(session.id, 60_000);
        await store.suspend(session.id, 'client', 'client-1');
        assert.deepEqual(await store.attach(session.id, 'agent', agentKey, 'agent-2'), { result: 'replaced', otherTag: '' }, 'a suspended side is not connected, though the record still names its last socket');
        assert.deepEqual(await store.attach(session.id, 'client', clientKey, 'client-2'), { result: 'attached', otherTag: 'agent-2' }, 'the agent\'s newer socket');
        assert.deepEqual(await store.attach(session.id, 'client', digest(), 'client-3'), { result: 'gone', otherTag: '' });
        assert.deepEqual(await store.attach(newSessionId(), 'agent'), { result: 'gone', otherTag: '' });
      });
    });

    it('a node never sweeps its own sessions (the memory store\'s only node; a Redis node even with no lease of its own)', async () => {
      await withStore({}, async (store) => {
        const self = 'http://127.0.0.1:7';
        const agentKey = digest();
        const session = await store.create({ id: newSessionId(), agentKeyDigest: agentKey, keyExpiresAt: KEY_EXPIRY, creator: actor });
        await store.attach(session.id, 'agent', agentKey, newAttachmentTag(self));
        assert.deepEqual(await store.leaselessNodes(self), []);
        assert.deepEqual(await store.sweepDeadNodes(self, 100), []);
        const after = await store.get(session.id);
        assert.deepEqual([after?.state, after?.connected.agent], ['waiting', true]);
      });
    });
  });
}

describe('SessionStore on Redis: two relay nodes share one store', { timeout: 120_000 }, () => {
  /** Two stores on one Redis and one key prefix: two relay nodes of one cluster. */
  async function withNodes(policy: Partial<SessionPolicy>, body: (a: RedisSessionStore, b: RedisSessionStore, prefix: string) => Promise<void>): Promise<void> {
    const prefix = freshPrefix();
    const a = await openRedisStore({ ...POLICY, ...policy }, prefix);
    try {
      const b = await openRedisStore({ ...POLICY, ...policy }, prefix);
      try {
        await body(a, b, prefix);
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
    }
  }

  const create = (store: SessionStore, creator = actor): Promise<SessionRecord> =>
    store.create({ id: newSessionId(), agentKeyDigest: digest(), keyExpiresAt: KEY_EXPIRY, creator });

  it('Security: 200 sessions created at once on two nodes get 200 distinct nameplates, the lowest free ones', async () => {
    await withNodes({ maxSessions: 1000, maxSessionsPerToken: 1000, maxSessionsPerAddress: 1000 }, async (a, b) => {
      const created = await Promise.all(Array.from({ length: 200 }, (_, i) => create(i % 2 === 0 ? a : b)));
      const nameplates = created.map((session) => Number(session.nameplate)).sort((x, y) => x - y);
      assert.deepEqual(nameplates, Array.from({ length: 200 }, (_, i) => i + 1), 'exactly 1..200, none twice');
      await Promise.all(created.filter((_, i) => i % 10 === 0).map((session, i) => (i % 2 === 0 ? a : b).destroy(session.id)));
      const again = await Promise.all(Array.from({ length: 20 }, (_, i) => create(i % 2 === 0 ? b : a)));
      assert.deepEqual(
        again.map((session) => Number(session.nameplate)).sort((x, y) => x - y),
        created.filter((_, i) => i % 10 === 0).map((session) => Number(session.nameplate)).sort((x, y) => x - y),
        'the freed nameplates are handed out again, whichever node freed them',
      );
    });
  });

  it('Security: two claims of one nameplate from two nodes: exactly one wins, the other is BUSY', async () => {
    await withNodes({}, async (a, b) => {
      for (let round = 0; round < 20; round++) {
        const session = await create(round % 2 === 0 ? a : b);
        const nameplate = session.nameplate ?? '';
        const claims = await Promise.allSettled([a, b, a, b].map((node) => node.claim(nameplate, { clientKeyDigest: () => digest(), actor })));
        const won = claims.filter((claim) => claim.status === 'fulfilled');
        assert.equal(won.length, 1, `round ${round}: one winner`);
        for (const claim of claims) {
          if (claim.status === 'rejected') assert.ok(isKubepairError(claim.reason, 'KP_ERR_RELAY_NAMEPLATE_BUSY'), `round ${round}: ${String(claim.reason)}`);
        }
        await a.destroy(session.id);
      }
    });
  });

  it('Security: the session bounds hold for the two nodes together', async () => {
    await withNodes({ maxSessions: 10, maxSessionsPerToken: 50, maxSessionsPerAddress: 50 }, async (a, b) => {
      const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => create(i % 2 === 0 ? a : b, { tokenName: `t${i}`, address: `10.0.0.${i}` })));
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 10, 'total');
      for (const result of results) {
        if (result.status === 'rejected') assert.ok(result.reason instanceof SessionLimitError && result.reason.limit === 'sessions_total', String(result.reason));
      }
    });
    await withNodes({ maxSessionsPerToken: 3, maxSessionsPerAddress: 50 }, async (a, b) => {
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => create(i % 2 === 0 ? a : b, { tokenName: 'shared', address: `10.0.1.${i}` })));
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 3, 'per token');
    });
    await withNodes({ maxSessionsPerToken: 50, maxSessionsPerAddress: 4 }, async (a, b) => {
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => create(i % 2 === 0 ? a : b, { tokenName: `t${i}`, address: '192.0.2.7' })));
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 4, 'per address');
    });
  });

  it('each deadline is processed once for the cluster, and by a surviving node when its creator is gone', async () => {
    await withNodes({ unpairedTtlMs: 200 }, async (a, b) => {
      const seen: string[] = [];
      a.on('expired', (session) => seen.push(`a:${session.id}`));
      b.on('expired', (session) => seen.push(`b:${session.id}`));
      const session = await create(a);
      const expired = Promise.race([once(a, 'expired'), once(b, 'expired')]);
      await within(10_000, 'the session to expire', expired);
      const later = await create(b);
      await within(10_000, 'the second session to expire', new Promise((resolve) => (seen.length >= 2 ? resolve(undefined) : (a.once('expired', resolve), b.once('expired', resolve)))));
      assert.equal(seen.filter((entry) => entry.endsWith(session.id)).length, 1, `one expiry event for the first session: ${seen.join(' ')}`);
      assert.equal(seen.filter((entry) => entry.endsWith(later.id)).length, 1, `one for the second: ${seen.join(' ')}`);
    });
    const prefix = freshPrefix();
    const creator = await openRedisStore({ ...POLICY, unpairedTtlMs: 300 }, prefix);
    const survivor = await openRedisStore({ ...POLICY, unpairedTtlMs: 300 }, prefix);
    try {
      const expired = once(survivor, 'expired');
      const session = await create(creator);
      await creator.close();
      const [record] = (await within(10_000, 'the surviving node to expire the session', expired)) as [SessionRecord];
      assert.equal(record.id, session.id);
      assert.equal(await survivor.get(session.id), undefined);
    } finally {
      await creator.close();
      await survivor.close();
    }
  });

  it('two sides attaching at the same moment on two nodes: exactly one of them sees the other (20 rounds)', async () => {
    await withNodes({}, async (a, b) => {
      for (let round = 0; round < 20; round++) {
        const agentKey = digest();
        const session = await a.create({ id: newSessionId(), agentKeyDigest: agentKey, keyExpiresAt: KEY_EXPIRY, creator: actor });
        const clientKey = digest();
        await b.claim(session.nameplate ?? '', { clientKeyDigest: () => clientKey, actor });
        const [agent, client] = await Promise.all([a.attach(session.id, 'agent', agentKey, `agent-on-a-${round}`), b.attach(session.id, 'client', clientKey, `client-on-b-${round}`)]);
        assert.equal(agent.result, 'attached');
        assert.equal(client.result, 'attached');
        const seen = [agent.otherTag, client.otherTag].filter((tag) => tag !== '');
        assert.equal(seen.length, 1, `round ${round}: the later attach sees the earlier, the earlier sees nothing (${JSON.stringify([agent, client])})`);
        assert.ok(agent.otherTag === `client-on-b-${round}` || client.otherTag === `agent-on-a-${round}`);
        await a.destroy(session.id);
      }
    });
  });

  it('a socket\'s end on one node does not undo a newer socket of the same side on the other', async () => {
    await withNodes({}, async (a, b) => {
      const agentKey = digest();
      const session = await a.create({ id: newSessionId(), agentKeyDigest: agentKey, keyExpiresAt: KEY_EXPIRY, creator: actor });
      const clientKey = digest();
      await b.claim(session.nameplate ?? '', { clientKeyDigest: () => clientKey, actor });
      await a.attach(session.id, 'agent', agentKey, 'agent-on-a');
      await b.attach(session.id, 'client', clientKey, 'client-on-b');
      assert.ok(await a.establish(session.id));
      await a.setResumeWindow(session.id, 60_000);
      // The agent's carrier moves to node b; node a sees its old socket end only afterwards.
      assert.equal((await b.attach(session.id, 'agent', agentKey, 'agent-on-b')).result, 'replaced');
      const stale = await a.suspend(session.id, 'agent', 'agent-on-a');
      assert.ok(stale !== undefined && stale.resumeBy === undefined && stale.connected.agent, 'the old socket\'s end is ignored');
      assert.equal(await a.detach(session.id, 'agent', 'agent-on-a'), 'stale', 'node a learns its socket is no longer the side\'s');
      assert.equal((await b.get(session.id))?.connected.agent, true);
      assert.deepEqual((await a.get(session.id))?.attachments, { agent: 'agent-on-b', client: 'client-on-b' }, 'either node sees where each side is now');
    });
  });

  describe('the sweep of dead nodes\' sessions (docs/design.md §8.2 "Dead nodes")', () => {
    const DEAD = 'http://127.0.0.1:9';
    const LIVE = 'http://127.0.0.1:8';

    /** Node `node`'s lease in `<prefix>cn:nodes` (redis-limits.ts), ending `ms` from now by Redis's clock. */
    async function lease(prefix: string, node: string, ms: number): Promise<void> {
      const client = createClient({ url: redis?.url ?? '' });
      client.on('error', () => undefined);
      await client.connect();
      try {
        const [seconds, micros] = await client.sendCommand<[string, string]>(['TIME']);
        await client.sendCommand(['ZADD', `${prefix}cn:nodes`, String(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + ms), node]);
      } finally {
        await client.close();
      }
    }

    async function indexed(prefix: string): Promise<{ nodes: string[]; dead: string[] }> {
      const client = createClient({ url: redis?.url ?? '' });
      client.on('error', () => undefined);
      await client.connect();
      try {
        const nodes = (await client.sendCommand<string[]>(['SMEMBERS', `${prefix}nd:nodes`])).sort();
        const dead = (await client.sendCommand<string[]>(['SMEMBERS', `${prefix}nd:${DEAD}`])).sort();
        return { nodes, dead };
      } finally {
        await client.close();
      }
    }

    /** A session with its agent (and, when `client`, a claimed client) attached with tags naming those nodes; established with a window when asked. */
    async function session(store: SessionStore, agentOn: string, clientOn: string | undefined, established: 'no' | 'window' | 'no_window'): Promise<{ id: string; nameplate: string; clientKey: Uint8Array }> {
      const agentKey = digest();
      const created = await store.create({ id: newSessionId(), agentKeyDigest: agentKey, keyExpiresAt: KEY_EXPIRY, creator: actor });
      const clientKey = digest();
      if (clientOn !== undefined) await store.claim(created.nameplate ?? '', { clientKeyDigest: () => clientKey, actor });
      await store.attach(created.id, 'agent', agentKey, newAttachmentTag(agentOn));
      if (clientOn !== undefined) await store.attach(created.id, 'client', clientKey, newAttachmentTag(clientOn));
      if (established !== 'no') {
        assert.ok(await store.establish(created.id));
        if (established === 'window') await store.setResumeWindow(created.id, 60_000);
      }
      return { id: created.id, nameplate: created.nameplate ?? '', clientKey };
    }

    function total(reports: readonly NodeSweepReport[]): { suspended: number; released: number; ended: string[] } {
      return {
        suspended: reports.reduce((sum, r) => sum + r.suspended, 0),
        released: reports.reduce((sum, r) => sum + r.released, 0),
        ended: reports.flatMap((r) => r.ended.map((end) => `${end.id}:${end.reason}`)),
      };
    }

    it('Security: the sessions of a node whose lease ended get what their sockets\' end would have brought; a node holding its lease and the sweeping node itself are left alone', async () => {
      const prefix = freshPrefix();
      const self = 'http://127.0.0.1:7';
      const store = await openRedisStore({ ...POLICY, claimConnectTimeoutMs: 1_500 }, prefix);
      try {
        await lease(prefix, LIVE, 60_000);
        await lease(prefix, DEAD, -1); // ended a moment ago
        const ends: SessionEndedElsewhere[] = [];
        store.on('endedElsewhere', (ended) => ends.push(ended));
        const outcomes: AttemptOutcome[] = [];
        store.on('attemptEnded', (outcome) => outcomes.push(outcome));
        const durable = await session(store, DEAD, DEAD, 'window');
        const noWindow = await session(store, DEAD, DEAD, 'no_window');
        const pairingAgent = await session(store, DEAD, undefined, 'no');
        // A claimed client on the dead node, its agent on a live one (as after a concurrent attach).
        const claimed = await session(store, LIVE, DEAD, 'no');
        const connectBy = (await store.get(claimed.id))?.claim?.connectBy;
        const onLive = await session(store, LIVE, LIVE, 'window');
        const onSelf = await session(store, self, self, 'window');
        // A side that moved from the dead node to a live one before it died: no longer the dead node's.
        const moved = await session(store, DEAD, LIVE, 'window');
        const movedAgent = await store.get(moved.id);
        assert.equal((await store.attach(moved.id, 'agent', undefined, newAttachmentTag(LIVE))).result, 'replaced');
        assert.ok(movedAgent?.attachments.agent.startsWith(`${DEAD} `));
        assert.deepEqual(await indexed(prefix), { nodes: [LIVE, DEAD, self].sort(), dead: [durable.id, noWindow.id, pairingAgent.id, claimed.id].sort() });

        // What the sweep watches first: the dead node alone (not the live one, not itself).
        assert.deepEqual(await store.leaselessNodes(self), [DEAD]);
        assert.deepEqual(await store.sweepDeadNodes(self, 100, [LIVE]), [], 'with `only`, no other node is swept');
        assert.deepEqual(await indexed(prefix), { nodes: [LIVE, DEAD, self].sort(), dead: [durable.id, noWindow.id, pairingAgent.id, claimed.id].sort() });

        const before = Date.now();
        const reports = await store.sweepDeadNodes(self, 100, [DEAD]);
        assert.deepEqual(reports.map((r) => [r.node, r.suspended, r.released, r.left]), [[DEAD, 2, 1, 0]], 'only the dead node, not the live one nor the sweeping one');
        assert.deepEqual(total(reports).ended.sort(), [`${noWindow.id}:agent_left`, `${pairingAgent.id}:agent_left`].sort());

        const suspended = await store.get(durable.id);
        assert.deepEqual([suspended?.state, suspended?.connected], ['established', { agent: false, client: false }], 'both sides suspended');
        assert.ok(suspended?.resumeBy !== undefined && suspended.resumeBy >= before + 60_000 && suspended.resumeBy <= Date.now() + 60_000, 'its resume window runs from the sweep');
        assert.equal(await store.get(noWindow.id), undefined, 'without a resume window the session ends, as when a side leaves');
        assert.equal(await store.get(pairingAgent.id), undefined, 'a pairing agent gone with its node: the offer is withdrawn');
        await assert.rejects(store.claim(pairingAgent.nameplate, { clientKeyDigest: () => digest(), actor }), (err) => isKubepairError(err, 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN'));
        const released = await store.get(claimed.id);
        assert.deepEqual([released?.state, released?.connected, released?.claim?.connectBy], ['claimed', { agent: true, client: false }, connectBy], 'the client marked gone, its claim\'s deadline unchanged');
        for (const id of [onLive.id, onSelf.id, moved.id]) assert.deepEqual((await store.get(id))?.connected, { agent: true, client: true }, 'not on the dead node: untouched');
        assert.deepEqual((await indexed(prefix)).dead, [], 'the dead node\'s index is empty');
        assert.deepEqual((await indexed(prefix)).nodes, [LIVE, self].sort());
        await within(5_000, 'the ends announced to every node, the sweeping one too', new Promise<void>((resolve) => {
          const check = (): void => (ends.length >= 2 ? resolve() : void setTimeout(check, 20));
          check();
        }));
        assert.deepEqual(ends.map((end) => [end.id, end.why]).sort(), [[noWindow.id, 'destroyed'], [pairingAgent.id, 'destroyed']].sort());

        // The released claim times out at its own deadline and counts once.
        await within(5_000, 'the released claim to time out', new Promise<void>((resolve) => {
          const check = (): void => (outcomes.length >= 1 ? resolve() : void setTimeout(check, 20));
          check();
        }));
        assert.ok(Date.now() >= (connectBy ?? 0) - 50, 'at its deadline, not before');
        assert.deepEqual(outcomes.map((o) => [o.session.id, o.reason, o.attempts]), [[claimed.id, 'connect_timeout', 1]]);
        assert.deepEqual(await store.sweepDeadNodes(self, 100), [], 'nothing left to sweep: a second sweep changes nothing');
        // The live node's lease ends too: now it is swept.
        await lease(prefix, LIVE, -1);
        const later = await store.sweepDeadNodes(self, 100);
        assert.deepEqual(
          later.map((r) => [r.node, r.suspended, r.released, r.ended.map((end) => `${end.id}:${end.reason}`)]),
          [[LIVE, 4, 0, [`${claimed.id}:agent_left`]]],
          'its two established sessions suspended, the pairing agent left after the timeout ends its offer',
        );
      } finally {
        await store.close();
      }
    });

    it('Security: two nodes sweeping one dead node at once sweep each session once, within the bound per call', async () => {
      await withNodes({ maxSessions: 1000, maxSessionsPerToken: 1000, maxSessionsPerAddress: 1000 }, async (a, b, prefix) => {
        await lease(prefix, DEAD, -1);
        const durable = await Promise.all(Array.from({ length: 150 }, (_, i) => session(i % 2 === 0 ? a : b, DEAD, DEAD, 'window')));
        const pairing = await Promise.all(Array.from({ length: 50 }, (_, i) => session(i % 2 === 0 ? a : b, DEAD, undefined, 'no')));
        const ends = { a: [] as string[], b: [] as string[] };
        a.on('endedElsewhere', (ended) => ends.a.push(ended.id));
        b.on('endedElsewhere', (ended) => ends.b.push(ended.id));
        const reports: NodeSweepReport[] = [];
        for (let round = 0; round < 10; round++) {
          const [fromA, fromB] = await Promise.all([a.sweepDeadNodes('http://127.0.0.1:1', 60), b.sweepDeadNodes('http://127.0.0.1:2', 60)]);
          for (const report of [...fromA, ...fromB]) {
            assert.ok(report.suspended / 2 + report.ended.length <= 60, `at most 60 sessions per call: ${JSON.stringify(report)}`);
            reports.push(report);
          }
          if (fromA.length + fromB.length === 0) break;
        }
        const swept = total(reports);
        assert.equal(swept.suspended, 300, 'each side of the 150 established sessions suspended once');
        assert.equal(swept.released, 0);
        assert.equal(swept.ended.length, 50, 'each pairing agent\'s session ended once');
        assert.deepEqual(swept.ended.map((end) => end.split(':')[0]).sort(), pairing.map((p) => p.id).sort());
        const counts = await a.counts();
        assert.deepEqual([counts.established, counts.suspended, counts.waiting], [150, 150, 0]);
        for (const { id } of durable.slice(0, 10)) assert.deepEqual((await b.get(id))?.connected, { agent: false, client: false });
        assert.deepEqual(await indexed(prefix), { nodes: [], dead: [] });
        await within(5_000, 'every end announced to both nodes', new Promise<void>((resolve) => {
          const check = (): void => (ends.a.length >= 50 && ends.b.length >= 50 ? resolve() : void setTimeout(check, 20));
          check();
        }));
        assert.equal(new Set(ends.a).size, 50);
        assert.equal(ends.a.length, 50, 'announced once each');
      });
    });
  });
});
