/**
 * Two sides of a session attaching at the same moment on two relay nodes (docs/design.md §8.2
 * "Concurrent attaches", session-broker.ts #moveOn): an established session's two sockets drop,
 * and their new sockets open at once, one to each node. Each node reads "the other side is not
 * connected" before either attaches; without a decision taken at the attach itself both sockets
 * stayed where they were and waited for each other for good (`peer_suspended`). Now the later
 * attach sees the earlier and its socket is relayed to the other's node: every round ends with
 * both sides told `peer_resumed` and bytes passing both ways, with at most one extra reconnection
 * per side. The same holds for a scripted pairing: the agent's first socket and the client's
 * open at once on two nodes, and both are told `peer_connected`. Two real relay processes on one
 * real redis-server; raw WebSockets with the session's keys act as the endpoints, reconnecting
 * on 1012 as endpoints do.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { clusterNodesInSuite } from '../../helpers/cluster-nodes.js';
import { apiFrom, connectPair, openPeer } from '../../helpers/relay-process.js';
import type { PairInfo, SessionInfo, StartedRelay, TestPeer } from '../../helpers/relay-process.js';
import { waitUntilAsync } from '../../helpers/wait-until.js';

const PREFIX = 'kp-attach-race:';
const ROUNDS = 20;
const PAIRING_ROUNDS = 10;
/** New sockets an endpoint opens after a 1012 before the test gives up on it. */
const MAX_REOPENS = 3;
/** Bound on each wait for a relay's answer (a splice takes milliseconds; a deadlock never ends). */
const ANSWER_TIMEOUT_MS = 10_000;

describe('relay cluster: both sides reconnecting at the same moment to two nodes (two relay processes, one redis-server)', { timeout: 300_000 }, () => {
  const nodes = clusterNodesInSuite({ prefix: PREFIX });

  /**
   * One side's new socket to `node`, reopened (bounded) when the relay closes it with 1012 before
   * it resumed, as an endpoint does. Resolves with the socket told `peer_resumed` and the number
   * of extra sockets it took.
   */
  async function resume(node: StartedRelay, role: 'agent' | 'client', sessionId: string, key: string): Promise<{ peer: TestPeer; reopens: number }> {
    for (let reopens = 0; reopens <= MAX_REOPENS; reopens++) {
      const peer = await openPeer(node, role, sessionId, key);
      const outcome = await Promise.race([peer.control('peer_resumed', 1, ANSWER_TIMEOUT_MS).then(() => 'resumed' as const), peer.closed]).catch((err: unknown) => {
        // A deadlock leaves both sides at peer_suspended.
        throw new Error(`the ${role} on ${node.url} was not resumed (${(err as Error).message}); it was told ${JSON.stringify(peer.controls)}`);
      });
      if (outcome === 'resumed') return { peer, reopens };
      assert.equal(outcome.code, 1012, `the ${role}'s socket was closed: ${outcome.code} ${outcome.reason}`);
    }
    throw new Error(`the ${role} was asked to reconnect more than ${MAX_REOPENS} times`);
  }

  /** Send a fresh frame from `from` and wait for exactly those bytes at `to`. */
  async function passes(from: TestPeer, to: TestPeer, what: string): Promise<void> {
    const frame = randomBytes(1024);
    const start = to.frames.length;
    from.ws.send(frame);
    await to.until(() => to.frames.length > start, what, ANSWER_TIMEOUT_MS);
    assert.deepEqual(to.frames[start], frame, what);
  }

  it(`${ROUNDS} rounds: the new sockets meet on one node (one relayed to the other) and bytes pass both ways`, async () => {
    const { session, pairing, agent: firstAgent, client: firstClient } = await connectPair(nodes.a);
    const id = session.session_id;
    const established = nodes.a.logs.mark();
    firstAgent.ws.send(JSON.stringify({ type: 'established', resume_window_s: 60 }));
    await nodes.a.logs.waitFor((r) => r.event === 'session_established' && r.session === id, ANSWER_TIMEOUT_MS, established, 'session_established');
    let agent = firstAgent;
    let client = firstClient;
    for (let round = 0; round < ROUNDS; round++) {
      // Both carriers drop; the store keeps the session with both sides suspended.
      agent.ws.terminate();
      client.ws.terminate();
      await waitUntilAsync(
        async () => {
          const [agentConnected, clientConnected] = await nodes.cluster.store.sendCommand<Array<string | null>>(['HMGET', `${PREFIX}s:${id}`, 'ca', 'cc']);
          return agentConnected === '0' && clientConnected === '0';
        },
        ANSWER_TIMEOUT_MS,
        `round ${round}: both sides suspended`,
      );
      // The new sockets open at the same moment, one to each node (which one alternates).
      const [agentNode, clientNode] = round % 2 === 0 ? [nodes.a, nodes.b] : [nodes.b, nodes.a];
      const [resumedAgent, resumedClient] = await Promise.all([resume(agentNode, 'agent', id, session.agent_key), resume(clientNode, 'client', id, pairing.client_key)]);
      agent = resumedAgent.peer;
      client = resumedClient.peer;
      assert.ok(resumedAgent.reopens <= 1 && resumedClient.reopens <= 1, `round ${round}: at most one extra reconnection per side (${resumedAgent.reopens}, ${resumedClient.reopens})`);
      await passes(agent, client, `round ${round}: agent to client`);
      await passes(client, agent, `round ${round}: client to agent`);
    }
    agent.ws.close(1000);
    await client.closedWithin();
    await agent.closedWithin();
  });

  it(`${PAIRING_ROUNDS} scripted pairings: the agent's first socket and the client's open at the same moment on two nodes and are spliced`, async () => {
    for (let round = 0; round < PAIRING_ROUNDS; round++) {
      // Each round's API calls from its own loopback address: /api/* allows 20 a minute per address.
      const from = `127.0.0.${10 + round}`;
      const [agentNode, clientNode] = round % 2 === 0 ? [nodes.a, nodes.b] : [nodes.b, nodes.a];
      const created = await apiFrom(agentNode, from, 'POST', '/api/v1/sessions', { token: agentNode.tokens.agent, body: { protocol: 'kubepair/1' } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const session = created.body as SessionInfo;
      const paired = await apiFrom(clientNode, from, 'POST', '/api/v1/pair', { token: clientNode.tokens.client, body: { nameplate: session.nameplate } });
      assert.equal(paired.status, 200, JSON.stringify(paired.body));
      const pairing = paired.body as PairInfo;
      const [agent, client] = await Promise.all([
        openPeer(agentNode, 'agent', session.session_id, session.agent_key),
        openPeer(clientNode, 'client', session.session_id, pairing.client_key),
      ]);
      for (const [peer, role] of [
        [agent, 'agent'],
        [client, 'client'],
      ] as const) {
        await peer.control('peer_connected', 1, ANSWER_TIMEOUT_MS).catch((err: unknown) => {
          throw new Error(`round ${round}: the ${role} was not told peer_connected (${(err as Error).message}); it was told ${JSON.stringify(peer.controls)}`);
        });
      }
      await passes(agent, client, `round ${round}: agent to client`);
      await passes(client, agent, `round ${round}: client to agent`);
      agent.ws.close(1000);
      await client.closedWithin();
      await agent.closedWithin();
    }
  });
});
