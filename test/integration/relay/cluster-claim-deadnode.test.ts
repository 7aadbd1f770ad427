/**
 * A claimed client whose relay node dies before pairing completes (docs/operations.md "Relay
 * cluster"; upgrade-handler.ts relay, the dead node's cleanup). The client attaches on node A;
 * the agent's socket, arriving on node B afterwards, is relayed to A (the session is decided
 * there). A is killed with SIGKILL before the pairing completes: its sockets are gone, but Redis
 * still says the client is connected on A. When the agent's next socket on B is relayed to A and
 * A refuses the connection, B takes A for dead with the socket it held. Before, B only tried to
 * suspend the client, which does nothing before `established`: the client stayed "connected" on
 * the dead node and the offer stayed claimed, unusable, until `--session-ttl`. Now the client is
 * marked disconnected with its claim's `--claim-timeout` running again from the claim (never
 * extended), as for a client handed over between nodes: the attempt is timed out at the claim's
 * own deadline and counted once (`pairing_attempt_failed`, `connect_timeout`), and the offer can
 * be claimed again and paired.
 *
 * Real parts: one redis-server, two `kubepair relay` processes sharing it (cluster-nodes.ts), raw
 * WebSockets with the session's keys; A is killed by its pid.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterNodesInSuite } from '../../helpers/cluster-nodes.js';
import { createSessionViaApi, pairViaApi } from '../../helpers/relay-process.js';
import type { LogRecord, SessionInfo, TestPeer } from '../../helpers/relay-process.js';
import { waitUntil, waitUntilAsync, within } from '../../helpers/wait-until.js';

const PREFIX = 'kp-claim-deadnode:';
const CLAIM_TIMEOUT_MS = 4_000;
/** Far longer than the test: the offer must not wait for it. */
const SESSION_TTL = '10m';
/** Bound on each wait for a relay's answer. */
const ANSWER_TIMEOUT_MS = 10_000;
/** Slack on the claim's deadline for the timer, the store's script and the Redis reads. */
const DEADLINE_SLACK_MS = 3_000;

