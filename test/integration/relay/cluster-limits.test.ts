/**
 * Limits and metrics of a relay cluster (docs/design.md §8.2, issue 13; operations.md "Limits
 * across a cluster", "Health, readiness, metrics"): two real `kubepair relay` processes on one
 * real redis-server (127.0.0.1, free ports, stopped by pid), talked to directly — an attacker who
 * spreads requests over the nodes of a cluster still meets every limit once:
 *
 * - pairing guesses spread over both nodes count towards one session's five attempts;
 * - `/api/*` requests alternated between the nodes get 429 (with Retry-After) after 20 in total;
 * - unauthenticated failures alternated between the nodes spend one failure budget;
 * - connections from one address to both nodes meet one --max-connections-per-ip, and a node
 *   killed with SIGKILL has its connections forgotten when its lease ends (RELAY_CONNECTION_LEASE_MS).
 *
 * And each node's metrics carry its `node` label and tell a local splice from a remote one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { RELAY_CONNECTION_LEASE_MS } from '../../../src/limits.js';
import { clusterNodesInSuite, splicedPair } from '../../helpers/cluster-nodes.js';
import { api, apiFrom, connectPair, createSessionViaApi, errorCode, metric, openPeer, pairViaApi } from '../../helpers/relay-process.js';
import type { StartedRelay, TestPeer } from '../../helpers/relay-process.js';
import { waitUntilAsync, within } from '../../helpers/wait-until.js';

const PREFIX = 'kp-cluster-limits:';
const MAX_ATTEMPTS = 5;
const RATE_LIMIT = 20;
/** --max-connections-per-ip of both nodes. */
const CONNECTIONS_PER_ADDRESS = 12;
/** The address the connection-cap test connects from (Linux routes all of 127/8 to lo). */
const HOARDER = '127.0.0.7';

