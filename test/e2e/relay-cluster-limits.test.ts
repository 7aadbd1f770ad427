/**
 * The pairing-attempt limit and the `/api` rate limit of a relay cluster, met through the load
 * balancer (issue 13 "Tests": "the five-attempt limit and the 20/min rate limit holding across
 * nodes (guesses spread over nodes still count)"; docs/operations.md "Limits across a cluster",
 * "Run a relay cluster" step 4). One real redis-server, three real `kubepair relay` nodes, real
 * HAProxy in round-robin mode in front (test/helpers/relay-cluster.ts, haproxy.ts), and an
 * attacker who talks only to HAProxy, as on the Internet:
 *
 * - five wrong codes for one offer, each claim and client socket balanced to the next node: the
 *   client sockets land on at least two nodes (the nodes' logs say where), every wrong guess
 *   counts, and the fifth ends the offer (the agent is closed with 4429, the nameplate is unknown
 *   on every node);
 * - twenty `/api` requests from one address, spread over the three nodes (their metrics say so):
 *   the 21st is refused 429 with Retry-After on every node.
 *
 * What makes the second test mean something: the nodes see the real client address, not
 * HAProxy's. HAProxy adds `X-Forwarded-For` (`option forwardfor`) and the nodes trust it from
 * HAProxy's address only (`--trust-proxy 127.0.0.1`: HAProxy connects to them from there), so the
 * attacker on 127.0.0.5 is counted as 127.0.0.5 (the nodes' audit logs record that address), a
 * second client on 127.0.0.6 behind the same HAProxy is still served, and the attacker cannot pass
 * for another address by sending its own `X-Forwarded-For` (HAProxy appends the address it saw,
 * and the nodes walk the header from the right, stopping at the first address they do not trust).
 *
 * Bounded: one timeout for the file, every wait bounded, every process stopped by pid in `after`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readAuditRecords } from '../helpers/audit-records.js';
import type { RelayCluster } from '../helpers/relay-cluster.js';
import { NODE_COUNT, startRelayCluster } from '../helpers/relay-cluster.js';
import { apiFrom, errorCode, openPeer } from '../helpers/relay-process.js';
import type { ApiAnswer, PairInfo, SessionInfo, TestPeer } from '../helpers/relay-process.js';
import { waitUntil } from '../helpers/wait-until.js';

/** The whole file on a loaded 2-core machine. */
const WHOLE_FILE_MS = 5 * 60_000;
/** --max-attempts and --rate-limit of the nodes (the defaults, stated: the helper raises the rate limit). */
const MAX_ATTEMPTS = 5;
const RATE_LIMIT = 20;
/** The attacker guessing codes, the attacker flooding /api, and an innocent client behind the same balancer. */
const GUESSER = '127.0.0.8';
const FLOODER = '127.0.0.5';
const BYSTANDER = '127.0.0.6';
/** A close or a log line, in ms. */
const ANSWER_MS = 20_000;

