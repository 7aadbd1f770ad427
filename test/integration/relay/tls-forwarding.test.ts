/**
 * Forwarding through a TLS relay (src/relay/tls-writes.ts, frame-path.ts; issue 15) against a
 * real relay process with --tls-cert: a storm of binary frames of random sizes (small ones that
 * are joined into one write, large ones written on their own, headers written in place before a
 * payload or on their own), written in random pieces, both ways at once. The invariant: each
 * side receives exactly the frames sent, byte for byte, in order.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { TestPeer, startRelay, within } from '../../helpers/relay-process.js';
import type { StartedRelay } from '../../helpers/relay-process.js';
import { RELAY_TLS_CERT, RELAY_TLS_KEY } from '../../helpers/relay-tls-fixtures.js';
import { clientFrame, writeInPieces } from '../../helpers/websocket-client-frames.js';

const T = { timeout: 120_000 };

/** One JSON request to the TLS relay, trusting its certificate. */
function post(relay: StartedRelay, ca: Buffer, path: string, token: string, body: unknown): Promise<Record<string, string>> {
  const url = new URL(relay.url + path);
  return within(
    10_000,
    `POST ${path}`,
    new Promise((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', ca, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, string>));
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    }),
  );
}

function openTlsPeer(relay: StartedRelay, ca: Buffer, role: 'agent' | 'client', sessionId: string, key: string): Promise<TestPeer> {
  const ws = new WebSocket(`${relay.url.replace(/^http/, 'ws')}/ws/v1/${role}/${sessionId}`, ['kubepair.v1'], {
    headers: { authorization: `Bearer ${key}` },
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
    ca,
  });
  const peer = new TestPeer(ws);
  return within(10_000, `${role} socket to open`, new Promise((resolve, reject) => ws.once('open', () => resolve(peer)).once('error', reject)));
}

describe('Security: a TLS relay forwards frames byte for byte (tls-writes.ts, frame-path.ts)', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  let ca: Buffer;
  before(async () => {
    ca = await readFile(RELAY_TLS_CERT);
    relay = await startRelay({ args: ['--tls-cert', RELAY_TLS_CERT, '--tls-key', RELAY_TLS_KEY, '--ping-interval', '50m', '--peer-timeout', '60m', '--rate-limit', '1000'] });
  });
  after(() => relay.dispose());

  it('a storm of random frame sizes in random pieces, both ways at once: each side gets exactly the frames sent, in order', T, async () => {
    const session = await post(relay, ca, '/api/v1/sessions', relay.tokens.agent, { protocol: 'kubepair/1' });
    const agent = await openTlsPeer(relay, ca, 'agent', session.session_id as string, session.agent_key as string);
    const pairing = await post(relay, ca, '/api/v1/pair', relay.tokens.client, { nameplate: session.nameplate });
    const client = await openTlsPeer(relay, ca, 'client', session.session_id as string, pairing.client_key as string);
    await agent.control('peer_connected');
    await client.control('peer_connected');
    const sizes = [0, 1, 125, 126, 1000, 16_383, 16_384, 65_535, 65_536, 100_000, 262_144, 262_154, 1_000_000];
    const sent = Array.from({ length: 300 }, () => randomBytes(sizes[randomInt(0, sizes.length)] as number));
    const back = Array.from({ length: 120 }, () => randomBytes(sizes[randomInt(0, sizes.length)] as number));
    const socketOf = (peer: TestPeer): Socket => (peer.ws as unknown as { _socket: Socket })._socket;
    await Promise.all([writeInPieces(socketOf(agent), Buffer.concat(sent.map((payload) => clientFrame(2, payload)))), writeInPieces(socketOf(client), Buffer.concat(back.map((payload) => clientFrame(2, payload))))]);
    await client.until(() => client.frames.length >= sent.length, 'every frame at the client', 90_000);
    await agent.until(() => agent.frames.length >= back.length, 'every frame at the agent', 90_000);
    assert.equal(client.frames.length, sent.length, 'no frame more at the client');
    assert.equal(agent.frames.length, back.length, 'no frame more at the agent');
    for (let i = 0; i < sent.length; i++) assert.ok(client.frames[i]?.equals(sent[i] as Buffer), `agent → client frame ${i} (${sent[i]?.length} bytes) unchanged`);
    for (let i = 0; i < back.length; i++) assert.ok(agent.frames[i]?.equals(back[i] as Buffer), `client → agent frame ${i} (${back[i]?.length} bytes) unchanged`);
    assert.ok(agent.ws.readyState === WebSocket.OPEN && client.ws.readyState === WebSocket.OPEN, 'both sockets still open');
    agent.ws.close();
    client.ws.close();
  });
});