describe('relay cluster limits and metrics (two relay processes, one redis-server)', { timeout: 240_000 }, () => {
  const nodes = clusterNodesInSuite({
    prefix: PREFIX,
    args: [
      '--max-attempts', String(MAX_ATTEMPTS), '--rate-limit', String(RATE_LIMIT), '--max-connections-per-ip', String(CONNECTIONS_PER_ADDRESS),
      // The connections the cap test holds send nothing: they must outlive the lease, not meet the head timeout.
      '--head-timeout', '10m', '--request-timeout', '10m',
    ],
  });
  const sockets: Socket[] = [];
  after(() => {
    for (const socket of sockets) socket.destroy();
  });

  async function closeBoth(agent: TestPeer, client: TestPeer): Promise<void> {
    client.ws.close(1000);
    agent.ws.close(1000);
    await Promise.all([client.closedWithin(), agent.closedWithin()]);
  }

  const value = async (node: StartedRelay, name: string, labels = ''): Promise<number> => (await metric(node, name, labels)) ?? 0;

  it('each node labels its metrics with its node id; a local splice moves the local counters, a cross-node one the remote counters and the relaying node\'s', async () => {
    const text = String((await api(nodes.a, 'GET', '/metrics', { token: nodes.a.tokens.metrics })).body);
    assert.ok(text.includes(`kubepair_relay_sessions_created_total{node="${nodes.cluster.advertised(nodes.a)}"}`), 'node label on node A');
    assert.match(text, /^kubepair_relay_store_errors_total\{part="sessions",node=/m);

    const localBefore = await value(nodes.a, 'kubepair_relay_splices_total', '{kind="local"}');
    const remoteBefore = await value(nodes.a, 'kubepair_relay_splices_total', '{kind="remote"}');
    const local = await connectPair(nodes.a);
    local.agent.ws.send(randomBytes(1000));
    await local.client.until(() => local.client.frames.length === 1, 'the local frame');
    assert.equal(await value(nodes.a, 'kubepair_relay_splices_total', '{kind="local"}'), localBefore + 1);
    assert.equal(await value(nodes.a, 'kubepair_relay_splices_total', '{kind="remote"}'), remoteBefore, 'a local splice is not a remote one');
    assert.equal(await value(nodes.a, 'kubepair_relay_forwarded_bytes_total', '{direction="agent_to_client",splice="local"}'), 1000);
    assert.equal(await value(nodes.a, 'kubepair_relay_forwarded_bytes_total', '{splice="remote"}'), 0);
    await closeBoth(local.agent, local.client);

    const remote = await splicedPair(nodes.a, nodes.b);
    remote.client.ws.send(randomBytes(2000));
    remote.agent.ws.send(randomBytes(3000));
    await remote.agent.until(() => remote.agent.frames.length === 1, 'the frame from the client on node B');
    await remote.client.until(() => remote.client.frames.length === 1, 'the frame from the agent on node A');
    assert.equal(await value(nodes.a, 'kubepair_relay_splices_total', '{kind="remote"}'), remoteBefore + 1);
    assert.equal(await value(nodes.a, 'kubepair_relay_splices_total', '{kind="local"}'), localBefore + 1, 'a remote splice is not a local one');
    assert.equal(await value(nodes.a, 'kubepair_relay_forwarded_bytes_total', '{direction="client_to_agent",splice="remote"}'), 2000);
    assert.equal(await value(nodes.a, 'kubepair_relay_forwarded_bytes_total', '{direction="agent_to_client",splice="remote"}'), 3000);
    assert.equal(await value(nodes.b, 'kubepair_relay_relayed_bytes_total', '{direction="client_to_agent"}'), 2000);
    assert.equal(await value(nodes.b, 'kubepair_relay_relayed_bytes_total', '{direction="agent_to_client"}'), 3000);
    assert.equal(await value(nodes.b, 'kubepair_relay_forwarded_bytes_total'), 0, 'the relaying node forwards nothing of its own: each byte is counted once');
    assert.equal(await value(nodes.b, 'kubepair_relay_cluster_links', '{direction="out"}'), 1);
    assert.equal(await value(nodes.a, 'kubepair_relay_cluster_links', '{direction="in"}'), 1);
    await closeBoth(remote.agent, remote.client);
    await waitUntilAsync(async () => (await value(nodes.b, 'kubepair_relay_cluster_links', '{direction="out"}')) === 0, 10_000, 'the link to close');
  });

  describe('Security: per-address and per-session limits hold for the cluster, not per node', () => {
    it('pairing guesses spread over both nodes count towards one session\'s five attempts: the fifth failure ends it', async () => {
      const session = await createSessionViaApi(nodes.a);
      const agent = await openPeer(nodes.a, 'agent', session.session_id, session.agent_key);
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const node = attempt % 2 === 0 ? nodes.a : nodes.b;
        const pairing = await pairViaApi(node, session.nameplate);
        const client = await openPeer(node, 'client', session.session_id, pairing.client_key);
        await agent.control('peer_connected', attempt);
        await client.control('peer_connected');
        // The agent's PAKE failed: a wrong guess.
        agent.ws.send(JSON.stringify({ type: 'pake_failed' }));
        const closed = await client.closedWithin();
        assert.equal(closed.code, 4403, `attempt ${attempt} through ${node === nodes.a ? 'A' : 'B'}: ${closed.reason}`);
      }
      const agentClosed = await agent.closedWithin();
      assert.equal(agentClosed.code, 4429, agentClosed.reason);
      for (const node of [nodes.a, nodes.b]) {
        const answer = await api(node, 'POST', '/api/v1/pair', { token: node.tokens.client, body: { nameplate: session.nameplate } });
        assert.equal(answer.status, 404, 'a sixth guess finds no session on either node');
        assert.equal(errorCode(answer), 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN');
      }
    });

    it('/api requests alternated between the nodes get 429 with Retry-After after 20 in total', async () => {
      const from = '127.0.0.5';
      for (let request = 1; request <= RATE_LIMIT; request++) {
        const node = request % 2 === 0 ? nodes.a : nodes.b;
        const answer = await apiFrom(node, from, 'POST', '/api/v1/pair', { token: node.tokens.client, body: { nameplate: '99999' } });
        assert.equal(answer.status, 404, `request ${request}: ${JSON.stringify(answer.body)}`);
      }
      for (const node of [nodes.a, nodes.b]) {
        const answer = await apiFrom(node, from, 'POST', '/api/v1/pair', { token: node.tokens.client, body: { nameplate: '99999' } });
        assert.equal(answer.status, 429, JSON.stringify(answer.body));
        assert.equal(errorCode(answer), 'KP_ERR_RELAY_RATE_LIMITED');
        const retryAfter = Number(answer.headers.get('retry-after'));
        assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${answer.headers.get('retry-after')}`);
      }
    });

    it('unauthenticated failures alternated between the nodes spend one failure budget: 429 on both after 20', async () => {
      const from = '127.0.0.6';
      const wrongToken = `kprt_${randomBytes(32).toString('base64url')}`;
      for (let failure = 1; failure <= RATE_LIMIT; failure++) {
        const node = failure % 2 === 0 ? nodes.a : nodes.b;
        const answer = await apiFrom(node, from, 'GET', '/metrics', { token: wrongToken });
        assert.equal(answer.status, 401, `failure ${failure}`);
      }
      for (const node of [nodes.a, nodes.b]) {
        // Even the right token is refused now: the address spent the cluster's budget.
        const answer = await apiFrom(node, from, 'GET', '/metrics', { token: node.tokens.metrics });
        assert.equal(answer.status, 429, JSON.stringify(answer.body));
        assert.equal(errorCode(answer), 'KP_ERR_RELAY_RATE_LIMITED');
        assert.ok(Number(answer.headers.get('retry-after')) >= 1);
      }
    });

    // Last: it kills node B.
    it('connections from one address to both nodes meet one --max-connections-per-ip; a node killed (SIGKILL) has its connections forgotten when its lease ends', async () => {
      /** Connections from HOARDER that node `node` counts in Redis. */
      const counted = async (node: StartedRelay): Promise<number> => Number((await nodes.cluster.store.hGet(`${PREFIX}cn:n:${nodes.cluster.advertised(node)}`, HOARDER)) ?? 0);
      /** Open a connection from HOARDER to `node`: admitted (counted in Redis) or refused (closed by the node). */
      const probe = async (node: StartedRelay): Promise<'admitted' | 'refused'> => {
        const before = await counted(node);
        const socket = connect({ host: '127.0.0.1', port: node.port, localAddress: HOARDER });
        sockets.push(socket);
        let closed = false;
        socket.on('close', () => {
          closed = true;
        });
        socket.on('error', () => undefined);
        await within(10_000, 'the connection to open', new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject)));
        let verdict: 'admitted' | 'refused' | undefined;
        await waitUntilAsync(async () => {
          if (closed) verdict = 'refused';
          else if ((await counted(node)) > before) verdict = 'admitted';
          return verdict !== undefined;
        }, 10_000, `node ${node === nodes.a ? 'A' : 'B'} to admit or refuse the connection`, 20);
        return verdict!;
      };
      for (let i = 0; i < CONNECTIONS_PER_ADDRESS; i++) {
        assert.equal(await probe(i % 2 === 0 ? nodes.a : nodes.b), 'admitted', `connection ${i + 1}`);
      }
      const hitsBefore = await value(nodes.a, 'kubepair_relay_limit_hits_total', '{limit="connections_per_address"}');
      assert.equal(await probe(nodes.a), 'refused', 'node A holds only half of the cap, but the cluster holds all of it');
      assert.equal(await probe(nodes.b), 'refused');
      assert.equal(await value(nodes.a, 'kubepair_relay_limit_hits_total', '{limit="connections_per_address"}'), hitsBefore + 1);

      // Node B dies without a word: its six connections are gone, but its lease still counts them.
      nodes.b.child.kill('SIGKILL');
      await within(10_000, 'node B to die', nodes.b.exited);
      assert.equal(await probe(nodes.a), 'refused', 'a dead node\'s connections count until its lease ends');
      await waitUntilAsync(async () => (await probe(nodes.a)) === 'admitted', RELAY_CONNECTION_LEASE_MS + 15_000, "node B's lease to end", 1_000);
      assert.equal(await counted(nodes.a), CONNECTIONS_PER_ADDRESS / 2 + 1);
      assert.equal(await nodes.cluster.store.exists(`${PREFIX}cn:n:${nodes.cluster.advertised(nodes.b)}`), 0, "node B's counts are gone from Redis");
    });
  });
});
