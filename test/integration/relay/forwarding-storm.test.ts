/**
 * Many sessions forwarding at once through one real relay process (docs/design.md §3; issue 15):
 * since the relay routes every socket's events through one handler object per node and counts
 * forwarded bytes in tallies shared by all sessions (docs/performance.md "Relay forwarding and
 * memory"), a routing mistake would hand one session's frames to another. Each frame here carries
 * its session, direction and sequence number and a body derived from them; every receiver checks
 * every byte, the order, and that nothing else arrived; the relay's counters must add up exactly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectPair, metric, startRelay } from '../../helpers/relay-process.js';
import type { StartedRelay, TestPeer } from '../../helpers/relay-process.js';

const SESSIONS = 12;
const FRAMES_PER_DIRECTION = 24;
const HEADER_BYTES = 12; // session, direction, sequence: three uint32
/** Sizes cycled through: tiny, around one 64 KiB socket read, and several reads long. */
const SIZES = [HEADER_BYTES, 100, 65_536, 65_536 + 17, 200_000, 4_096];

/** The frame `seq` of `session` in `direction` (0 agent to client, 1 client to agent). */
function frameOf(session: number, direction: number, seq: number): Buffer {
  const size = SIZES[(seq + session) % SIZES.length] as number;
  const frame = Buffer.alloc(size);
  frame.writeUInt32BE(session, 0);
  frame.writeUInt32BE(direction, 4);
  frame.writeUInt32BE(seq, 8);
  let x = (session * 7919 + direction * 104_729 + seq * 31) >>> 0;
  for (let i = HEADER_BYTES; i < size; i++) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    frame[i] = x >>> 24;
  }
  return frame;
}

/** Send this side's frames a few at a time, interleaved with every other session's. */
async function sendAll(peer: TestPeer, session: number, direction: number): Promise<number> {
  let bytes = 0;
  for (let seq = 0; seq < FRAMES_PER_DIRECTION; seq++) {
    const frame = frameOf(session, direction, seq);
    bytes += frame.length;
    await new Promise<void>((resolve, reject) => peer.ws.send(frame, { binary: true }, (err) => (err ? reject(err) : resolve())));
    if (seq % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return bytes;
}

function checkReceived(peer: TestPeer, session: number, direction: number): void {
  assert.equal(peer.frames.length, FRAMES_PER_DIRECTION, `session ${session} direction ${direction}: frame count`);
  peer.frames.forEach((frame, seq) => {
    const expected = frameOf(session, direction, seq);
    assert.equal(frame.readUInt32BE(0), session, `session ${session} direction ${direction} frame ${seq}: from another session`);
    assert.equal(frame.readUInt32BE(4), direction, `session ${session} frame ${seq}: wrong direction`);
    assert.equal(frame.readUInt32BE(8), seq, `session ${session} direction ${direction}: out of order at ${seq}`);
    assert.ok(frame.equals(expected), `session ${session} direction ${direction} frame ${seq}: bytes differ`);
  });
}

describe('Security: interleaved sessions through one relay', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    relay = await startRelay({
      args: ['--rate-limit', '10000', '--max-sessions-per-ip', '100', '--max-connections-per-ip', '200', '--max-sessions-per-token', '100'],
    });
  });
  after(() => relay.dispose());

  it('every frame of every session reaches only its own peer, unchanged and in order, and the counters add up', { timeout: 240_000 }, async () => {
    const pairs = [];
    for (let session = 0; session < SESSIONS; session++) {
      const { agent, client } = await connectPair(relay);
      agent.ws.send(JSON.stringify({ type: 'established' }));
      pairs.push({ session, agent, client });
    }
    const sent = await Promise.all(pairs.flatMap(({ session, agent, client }) => [sendAll(agent, session, 0), sendAll(client, session, 1)]));
    await Promise.all(
      pairs.flatMap(({ session, agent, client }) => [
        client.until(() => client.frames.length >= FRAMES_PER_DIRECTION, `session ${session}: client frames`, 60_000),
        agent.until(() => agent.frames.length >= FRAMES_PER_DIRECTION, `session ${session}: agent frames`, 60_000),
      ]),
    );
    for (const { session, agent, client } of pairs) {
      checkReceived(client, session, 0);
      checkReceived(agent, session, 1);
    }
    const total = sent.reduce((sum, bytes) => sum + bytes, 0);
    const toClient = sent.filter((_, i) => i % 2 === 0).reduce((sum, bytes) => sum + bytes, 0);
    assert.equal(await metric(relay, 'kubepair_relay_forwarded_bytes_total'), total, 'forwarded bytes: each counted once');
    assert.equal(await metric(relay, 'kubepair_relay_forwarded_bytes_total', '{direction="agent_to_client",splice="local"}'), toClient);
    assert.equal(await metric(relay, 'kubepair_relay_forwarded_frames_total'), 2 * SESSIONS * FRAMES_PER_DIRECTION, 'forwarded frames');
    // Read again: counts handed to the counters on the first read are not counted twice.
    assert.equal(await metric(relay, 'kubepair_relay_forwarded_bytes_total'), total, 'forwarded bytes after a second read');
    for (const { agent, client } of pairs) {
      agent.ws.close();
      client.ws.close();
    }
  });
});
