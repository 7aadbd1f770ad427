/**
 * Node-to-node splicing (docs/design.md §8.2, cluster-link.ts): an agent socket on node A and a
 * client socket on node B (paired through B's API) exchange frames both ways, unchanged and in
 * order; B relays the client over an internal link that A admits as the client's socket, so A's
 * control frames reach the client too. A link without the cluster key is refused. One real
 * redis-server, two real relay processes on 127.0.0.1 with their real --advertise URLs.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { signNodeRequest } from '../../../src/relay/node-auth.js';
import { splicePath } from '../../../src/relay/cluster-link.js';
import { clusterNodesInSuite, splicedPair } from '../../helpers/cluster-nodes.js';
import { createSessionViaApi, metric, openPeer, pairViaApi } from '../../helpers/relay-process.js';
import type { StartedRelay } from '../../helpers/relay-process.js';
import { startFaultProxy } from '../../helpers/fault-proxy.js';
import type { FaultProxy } from '../../helpers/fault-proxy.js';
import { within } from '../../helpers/wait-until.js';

const PREFIX = 'kp-splice:';
/** The nodes' --max-buffered-bytes (the default). */
const HIGH_WATER_BYTES = 1024 * 1024;
const FRAME_BYTES = 64 * 1024;

/** Scrape `name` until it exceeds `floor`: at most 150 scrapes 200 ms apart. */
async function metricAbove(node: StartedRelay, name: string, floor: number, what: string): Promise<void> {
  for (let attempt = 0; attempt < 150; attempt++) {
    if (((await metric(node, name)) ?? 0) > floor) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`gave up waiting for ${what}`);
}

function sha256(frames: readonly Buffer[]): string {
  const hash = createHash('sha256');
  for (const frame of frames) hash.update(frame);
  return hash.digest('hex');
}

describe('relay cluster: a session spliced across two nodes (two relay processes, one redis-server)', { timeout: 180_000 }, () => {
  const nodes = clusterNodesInSuite({ prefix: PREFIX });

  it('agent on node A, client on node B: a few MiB each way arrive unchanged and in order, and A\'s control frames reach the client', async () => {
    const { sessionId, agent, client } = await splicedPair(nodes.a, nodes.b);
    const established = nodes.a.logs.mark();
    agent.ws.send(JSON.stringify({ type: 'established', resume_window_s: 60 }));
    await nodes.a.logs.waitFor((r) => r.event === 'session_established' && r.session === sessionId, 10_000, established, 'session_established on node A');
    for (const [from, to] of [
      [agent, client],
      [client, agent],
    ] as const) {
      const sent = Array.from({ length: 48 }, (_, i) => randomBytes(1 + ((i * 65_537) % 131_072)));
      const start = to.frames.length;
      for (const frame of sent) from.ws.send(frame);
      await to.until(() => to.frames.length >= start + sent.length, `${sent.length} frames`, 60_000);
      assert.equal(sha256(to.frames.slice(start)), sha256(sent), 'same bytes, same order');
    }
    // The agent leaves on purpose: the client on the other node hears it and is closed as a local one would be.
    agent.ws.close(1000);
    await client.control('peer_disconnected');
    const closed = await client.closedWithin();
    assert.equal(closed.code, 4410, closed.reason);
    await agent.closedWithin();
  });

  it('Security: a splice link without the cluster key is refused (401) and never reaches the session', async () => {
    const { sessionId, agent, client } = await splicedPair(nodes.a, nodes.b);
    const path = splicePath({ role: 'client', sessionId, keyDigest: randomBytes(32), address: '192.0.2.1', tokenName: null });
    const status = await within(
      10_000,
      'the forged link to be answered',
      new Promise<number>((resolve) => {
        const forged = new WebSocket(`${nodes.a.url.replace(/^http/, 'ws')}${path}`, ['kubepair.v1'], {
          headers: signNodeRequest(randomBytes(32), 'http://127.0.0.1:1', { method: 'GET', path }),
        });
        forged.on('unexpected-response', (_req, res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          forged.terminate();
        });
        forged.on('open', () => {
          resolve(101);
          forged.terminate();
        });
        forged.on('error', () => undefined);
      }),
    );
    assert.equal(status, 401);
    await nodes.a.logs.waitFor((r) => r.event === 'splice_link_refused' && r.reason === 'wrong proof', 10_000, 0, 'splice_link_refused');
    // The genuine splice is untouched.
    agent.ws.send(Buffer.from('still here'));
    await client.until(() => client.frames.some((frame) => frame.toString() === 'still here'), 'a frame after the forged link');
    client.ws.close(1000);
    agent.ws.close(1000);
    await Promise.all([client.closedWithin(), agent.closedWithin()]);
  });

  it('a slow client on node B: neither node queues without bound (both pause their sender), and every byte arrives once it reads again', async () => {
    const { agent, client } = await splicedPair(nodes.a, nodes.b);
    const pausesBefore = await Promise.all([nodes.a, nodes.b].map(async (node) => (await metric(node, 'kubepair_relay_backpressure_pauses_total')) ?? 0));
    client.ws.pause();
    const sent = Array.from({ length: 512 }, () => randomBytes(FRAME_BYTES)); // 32 MiB
    for (const frame of sent) agent.ws.send(frame);
    for (const [index, node] of [nodes.a, nodes.b].entries()) {
      await metricAbove(node, 'kubepair_relay_backpressure_pauses_total', pausesBefore[index] ?? 0, `node ${index === 0 ? 'A' : 'B'} to pause its sender`);
    }
    for (const node of [nodes.a, nodes.b]) {
      const peak = (await metric(node, 'kubepair_relay_queued_bytes_peak')) ?? Infinity;
      assert.ok(peak <= HIGH_WATER_BYTES + 4 * FRAME_BYTES, `peak ${peak} bytes queued on ${node.url}`);
    }
    assert.ok(client.frames.length < sent.length, 'the client really was not reading');
    client.ws.resume();
    await client.until(() => client.frames.length >= sent.length, `${sent.length} frames`, 120_000);
    assert.equal(sha256(client.frames), sha256(sent), 'same bytes, same order');
    client.ws.close(1000);
    agent.ws.close(1000);
    await Promise.all([client.closedWithin(), agent.closedWithin()]);
  });

  // Last: it stops node B.
  it('node B shutting down (SIGTERM) closes the client it relays with 4503 (resume elsewhere), and node A suspends the client rather than ending the session', async () => {
    const { sessionId, agent, client } = await splicedPair(nodes.a, nodes.b);
    const established = nodes.a.logs.mark();
    agent.ws.send(JSON.stringify({ type: 'established', resume_window_s: 60 }));
    await nodes.a.logs.waitFor((r) => r.event === 'session_established' && r.session === sessionId, 10_000, established, 'session_established on node A');
    nodes.b.child.kill('SIGTERM');
    const closed = await client.closedWithin(30_000);
    assert.equal(closed.code, 4503, closed.reason);
    await agent.control('peer_suspended');
    await within(30_000, 'node B to exit', nodes.b.exited);
    agent.ws.close(1000);
    await agent.closedWithin();
  });
});

