/**
 * A node that does not answer a cluster link in time (docs/design.md §8.2, docs/operations.md
 * "Relay cluster"; cluster-link.ts `Silence`, upgrade-handler.ts relay): slow is not dead. Node B
 * holds a session's agent; the client's new socket lands on node A, which relays it to B. B is
 * stopped with SIGSTOP (it accepts TCP connections but answers nothing, as a node stalled by a
 * long pause, swapping or an overloaded machine does), so A's link times out after
 * SPLICE_CONNECT_TIMEOUT_MS:
 *
 * - while B still holds its connection lease in Redis (it renewed it before it stalled), B is alive:
 *   A leaves the agent's attachment as it is (log `splice_node_slow`) and closes the client with
 *   1012; once B answers again, the client's next socket is relayed to B and the session resumes.
 *   (Before: A took B for dead and marked the agent suspended while its socket lived on in B, and
 *   the two endpoints waited for each other);
 * - once B's lease has ended (RELAY_CONNECTION_LEASE_MS after its last renewal: a hung node, or a
 *   lost machine whose packets are dropped), B is dead: A marks the agent suspended (log
 *   `splice_node_unreachable`), so the agent's next socket is admitted wherever it lands.
 *
 * Real relay processes on one real redis-server (test/helpers/cluster-nodes.ts). B is stopped and
 * continued by its pid and killed at the end. (A dead node is also found without any traffic by
 * the other nodes' sweep once its lease ended: cluster-node-sweep.test.ts. A sweeps rarely here.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RELAY_CONNECTION_LEASE_MS } from '../../../src/limits.js';
import { SPLICE_CONNECT_TIMEOUT_MS } from '../../../src/relay/cluster-link.js';
import { clusterNodesInSuite, splicedPair } from '../../helpers/cluster-nodes.js';
import { openPeer } from '../../helpers/relay-process.js';
import type { StartedRelay, TestPeer } from '../../helpers/relay-process.js';
import { waitUntilAsync } from '../../helpers/wait-until.js';

/** A log line or control message that follows a link's timeout, in ms. */
const AFTER_TIMEOUT_MS = SPLICE_CONNECT_TIMEOUT_MS + 20_000;
const ANSWER_MS = 10_000;

describe('relay cluster: a node that does not answer a link in time (two relay processes, one redis-server)', { timeout: 240_000 }, () => {
  const nodes = clusterNodesInSuite({ prefix: 'kp-slow-node:', count: 0 });
  before(async () => {
    // A's own sweep (node-sweep.ts) would also find B dead once its lease ended, racing the
    // link this test watches: with a 10 min lease A's first sweep comes after this suite ends.
    await nodes.cluster.addNode(['--node-lease', '10m']);
    await nodes.cluster.addNode();
  });
  const peers: TestPeer[] = [];
  after(() => {
    // The nodes are killed by pid (a stopped process too).
    for (const peer of peers) peer.ws.terminate();
  });

  const nodeA = (): StartedRelay => nodes.a;
  const nodeB = (): StartedRelay => nodes.b;

  function stopB(): void {
    nodeB().child.kill('SIGSTOP');
  }
  function continueB(): void {
    nodeB().child.kill('SIGCONT');
  }

  /** Is the agent of session `id` connected, as the store says? */
  const agentConnected = async (id: string): Promise<boolean> => (await nodes.cluster.store.hGet(`${nodes.cluster.prefix}s:${id}`, 'ca')) === '1';

  /** An established session (resume window 60 s) whose agent is on B and whose client has just dropped (suspended). */
  async function agentOnBClientAway(): Promise<{ sessionId: string; clientKey: string; agent: TestPeer }> {
    const { sessionId, clientKey, agent, client } = await splicedPair(nodeB(), nodeA());
    peers.push(agent, client);
    const established = nodeB().logs.mark();
    agent.ws.send(JSON.stringify({ type: 'established', resume_window_s: 60 }));
    await nodeB().logs.waitFor((r) => r.event === 'resume_window' && r.session === sessionId, ANSWER_MS, established, 'the resume window on node B');
    client.ws.terminate();
    await agent.control('peer_suspended', 1, ANSWER_MS);
    return { sessionId, clientKey, agent };
  }

  it('while the silent node holds its lease it is slow, not dead: its socket is left in the store, and the session resumes through it once it answers again', async () => {
    const { sessionId, clientKey, agent } = await agentOnBClientAway();
    const mark = nodeA().logs.mark();
    stopB();
    const client = await openPeer(nodeA(), 'client', sessionId, clientKey);
    peers.push(client);
    const verdict = await nodeA().logs.waitFor((r) => (r.event === 'splice_node_slow' || r.event === 'splice_node_unreachable') && r.session === sessionId, AFTER_TIMEOUT_MS, mark, 'node A to give up on the link');
    assert.equal(verdict.event, 'splice_node_slow', JSON.stringify(verdict));
    const closed = await client.closedWithin(ANSWER_MS);
    assert.equal(closed.code, 1012, `the client is told to reconnect: ${closed.reason}`);
    assert.equal(await agentConnected(sessionId), true, 'the store still says the agent is connected (on node B)');
    continueB();
    const again = await openPeer(nodeA(), 'client', sessionId, clientKey);
    peers.push(again);
    await Promise.all([again.control('peer_resumed', 1, AFTER_TIMEOUT_MS), agent.control('peer_resumed', 1, AFTER_TIMEOUT_MS)]);
    agent.ws.send(Buffer.from('through node B again'));
    await again.until(() => again.frames.some((frame) => frame.toString() === 'through node B again'), 'bytes through the resumed session', ANSWER_MS);
  });

  it('once the silent node\'s lease has ended it is dead: its socket is marked suspended, so the other side\'s next socket is admitted where it lands', async () => {
    const { sessionId, clientKey } = await agentOnBClientAway();
    stopB();
    const leaseEnded = async (): Promise<boolean> => {
      const [seconds, micros] = (await nodes.cluster.store.sendCommand<string[]>(['TIME'])).map(Number);
      const ends = await nodes.cluster.store.zScore(`${nodes.cluster.prefix}cn:nodes`, nodes.cluster.advertised(nodeB()));
      return ends === null || ends <= seconds! * 1000 + Math.floor(micros! / 1000);
    };
    await waitUntilAsync(leaseEnded, RELAY_CONNECTION_LEASE_MS + 20_000, 'node B\'s lease to end', 500);
    const mark = nodeA().logs.mark();
    const client = await openPeer(nodeA(), 'client', sessionId, clientKey);
    peers.push(client);
    const verdict = await nodeA().logs.waitFor((r) => (r.event === 'splice_node_slow' || r.event === 'splice_node_unreachable') && r.session === sessionId, AFTER_TIMEOUT_MS, mark, 'node A to give up on the link');
    assert.equal(verdict.event, 'splice_node_unreachable', JSON.stringify(verdict));
    assert.equal(verdict['silence'], 'no_answer');
    assert.equal(await agentConnected(sessionId), false, 'the agent is marked suspended');
    const closed = await client.closedWithin(ANSWER_MS);
    assert.equal(closed.code, 1012, closed.reason);
    const back = await openPeer(nodeA(), 'client', sessionId, clientKey);
    peers.push(back);
    await back.control('peer_suspended', 1, ANSWER_MS);
    await nodeB().stop('SIGKILL', ANSWER_MS);
  });
});
