/**
 * A claimed client that leaves while its first socket is handed over to the agent's node
 * (docs/operations.md "Relay cluster"; session-broker.ts #moveOn; issue 13's leftover). The
 * client's socket attaches on node A at the moment the agent's attaches on node B: A's attach
 * sees the agent on B, so A undoes it and relays the socket to B. A's attach had stopped the
 * `--claim-timeout` timer; before, if the socket ended before B admitted it, neither node counted
 * the attempt and the offer stayed claimed, unusable, until `--session-ttl`. Now the claim's
 * timeout runs again from A's hand-over: the attempt is timed out at the claim's own deadline and
 * counted (`pairing_attempt_failed`, `connect_timeout`, as for a client that never connected),
 * the offer can be claimed again, and the attempt counts towards `--max-attempts`: no extra guess.
 *
 * Real parts: one redis-server, two `kubepair relay` processes sharing it, raw WebSockets with
 * the session's keys. The window is made deterministic, without sleeps: node A reaches Redis
 * through a proxy that holds A's attach of the client (holding-proxy.ts) until B has attached
 * the agent, and B is reached by the other nodes (its --advertise) through a fault proxy that
 * black-holes A's splice link, so B never admits the client while it leaves.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient } from '@redis/client';
import type { RedisClientType } from '@redis/client';
import { startFaultProxy } from '../../helpers/fault-proxy.js';
import type { FaultProxy } from '../../helpers/fault-proxy.js';
import { startHoldingProxy } from '../../helpers/holding-proxy.js';
import type { HoldingProxy } from '../../helpers/holding-proxy.js';
import { startRedis } from '../../helpers/redis-server.js';
import type { TestRedis } from '../../helpers/redis-server.js';
import { createSessionViaApi, openPeer, pairViaApi, privateTempDir, startRelay, within } from '../../helpers/relay-process.js';
import type { LogRecord, StartedRelay } from '../../helpers/relay-process.js';
import { freePort } from '../../helpers/tcp.js';
import { waitUntil, waitUntilAsync } from '../../helpers/wait-until.js';

const PREFIX = 'kp-claim-handover:';
const CLAIM_TIMEOUT_MS = 4_000;
/** Far longer than the test: the offer must not wait for it. */
const SESSION_TTL = '10m';
const MAX_ATTEMPTS = 2;
/** The arguments of the store's attach of a client (redis-session-store.ts), as they travel to Redis. */
const CLIENT_ATTACH_MARKER = '"role":"client","kd":"';
/** Bound on each wait for a relay's answer. */
const ANSWER_TIMEOUT_MS = 10_000;
/** Slack on the claim's deadline for the timer, the store's script and the Redis reads. */
const DEADLINE_SLACK_MS = 3_000;