describe('e2e: a relay cluster behind HAProxy (round robin, three nodes): the attempt limit and the rate limit hold for the cluster', { timeout: WHOLE_FILE_MS }, () => {
  let cluster: RelayCluster;
  const peers: TestPeer[] = [];

  before(async () => {
    cluster = await startRelayCluster({
      trustProxy: '127.0.0.1',
      relayArgs: ['--max-attempts', String(MAX_ATTEMPTS), '--rate-limit', String(RATE_LIMIT)],
    });
  });

  after(async () => {
    for (const peer of peers) peer.ws.terminate();
    await cluster?.close();
  });

  const balancer = (): { url: string } => ({ url: cluster.haproxy.url });

  /** One /api request through HAProxy from `from`. */
  function viaBalancer(from: string, method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<ApiAnswer> {
    return apiFrom(balancer(), from, method, path, options);
  }

  /** The nodes a client socket of session `id` landed on: the node relaying it, or the node admitting it directly. */
  function clientLandings(id: string): Set<number> {
    const nodes = new Set<number>();
    for (let index = 0; index < NODE_COUNT; index++) {
      const events = cluster.events(index).filter((e) => e.session === id && e.role === 'client');
      if (events.some((e) => e.event === 'splice_open')) nodes.add(index);
      const direct = events.filter((e) => e.event === 'socket_connected').length - events.filter((e) => e.event === 'splice_accepted').length;
      if (direct > 0) nodes.add(index);
    }
    return nodes;
  }

  describe('Security: limits hold for the cluster behind the balancer, not per node', () => {
    it('five wrong codes whose claims and sockets HAProxy spreads over the nodes all count: the fifth ends the offer on every node', async (t) => {
      const created = await viaBalancer(GUESSER, 'POST', '/api/v1/sessions', { token: cluster.tokens.agent, body: { protocol: 'kubepair/1' } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const session = created.body as SessionInfo;
      const agent = await openPeer(balancer(), 'agent', session.session_id, session.agent_key, { localAddress: GUESSER });
      peers.push(agent);
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const claimed = await viaBalancer(GUESSER, 'POST', '/api/v1/pair', { token: cluster.tokens.client, body: { nameplate: session.nameplate } });
        assert.equal(claimed.status, 200, `claim ${attempt}: ${JSON.stringify(claimed.body)}`);
        const client = await openPeer(balancer(), 'client', session.session_id, (claimed.body as PairInfo).client_key, { localAddress: GUESSER });
        peers.push(client);
        await agent.control('peer_connected', attempt, ANSWER_MS);
        await client.control('peer_connected', 1, ANSWER_MS);
        // The agent's PAKE did not verify: a wrong code.
        agent.ws.send(JSON.stringify({ type: 'pake_failed' }));
        const closed = await client.closedWithin(ANSWER_MS);
        assert.equal(closed.code, 4403, `attempt ${attempt}: ${closed.reason}`);
      }
      const agentClosed = await agent.closedWithin(ANSWER_MS);
      assert.equal(agentClosed.code, 4429, `the fifth failure ends the offer: ${agentClosed.reason}`);
      const landed = clientLandings(session.session_id);
      t.diagnostic(`the five client sockets landed on ${[...landed].map((index) => `n${index + 1}`).join(', ')}`);
      assert.ok(landed.size >= 2, 'the guesses were spread over at least two nodes');
      const holder = cluster.nodeWith((e) => e.event === 'session_destroyed' && e.session === session.session_id && e.reason === 'attempts_exhausted');
      assert.ok(holder >= 0, 'one node ended the session for its exhausted attempts');
      const counted = cluster.events(holder).filter((e) => e.event === 'pairing_attempt_failed' && e.session === session.session_id).map((e) => e.attempts);
      assert.deepEqual(counted, [1, 2, 3, 4, 5], 'each guess counted once, in one count for the cluster');
      for (let node = 0; node < NODE_COUNT; node++) {
        // Round robin: NODE_COUNT more claims reach every node once.
        const sixth = await viaBalancer(GUESSER, 'POST', '/api/v1/pair', { token: cluster.tokens.client, body: { nameplate: session.nameplate } });
        assert.equal(sixth.status, 404, `a further guess finds no offer (${node + 1}): ${JSON.stringify(sixth.body)}`);
        assert.equal(errorCode(sixth), 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN');
      }
    });

    it('20 /api requests from one address spread over the nodes: the 21st is refused 429 on every node, the address is the client\'s (not HAProxy\'s) and X-Forwarded-For sent by the client changes nothing', async (t) => {
      const createdOn = async (): Promise<number[]> => Promise.all(Array.from({ length: NODE_COUNT }, async (_, index) => (await cluster.metric(index, 'kubepair_relay_sessions_created_total')) ?? 0));
      const before = await createdOn();
      for (let request = 1; request <= RATE_LIMIT; request++) {
        const answer = await viaBalancer(FLOODER, 'POST', '/api/v1/sessions', { token: cluster.tokens.agent, body: { protocol: 'kubepair/1' } });
        assert.equal(answer.status, 201, `request ${request}: ${JSON.stringify(answer.body)}`);
      }
      const spread = (await createdOn()).map((count, index) => count - (before[index] ?? 0));
      t.diagnostic(`sessions created per node: ${spread.join(', ')}`);
      assert.equal(spread.reduce((sum, count) => sum + count, 0), RATE_LIMIT);
      assert.ok(spread.filter((count) => count > 0).length >= 2, `the requests were spread over at least two nodes: ${spread.join(', ')}`);
      // The nodes counted the flooder's own address, which HAProxy forwarded.
      await waitUntil(() => cluster.nodes.flatMap((node) => readAuditRecords(node.auditLog)).filter((r) => r['event'] === 'session_created' && r['address'] === FLOODER).length === RATE_LIMIT, ANSWER_MS, 'the audit logs to record every session with the flooder\'s address');

      const hitsBefore = (await Promise.all(Array.from({ length: NODE_COUNT }, (_, index) => cluster.metric(index, 'kubepair_relay_limit_hits_total', 'limit="rate_limit"')))).map((value) => value ?? 0);
      for (let node = 0; node < NODE_COUNT; node++) {
        const refused = await viaBalancer(FLOODER, 'POST', '/api/v1/sessions', { token: cluster.tokens.agent, body: { protocol: 'kubepair/1' } });
        assert.equal(refused.status, 429, `request ${RATE_LIMIT + 1 + node}: ${JSON.stringify(refused.body)}`);
        assert.equal(errorCode(refused), 'KP_ERR_RELAY_RATE_LIMITED');
        const retryAfter = Number(refused.headers.get('retry-after'));
        assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${refused.headers.get('retry-after')}`);
      }
      const hits = (await Promise.all(Array.from({ length: NODE_COUNT }, (_, index) => cluster.metric(index, 'kubepair_relay_limit_hits_total', 'limit="rate_limit"')))).map((value, index) => (value ?? 0) - (hitsBefore[index] ?? 0));
      t.diagnostic(`429s per node: ${hits.join(', ')}`);
      assert.deepEqual(hits, Array.from({ length: NODE_COUNT }, () => 1), 'every node refused one: the count is the cluster\'s');

      const forged = await viaBalancer(FLOODER, 'POST', '/api/v1/sessions', { token: cluster.tokens.agent, body: { protocol: 'kubepair/1' }, headers: { 'x-forwarded-for': BYSTANDER } });
      assert.equal(forged.status, 429, `a forged X-Forwarded-For does not make the flooder someone else: ${JSON.stringify(forged.body)}`);
      const bystander = await viaBalancer(BYSTANDER, 'POST', '/api/v1/sessions', { token: cluster.tokens.agent, body: { protocol: 'kubepair/1' } });
      assert.equal(bystander.status, 201, `another client behind the same balancer is still served: ${JSON.stringify(bystander.body)}`);
    });
  });
});
