/**
 * The sweep of a dead node's sessions (docs/operations.md "Relay cluster", node-sweep.ts): a node
 * killed with SIGKILL takes its sockets with it, but Redis still says their sides are connected
 * there. Before, that was noticed only when a socket of the session was relayed to the dead node;
 * now every live node sweeps, on its own timer, the sessions of nodes whose lease has ended. No
 * endpoint sends or reconnects anything until the sweep is seen:
 *
 * - an established session (resume window 60 s) held on the killed node: both sides are marked
 *   suspended within two leases (the lease ends, then the sweep watches it end for a lease) plus one sweep interval, and both endpoints then resume through a
 *   live node without being relayed to the dead one;
 * - an offer whose pairing agent was on the killed node: withdrawn, as when the agent leaves, so a
 *   client claiming the nameplate afterwards is refused at once (404 KP_ERR_RELAY_NAMEPLATE_UNKNOWN)
 *   instead of being relayed to the dead node until its claim times out.
 *
 * The nodes run with `--node-lease 6s` (renewed every 2 s, a sweep every 1.5 to 2.5 s). Real
 * parts: one redis-server, relay processes sharing it (cluster-nodes.ts), raw WebSockets with the
 * session's keys; the node to kill is started by the test and killed by its pid.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterNodesInSuite, splicedPair } from '../../helpers/cluster-nodes.js';
import { api, createSessionViaApi, errorCode } from '../../helpers/relay-process.js';
import type { LogRecord, StartedRelay } from '../../helpers/relay-process.js';
import { waitUntil, waitUntilAsync, within } from '../../helpers/wait-until.js';

const PREFIX = 'kp-node-sweep:';
const LEASE_MS = 6_000;
/** The longest sweep interval: a third of the lease, +25%. */
const SWEEP_INTERVAL_MAX_MS = (LEASE_MS / 3) * 1.25;
/** Slack for a loaded machine: the last renewal before the kill, Redis round trips, the poll. */
const SLACK_MS = 4_000;
const ANSWER_MS = 10_000;

