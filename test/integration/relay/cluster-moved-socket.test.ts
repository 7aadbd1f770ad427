/**
 * Sockets of one session on different relay nodes (docs/design.md §8.2, plan item 7): a side whose
 * socket moved to another node (its peer suspended, so nothing to splice to), when the older
 * socket ends on the first node afterwards, is
 * neither ended nor suspended there, whatever the close code; a session one node ends (here the
 * operator's DELETE) closes its sockets on the other node too. Two real relay processes sharing
 * one real redis-server and one relay secret (as the nodes of a cluster do).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterNodesInSuite } from '../../helpers/cluster-nodes.js';
import { api, connectPair, createSessionViaApi, openPeer } from '../../helpers/relay-process.js';
import type { TestPeer } from '../../helpers/relay-process.js';

const PREFIX = 'kp-moved:';

describe('relay cluster: a socket that moved to another node (two relay processes, one redis-server)', { timeout: 120_000 }, () => {
  const nodes = clusterNodesInSuite({ prefix: PREFIX });

  for (const [how, end] of [
    ['closed on purpose (1000)', (peer: TestPeer) => peer.ws.close(1000)],
    ['dropped (no close frame)', (peer: TestPeer) => peer.ws.terminate()],
  ] as const) {
    it(`the agent's older socket on node A ${how} after the agent moved to node B: A neither ends nor suspends the session`, async () => {
      const a = nodes.a;
      const { session, agent, client } = await connectPair(a);
      const established = a.logs.mark();
      agent.ws.send(JSON.stringify({ type: 'established', resume_window_s: 60 }));
      await a.logs.waitFor((r) => r.event === 'session_established' && r.session === session.session_id, 10_000, established, 'session_established');
      // The client's carrier drops (the session is suspended on A), then the agent's new carrier
      // lands on node B and takes the side over there (no client to splice to: B holds it itself).
      const suspended = a.logs.mark();
      client.ws.terminate();
      await a.logs.waitFor((r) => r.event === 'session_suspended' && r.session === session.session_id && r.role === 'client', 10_000, suspended, 'the client suspended');
      const moved = await openPeer(nodes.b, 'agent', session.session_id, session.agent_key);
      await moved.control('peer_suspended');
      const mark = a.logs.mark();
      end(agent);
      // What node A makes of the end: the side moved away (right), or a suspension or the end of the session (wrong).
      const verdicts = new Set(['socket_replaced', 'session_suspended', 'session_destroyed']);
      const verdict = await a.logs.waitFor((r) => verdicts.has(String(r.event)) && r.session === session.session_id, 10_000, mark, 'node A handling the end');
      assert.equal(verdict.event, 'socket_replaced', JSON.stringify(verdict));
      assert.equal(verdict['elsewhere'], true);
      const later = a.logs.records.slice(mark);
      assert.ok(!later.some((r) => r.session === session.session_id && (r.event === 'session_destroyed' || r.event === 'session_suspended')), JSON.stringify(later));
      const [exists, agentConnected] = await Promise.all([
        nodes.cluster.store.sendCommand<number>(['EXISTS', `${PREFIX}s:${session.session_id}`]),
        nodes.cluster.store.sendCommand<string | null>(['HGET', `${PREFIX}s:${session.session_id}`, 'ca']),
      ]);
      assert.equal(exists, 1, 'the session is still in the store');
      assert.equal(agentConnected, '1', 'with its agent connected (on node B)');
      moved.ws.close(1000);
      await moved.closedWithin();
    });
  }

  it('a session the operator ends on node A closes its agent socket on node B (4410, "it ended on another relay node")', async () => {
    const session = await createSessionViaApi(nodes.a);
    const mark = nodes.b.logs.mark();
    const agent = await openPeer(nodes.b, 'agent', session.session_id, session.agent_key);
    await nodes.b.logs.waitFor((r) => r.event === 'socket_connected' && r.session === session.session_id, 10_000, mark, 'the agent on node B');
    const deleted = await api(nodes.a, 'DELETE', `/api/v1/sessions/${session.session_id}`, { token: nodes.a.tokens.admin });
    assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
    const closed = await agent.closedWithin(10_000);
    assert.equal(closed.code, 4410, closed.reason);
    assert.match(closed.reason, /it ended on another relay node/);
    const noted = await nodes.b.logs.waitFor((r) => r.event === 'session_ended_elsewhere' && r.session === session.session_id, 10_000, mark, 'session_ended_elsewhere');
    assert.equal(noted['why'], 'destroyed');
  });
});