describe('relay cluster: a claimed client whose node dies before pairing (two relay processes, one redis-server)', { timeout: 120_000 }, () => {
  const nodes = clusterNodesInSuite({
    prefix: PREFIX,
    args: ['--claim-timeout', `${CLAIM_TIMEOUT_MS}ms`, '--session-ttl', SESSION_TTL, '--max-attempts', '3'],
  });
  const { fields, open } = nodes;

  /** A claimed client attached on a new node A, which is then killed with SIGKILL by its pid. */
  async function claimedOnDyingNode(agentMeetsIt: boolean): Promise<{ id: string; session: SessionInfo; claimedBy: number; connectBy: string | null | undefined }> {
    const a = await nodes.cluster.addNode();
    const b = nodes.b;
    const session = await createSessionViaApi(b);
    const id = session.session_id;
    const pairing = await pairViaApi(b, session.nameplate);
    const claimedBy = Date.now() + CLAIM_TIMEOUT_MS;
    const client = await open(a, 'client', id, pairing.client_key);
    await waitUntilAsync(async () => (await fields(id, 'cc'))[0] === '1', ANSWER_TIMEOUT_MS, 'the client attached on node A');
    let agent: TestPeer | undefined;
    if (agentMeetsIt) {
      // The agent's socket on B is relayed to A, which admits both.
      const spliced = b.logs.mark();
      agent = await open(b, 'agent', id, session.agent_key);
      await b.logs.waitFor((r) => r.event === 'splice_open' && r.session === id, ANSWER_TIMEOUT_MS, spliced, 'splice_open on node B');
      await agent.control('peer_connected', 1, ANSWER_TIMEOUT_MS);
    }
    const [connectBy] = await fields(id, 'cby');
    // A dies before the pairing completes (no PAKE frames are sent): its sockets go with it.
    const pid = a.child.pid;
    if (pid === undefined) throw new Error('node A has no pid');
    process.kill(pid, 'SIGKILL');
    await within(ANSWER_TIMEOUT_MS, 'node A to die', a.exited);
    await client.closedWithin(ANSWER_TIMEOUT_MS);
    await agent?.closedWithin(ANSWER_TIMEOUT_MS);
    assert.deepEqual(await fields(id, 'state', 'cc'), ['claimed', '1'], 'Redis still says the client is connected on the dead node');

    // The agent's (next) socket on B is relayed to A, refused: B takes A for dead with the client.
    const unreachable = b.logs.mark();
    const back = await open(b, 'agent', id, session.agent_key);
    await b.logs.waitFor((r) => r.event === 'splice_node_unreachable' && r.session === id && r.silence === 'refused', ANSWER_TIMEOUT_MS, unreachable, 'splice_node_unreachable on node B');
    await back.closedWithin(ANSWER_TIMEOUT_MS);
    const [state, connected, timing, connectByAfter] = await fields(id, 'state', 'cc', 'ct', 'cby');
    assert.deepEqual([state, connected, timing], ['claimed', '0', '1'], 'the client marked gone, its claim timeout running again');
    assert.equal(connectByAfter, connectBy, 'the claim\'s own deadline, not extended');
    assert.ok(Number(connectBy) > Date.now(), `the test reached the dead node's cleanup after the claim's deadline (${CLAIM_TIMEOUT_MS} ms); too slow to say anything`);
    return { id, session, claimedBy, connectBy };
  }

  /** The claim is timed out at its deadline, not before, and its attempt counted once. */
  async function releasedAtDeadline(id: string, claimedBy: number, connectBy: string | null | undefined): Promise<void> {
    await waitUntilAsync(
      async () => (await fields(id, 'state'))[0] === 'waiting',
      Math.max(0, claimedBy - Date.now()) + DEADLINE_SLACK_MS,
      `the offer released within the claim timeout (${CLAIM_TIMEOUT_MS} ms), not the session TTL (${SESSION_TTL})`,
    );
    assert.ok(Date.now() >= Number(connectBy) - 100, 'released at the claim\'s deadline, not before');
    assert.deepEqual(await fields(id, 'att', 'ckd'), ['1', ''], 'the attempt counted once, its claim gone');
    const failed = (r: LogRecord): boolean => r.event === 'pairing_attempt_failed' && r.session === id;
    const records = (): LogRecord[] => nodes.cluster.nodes.flatMap((node) => node.logs.records.filter(failed));
    await waitUntil(() => records().length > 0, ANSWER_TIMEOUT_MS, 'pairing_attempt_failed on a node');
    assert.deepEqual(
      records().map((r) => [r.reason, r.attempts]),
      [['connect_timeout', 1]],
      'recorded once, as a client that never connected',
    );
  }

  it('Security: agent not yet there: the dead node\'s client is released at its claim\'s deadline, counted once, not at the session TTL; the offer pairs again', async () => {
    const { id, session, claimedBy, connectBy } = await claimedOnDyingNode(false);
    // The agent's next socket stays on B (the client no longer holds A).
    const agent = await open(nodes.b, 'agent', id, session.agent_key);
    await waitUntilAsync(async () => (await fields(id, 'ca'))[0] === '1', ANSWER_TIMEOUT_MS, 'the agent attached on node B');
    await releasedAtDeadline(id, claimedBy, connectBy);
    // The offer is usable again: a new claim's client meets the agent on B.
    const second = await pairViaApi(nodes.b, session.nameplate);
    const client = await open(nodes.b, 'client', id, second.client_key);
    await agent.control('peer_connected', 1, ANSWER_TIMEOUT_MS);
    await client.control('peer_connected', 1, ANSWER_TIMEOUT_MS);
    assert.deepEqual(await fields(id, 'state', 'att'), ['claimed', '1']);
  });

  it('Security: agent spliced to the dead node too: the client\'s claim is released at its deadline and counted once; the nameplate can be claimed again', async () => {
    const { id, session, claimedBy, connectBy } = await claimedOnDyingNode(true);
    await releasedAtDeadline(id, claimedBy, connectBy);
    // Claimable again. (The agent's own attachment on the dead node is cleared only by the sweep,
    // once the dead node's lease has ended, 30 s here: cluster-node-sweep.test.ts.)
    const second = await pairViaApi(nodes.b, session.nameplate);
    assert.notEqual(second.client_key, '');
    assert.deepEqual(await fields(id, 'state', 'att', 'ca'), ['claimed', '1', '1']);
  });
});