describe('relay cluster: a claimed client that leaves while its socket is handed over to the agent\'s node (two relay processes, one redis-server)', { timeout: 120_000 }, () => {
  let dir: string | undefined;
  let redis: TestRedis | undefined;
  let store: RedisClientType | undefined;
  let hold: HoldingProxy | undefined;
  let bFront: FaultProxy | undefined;
  const nodes: StartedRelay[] = [];

  before(async () => {
    dir = await privateTempDir('kubepair-claim-handover-');
    redis = await startRedis();
    store = createClient({ url: redis.url });
    store.on('error', () => undefined);
    await store.connect();
    const keyFile = join(dir, 'cluster-key');
    await writeFile(keyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
    hold = await startHoldingProxy({ port: redis.port });
    const [aPort, bPort] = [await freePort(), await freePort()];
    bFront = await startFaultProxy({ port: bPort });
    const common = [
      '--store-prefix', PREFIX, '--cluster-key-file', keyFile, '--state-dir', join(dir, 'shared-state'),
      '--claim-timeout', `${CLAIM_TIMEOUT_MS}ms`, '--session-ttl', SESSION_TTL, '--max-attempts', String(MAX_ATTEMPTS),
    ];
    // Node A: its Redis traffic through the holding proxy.
    nodes.push(await startRelay({ args: ['--listen', `127.0.0.1:${aPort}`, '--advertise', `http://127.0.0.1:${aPort}`, '--store', `redis://127.0.0.1:${hold.port}`, ...common] }));
    // Node B: the other nodes reach it through the fault proxy.
    nodes.push(await startRelay({ args: ['--listen', `127.0.0.1:${bPort}`, '--advertise', `http://127.0.0.1:${bFront.port}`, '--store', redis.url, ...common] }));
  });

  after(async () => {
    const stopped = await Promise.allSettled([store?.close(), hold?.close(), bFront?.close(), ...nodes.map((node) => node.dispose())]);
    await redis?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    for (const result of stopped) if (result.status === 'rejected') throw result.reason;
  });

  async function fields(id: string, ...names: string[]): Promise<Array<string | null>> {
    if (store === undefined) throw new Error('no Redis client');
    return store.sendCommand<Array<string | null>>(['HMGET', `${PREFIX}s:${id}`, ...names]);
  }

  it('Security: the attempt is timed out at the claim\'s deadline and counted; the offer is usable again and no extra guess comes of it', async () => {
    const [a, b] = nodes as [StartedRelay, StartedRelay];
    if (hold === undefined || bFront === undefined) throw new Error('the proxies did not start');
    const session = await createSessionViaApi(b);
    const id = session.session_id;
    const pairing = await pairViaApi(a, session.nameplate);
    const claimedBy = Date.now() + CLAIM_TIMEOUT_MS;

    // The client's socket opens on A; A's attach of it is held on its way to Redis.
    const held = hold.holdNext(CLIENT_ATTACH_MARKER);
    const client = await openPeer(a, 'client', id, pairing.client_key);
    await within(ANSWER_TIMEOUT_MS, 'node A to attach the client', held);
    // B will not answer A's splice link; the agent attaches on B meanwhile (it saw no client).
    await bFront.blackHole();
    const agent = await openPeer(b, 'agent', id, session.agent_key);
    await waitUntilAsync(async () => (await fields(id, 'ca'))[0] === '1', ANSWER_TIMEOUT_MS, 'the agent attached on node B');

    // A's attach now sees the agent on B: the client's socket moves on to B (a splice link on its way).
    const moved = a.logs.mark();
    hold.release();
    await a.logs.waitFor((r) => r.event === 'socket_moved_on' && r.session === id && r.role === 'client', ANSWER_TIMEOUT_MS, moved, 'socket_moved_on on node A');
    await waitUntil(() => (bFront?.counters().accepted ?? 0) >= 1, ANSWER_TIMEOUT_MS, 'node A\'s splice link to node B');
    const [state, connected, connectBy] = await fields(id, 'state', 'cc', 'cby');
    assert.deepEqual([state, connected], ['claimed', '0'], 'in the hand-over: claimed, the client attached on neither node');
    assert.ok(Number(connectBy) > Date.now(), `the test reached the hand-over after the claim's deadline (${CLAIM_TIMEOUT_MS} ms); too slow to say anything`);

    // The client leaves before B admitted it.
    client.ws.terminate();
    await client.closedWithin();
    await waitUntilAsync(
      async () => (await fields(id, 'state'))[0] === 'waiting',
      Math.max(0, claimedBy - Date.now()) + DEADLINE_SLACK_MS,
      `the offer released within the claim timeout (${CLAIM_TIMEOUT_MS} ms), not the session TTL (${SESSION_TTL})`,
    );
    assert.ok(Date.now() >= Number(connectBy) - 100, 'released at the claim\'s deadline, not before');
    const [attempts, clientKeyDigest] = await fields(id, 'att', 'ckd');
    assert.deepEqual([attempts, clientKeyDigest], ['1', ''], 'the attempt counted once, its claim gone');
    const failed = (r: LogRecord): boolean => r.event === 'pairing_attempt_failed' && r.session === id;
    await waitUntil(() => [a, b].some((node) => node.logs.records.some(failed)), ANSWER_TIMEOUT_MS, 'pairing_attempt_failed on a node');
    const records = [a, b].flatMap((node) => node.logs.records.filter(failed));
    assert.deepEqual(
      records.map((r) => [r.reason, r.attempts]),
      [['connect_timeout', 1]],
      'recorded once, as a client that never connected',
    );
    assert.equal(agent.controls.some((c) => c.type === 'peer_connected'), false, 'the agent never met the client');

    // No extra guess: the offer takes one more claim (--max-attempts 2), whose end ends it.
    const second = await pairViaApi(a, session.nameplate);
    assert.notEqual(second.client_key, pairing.client_key);
    const closed = await agent.closedWithin(CLAIM_TIMEOUT_MS + DEADLINE_SLACK_MS + ANSWER_TIMEOUT_MS);
    assert.equal(closed.code, 4429, `the agent closed for attempts exhausted: ${closed.code} ${closed.reason}`);
    assert.equal(await store?.exists(`${PREFIX}s:${id}`), 0, 'the offer ended after two attempts');
  });
});
