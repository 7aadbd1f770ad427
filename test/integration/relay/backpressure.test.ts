/**
 * Backpressure through a real relay process (docs/design.md §3: bounded bytes queued per
 * session; CONVENTIONS §7): a client that stops reading must not make the relay queue the agent's
 * stream. Measured from the relay's own gauge of the most bytes it ever queued towards a peer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connectPair, metric, startRelay } from '../../helpers/relay-process.js';
import type { StartedRelay } from '../../helpers/relay-process.js';

const BOUND = 256 * 1024; // --max-buffered-bytes for this test
const FRAME = 64 * 1024;
const TOTAL = 64 * 1024 * 1024; // far more than the bound plus every kernel socket buffer

describe('Security: relay backpressure', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    relay = await startRelay({ args: ['--rate-limit', '1000', '--max-buffered-bytes', `${BOUND}`] });
  });
  after(() => relay.dispose());

  it('a slow reader does not make the relay buffer beyond its bound, and every byte arrives in order', { timeout: 60_000 }, async () => {
    const { agent, client } = await connectPair(relay);
    client.ws.pause(); // the client stops reading its socket
    const mark = relay.logs.mark();
    const sent = createHash('sha256');
    for (let offset = 0, i = 0; offset < TOTAL; offset += FRAME, i++) {
      const frame = Buffer.alloc(FRAME, i % 251);
      frame.writeUInt32BE(i, 0);
      sent.update(frame);
      agent.ws.send(frame);
    }
    // The relay stops reading the agent once the client's queue passes the bound...
    await relay.logs.waitFor((r) => r.event === 'backpressure_on' && r.direction === 'agent_to_client', 20_000, mark, 'backpressure_on');
    // ...so most of the stream stays queued in the agent instead of in the relay.
    assert.ok(agent.ws.bufferedAmount > TOTAL / 2, `the agent still holds ${agent.ws.bufferedAmount} bytes: the relay stopped reading`);
    const peak = (await metric(relay, 'kubepair_relay_queued_bytes_peak')) ?? Infinity;
    assert.ok(peak <= BOUND + 2 * FRAME, `the relay queued at most ${peak} bytes towards the slow reader (bound ${BOUND} + one socket read)`);
    assert.ok(((await metric(relay, 'kubepair_relay_backpressure_pauses_total')) ?? 0) >= 1);

    // The reader catches up: everything arrives, unchanged and in order.
    const received = createHash('sha256');
    let bytes = 0;
    let next = 0;
    let ordered = true;
    const done = new Promise<void>((resolve) => {
      client.ws.on('message', (data: Buffer) => {
        if (data.readUInt32BE(0) !== next++) ordered = false;
        received.update(data);
        bytes += data.length;
        if (bytes === TOTAL) resolve();
      });
    });
    client.frames.length = 0;
    client.ws.resume();
    await done;
    assert.ok(ordered, 'frames arrive in order');
    assert.equal(received.digest('hex'), sent.digest('hex'), 'the stream arrives unchanged');
    const finalPeak = (await metric(relay, 'kubepair_relay_queued_bytes_peak')) ?? Infinity;
    assert.ok(finalPeak <= BOUND + 2 * FRAME, `peak stayed bounded through the catch-up (${finalPeak})`);
    agent.ws.close();
    client.ws.close();
  });
});