describe('relay cluster: the node relaying a socket watches that endpoint\'s liveness (two relay processes, one redis-server)', { timeout: 120_000 }, () => {
  const nodes = clusterNodesInSuite({ prefix: 'kp-liveness:', args: ['--ping-interval', '500ms', '--peer-timeout', '3s'] });
  let proxy: FaultProxy | undefined;

  before(async () => {
    proxy = await startFaultProxy({ port: nodes.b.port });
  });
  after(async () => {
    await proxy?.close();
  });

  it('a client relayed by node B goes silent (its carrier black-holed): node B cuts it, and node A suspends the client and tells the agent; node B counts it as an open socket meanwhile', async () => {
    const session = await createSessionViaApi(nodes.a);
    const agent = await openPeer(nodes.a, 'agent', session.session_id, session.agent_key);
    const pairing = await pairViaApi(nodes.b, session.nameplate);
    const mark = nodes.b.logs.mark();
    const client = await openPeer({ url: `http://127.0.0.1:${proxy!.port}` }, 'client', session.session_id, pairing.client_key);
    await nodes.b.logs.waitFor((r) => r.event === 'splice_open' && r.session === session.session_id, 10_000, mark, 'splice_open on node B');
    await agent.control('peer_connected');
    agent.ws.send(JSON.stringify({ type: 'established', resume_window_s: 60 }));
    await nodes.a.logs.waitFor((r) => r.event === 'session_established' && r.session === session.session_id, 10_000, 0, 'session_established on node A');
    assert.equal(await metric(nodes.b, 'kubepair_relay_open_sockets', '{role="client"}'), 1, 'the relayed client is an open socket of node B');
    await proxy!.blackHole();
    // Nothing closes and nothing arrives: only node B's pings can tell.
    await nodes.b.logs.waitFor((r) => r.event === 'peer_silent' && r.session === session.session_id && r.role === 'client', 20_000, mark, 'node B to cut the silent client');
    await agent.control('peer_suspended', 1, 20_000);
    assert.ok(((await metric(nodes.b, 'kubepair_relay_limit_hits_total', '{limit="peer_silent"}')) ?? 0) >= 1, 'counted as a peer_silent limit hit on node B');
    assert.equal(await metric(nodes.b, 'kubepair_relay_open_sockets', '{role="client"}'), 0, 'and no longer an open socket there');
    await proxy!.restore();
    client.ws.terminate();
    agent.ws.close(1000);
    await agent.closedWithin();
  });
});