describe('relay cluster: the sessions of a node killed with SIGKILL are swept without waiting for traffic (relay processes, one redis-server)', { timeout: 180_000 }, () => {
  const nodes = clusterNodesInSuite({ prefix: PREFIX, args: ['--node-lease', `${LEASE_MS / 1000}s`, '--session-ttl', '10m'] });
  const { fields, open } = nodes;

  /** Kill `node` by its pid; resolves with the time it was gone. */
  async function kill(node: StartedRelay): Promise<number> {
    const pid = node.child.pid;
    if (pid === undefined) throw new Error('the node has no pid');
    process.kill(pid, 'SIGKILL');
    await within(ANSWER_MS, 'the node to die', node.exited);
    return Date.now();
  }

  /** The `node_swept` lines the live nodes logged for `dead`. */
  function swept(dead: string, live: readonly StartedRelay[]): LogRecord[] {
    return live.flatMap((node) => node.logs.records.filter((r) => r.event === 'node_swept' && r.node === dead));
  }

  it('Security: an established session held on the killed node: both sides are marked suspended within two leases plus a sweep interval, and resume through a live node', async (t) => {
    const doomed = await nodes.cluster.addNode();
    const dead = nodes.cluster.advertised(doomed);
    // The agent on the doomed node, the client relayed to it from B: both sides' tags name the doomed node.
    const pair = await splicedPair(doomed, nodes.b);
    nodes.track(pair.agent, pair.client);
    const established = doomed.logs.mark();
    pair.agent.ws.send(JSON.stringify({ type: 'established', resume_window_s: 60 }));
    await doomed.logs.waitFor((r) => r.event === 'resume_window' && r.session === pair.sessionId, ANSWER_MS, established, 'the resume window on the doomed node');
    const id = pair.sessionId;
    const [agentTag, clientTag] = await fields(id, 'ta', 'tc');
    assert.ok(agentTag?.startsWith(`${dead} `) && clientTag?.startsWith(`${dead} `), 'both sides held by the doomed node');
    const live = [nodes.a, nodes.b];
    const marks = live.map((node) => node.logs.mark());

    const killedAt = await kill(doomed);
    await pair.agent.closedWithin(ANSWER_MS);
    await pair.client.closedWithin(ANSWER_MS);
    // Nobody reconnects: only the sweep can clear the dead node's sides.
    await waitUntilAsync(
      async () => {
        const [agent, client] = await fields(id, 'ca', 'cc');
        return agent === '0' && client === '0';
      },
      2 * LEASE_MS + SWEEP_INTERVAL_MAX_MS + SLACK_MS,
      'both sides marked suspended within two leases (the lease, then one watched without it) plus one sweep interval',
      200,
    );
    const sweptAfterMs = Date.now() - killedAt;
    t.diagnostic(`suspended ${sweptAfterMs} ms after the kill (lease ${LEASE_MS} ms, sweep every ${LEASE_MS / 3} ms ±25%)`);
    const [state, resumeBy] = await fields(id, 'state', 'rb');
    assert.equal(state, 'established');
    assert.ok(Number(resumeBy) > Date.now(), `suspended, its resume window running (rb ${resumeBy}), after ${sweptAfterMs} ms`);
    await waitUntil(() => swept(dead, live).length > 0, ANSWER_MS, 'node_swept logged by a live node');
    const lines = swept(dead, live);
    assert.equal(lines.reduce((sum, r) => sum + Number(r['suspended']), 0), 2, `both sides suspended, once: ${JSON.stringify(lines)}`);
    assert.ok(
      live.every((node, i) => !node.logs.records.slice(marks[i]).some((r) => r.event === 'splice_node_unreachable')),
      'found by the sweep, not by a socket relayed to the dead node',
    );

    // Both endpoints come back through B: admitted there, not relayed to the dead node.
    const client = await open(nodes.b, 'client', id, pair.clientKey);
    const agent = await open(nodes.b, 'agent', id, pair.agentKey);
    await Promise.all([agent.control('peer_resumed', 1, ANSWER_MS), client.control('peer_resumed', 1, ANSWER_MS)]);
    agent.ws.send(Buffer.from('after the sweep'));
    await client.until(() => client.frames.some((frame) => frame.toString() === 'after the sweep'), 'bytes through the resumed session', ANSWER_MS);
  });

  it('Security: an offer whose pairing agent was on the killed node is withdrawn: a client claiming its nameplate afterwards is refused at once, not relayed to the dead node', async (t) => {
    const doomed = await nodes.cluster.addNode();
    const dead = nodes.cluster.advertised(doomed);
    const session = await createSessionViaApi(nodes.b);
    const id = session.session_id;
    await open(doomed, 'agent', id, session.agent_key);
    await waitUntilAsync(async () => (await fields(id, 'ca'))[0] === '1', ANSWER_MS, 'the agent attached on the doomed node');
    const live = [nodes.a, nodes.b];
    const killedAt = await kill(doomed);
    await waitUntilAsync(
      async () => (await nodes.cluster.store.exists(`${PREFIX}s:${id}`)) === 0,
      2 * LEASE_MS + SWEEP_INTERVAL_MAX_MS + SLACK_MS,
      'the offer withdrawn within two leases plus one sweep interval',
      200,
    );
    const sweptAfterMs = Date.now() - killedAt;
    t.diagnostic(`offer withdrawn ${sweptAfterMs} ms after the kill (lease ${LEASE_MS} ms, sweep every ${LEASE_MS / 3} ms ±25%)`);
    const destroyed = (): LogRecord[] => live.flatMap((node) => node.logs.records.filter((r) => r.event === 'session_destroyed' && r.session === id));
    await waitUntil(() => swept(dead, live).length > 0 && destroyed().length > 0, ANSWER_MS, 'node_swept and session_destroyed logged by a live node');
    const lines = swept(dead, live);
    assert.equal(lines.reduce((sum, r) => sum + Number(r['ended']), 0), 1, `the session ended once: ${JSON.stringify(lines)}`);
    const ended = destroyed();
    assert.deepEqual(ended.map((r) => r['reason']), ['agent_left'], 'recorded once, as an agent that left');

    const started = Date.now();
    for (const node of live) {
      const answer = await api(node, 'POST', '/api/v1/pair', { token: node.tokens.client, body: { nameplate: session.nameplate } });
      assert.equal(answer.status, 404, `after ${sweptAfterMs} ms: ${JSON.stringify(answer.body)}`);
      assert.equal(errorCode(answer), 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN');
    }
    assert.ok(Date.now() - started < ANSWER_MS, 'refused at once');
  });
});
