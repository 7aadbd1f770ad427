/**
 * A relaying node shutting down (SIGTERM: a rolling restart; docs/design.md §8.2, docs/operations.md
 * "Relay cluster", relay-server.ts windDownRelayed, cluster-link.ts windDown): the endpoints it
 * relays to the node holding their session hear what its own sockets hear, at once, not at the end
 * of the grace. Node A holds each session (the agent's socket); the client's socket lands on node B,
 * which relays it to A; B is stopped with a long --shutdown-grace and a socket of its own open, so
 * B's shutdown lasts and only what it sends at the start can be seen:
 *
 * - a session still pairing ends with B's socket, as a local one would: the relayed client is sent
 *   `expiring` (at the end of the grace) and kept until it leaves;
 * - an established session with a resume window survives B (A holds it): the relayed client is
 *   closed at once with 4503 (never told `expiring`) and resumes through A while B still drains.
 *
 * Real relay processes on one real redis-server (test/helpers/cluster-nodes.ts); a fresh node B
 * per test, since each test stops it.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { clusterNodesInSuite, splicedPair } from '../../helpers/cluster-nodes.js';
import { createSessionViaApi, openPeer } from '../../helpers/relay-process.js';
import type { StartedRelay, TestPeer } from '../../helpers/relay-process.js';
import { within } from '../../helpers/wait-until.js';

/** Node B's --shutdown-grace: far longer than any wait below, so the start of its shutdown is what the tests see. */
const LONG_GRACE = '10m';
/** A close, a control message, a log line, in ms. */
const ANSWER_MS = 10_000;

describe('relay cluster: a node that relays sockets shutting down (real relay processes, one redis-server)', { timeout: 180_000 }, () => {
  const nodes = clusterNodesInSuite({ prefix: 'kp-shutdown:', count: 1 });
  const peers: TestPeer[] = [];
  after(() => {
    for (const peer of peers) peer.ws.terminate();
  });

  const nodeA = (): StartedRelay => nodes.a;

  /** A fresh node B; a session whose agent is on A and whose client is relayed by B to A; and a pairing session of B's own. */
  async function relayedThroughB(): Promise<{ nodeB: StartedRelay; sessionId: string; clientKey: string; agent: TestPeer; client: TestPeer; own: TestPeer }> {
    const nodeB = await nodes.cluster.addNode(['--shutdown-grace', LONG_GRACE]);
    const { sessionId, clientKey, agent, client } = await splicedPair(nodeA(), nodeB);
    peers.push(agent, client);
    // A socket of B's own keeps B's shutdown going for its grace.
    const ownSession = await createSessionViaApi(nodeB);
    const own = await openPeer(nodeB, 'agent', ownSession.session_id, ownSession.agent_key);
    peers.push(own);
    return { nodeB, sessionId, clientKey, agent, client, own };
  }

  it('a pairing session relayed through the stopping node is told expiring at once, like a local socket, and kept until it leaves', async () => {
    const { nodeB, client, own } = await relayedThroughB();
    const stopped = Date.now();
    nodeB.child.kill('SIGTERM');
    const [relayed, local] = await Promise.all([client.control('expiring', 1, ANSWER_MS), own.control('expiring', 1, ANSWER_MS)]);
    const at = Date.parse(String(relayed['at']));
    assert.ok(at >= stopped + 5 * 60_000, `expiring at the end of B's grace (10 min): ${String(relayed['at'])}`);
    assert.ok(Date.parse(String(local['at'])) >= stopped + 5 * 60_000, `B's own socket hears the same: ${String(local['at'])}`);
    assert.equal(client.ws.readyState, client.ws.OPEN, 'the relayed client is kept for the grace');
    // Both leave: B has nothing left and exits well within its grace.
    client.ws.close(1000);
    own.ws.close(1000);
    const exit = await within(ANSWER_MS * 3, 'node B to exit once its sockets left', nodeB.exited);
    assert.equal(exit.code, 0);
  });

  it('an established session with a resume window relayed through the stopping node: its client is closed at once with 4503, never told expiring, and resumes through node A while B drains', async () => {
    const { nodeB, sessionId, clientKey, agent, client, own } = await relayedThroughB();
    const established = nodeA().logs.mark();
    agent.ws.send(JSON.stringify({ type: 'established', resume_window_s: 60 }));
    await nodeA().logs.waitFor((r) => r.event === 'session_established' && r.session === sessionId, ANSWER_MS, established, 'session_established on node A');
    nodeB.child.kill('SIGTERM');
    await own.control('expiring', 1, ANSWER_MS);
    const closed = await client.closedWithin(ANSWER_MS);
    assert.equal(closed.code, 4503, closed.reason);
    assert.ok(!client.controls.some((c) => c.type === 'expiring'), 'no expiring: the session survives node B');
    assert.equal(own.ws.readyState, own.ws.OPEN, 'node B is still draining its own sockets');
    await agent.control('peer_suspended', 1, ANSWER_MS);
    const resumed = await openPeer(nodeA(), 'client', sessionId, clientKey);
    peers.push(resumed);
    await Promise.all([resumed.control('peer_resumed', 1, ANSWER_MS), agent.control('peer_resumed', 1, ANSWER_MS)]);
    agent.ws.send(Buffer.from('after the resume'));
    await resumed.until(() => resumed.frames.some((frame) => frame.toString() === 'after the resume'), 'bytes through the resumed session', ANSWER_MS);
    own.ws.close(1000);
    const exit = await within(ANSWER_MS * 3, 'node B to exit once its sockets left', nodeB.exited);
    assert.equal(exit.code, 0);
  });
});
