/**
 * Acknowledged records and resumption across carrier generations (docs/design.md §8.1): the channel
 * alone, over in-memory sockets spliced by a test relay that can cut, black-hole, replace and
 * tamper with them. The randomized storm is in resume-storm.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { MemoryTransport, SecureChannel, runAgentHandshake, runClientHandshake } from '../../../src/channel/index.js';
import { encodeResume, isResumeFrame } from '../../../src/channel/resume-message.js';
import type { ResumeInfo } from '../../../src/channel/secure-channel.js';
import { ACK_FRAME_BYTES, InnerType, RecordOpener, RecordSealer } from '../../../src/crypto/records.js';
import { encodeControlMessage } from '../../../src/channel/control-message.js';
import type { KubepairError } from '../../../src/errors/index.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { within } from '../../helpers/channel-pair.js';
import type { ResumablePair } from '../../helpers/resumable-pair.js';
import { RESUME_CODE, Sink, handshakeThroughRelay, pairKeepingResumeKeys, pairResumable, resumeFrames, turns } from '../../helpers/resumable-pair.js';
import { SplicingRelay } from '../../helpers/splicing-relay.js';
import type { Direction, TamperAction } from '../../helpers/relay-in-the-middle.js';
import { waitUntil } from '../../helpers/wait-until.js';

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Write `data` in `chunk`-byte pieces, honouring backpressure. */
async function writeAll(channel: SecureChannel, data: Buffer, chunk = 16 * 1024): Promise<void> {
  for (let offset = 0; offset < data.length; offset += chunk) {
    if (!channel.mux.write(data.subarray(offset, offset + chunk))) await within(once(channel.mux, 'drain'), 10_000, 'drain');
  }
}

async function settled({ agent, client }: ResumablePair): Promise<void> {
  await waitUntil(
    () => agent.stats.retainedRecords === 0 && client.stats.retainedRecords === 0,
    5000,
    'both retransmit queues to empty',
  );
}

function closeAll({ agent, client }: ResumablePair): void {
  agent.close();
  client.close();
}

/** The error `channel` closed with, within a bound. */
async function abortOf(channel: SecureChannel, what: string): Promise<KubepairError | undefined> {
  return within(channel.closed, 3000, what);
}

/** After a fatal abort the keys are gone: nothing can be sent, and no resume can start. */
async function assertDead(channel: SecureChannel, name: string): Promise<void> {
  assert.ok(channel.isClosed, `${name}: closed`);
  assert.throws(() => channel.sendControl({ type: 'probe' }), { code: 'KP_ERR_CHANNEL_CLOSED' }, `${name}: no more records`);
  await assert.rejects(channel.resume(new MemoryTransport()), { code: 'KP_ERR_CHANNEL_CLOSED' }, `${name}: no resume`);
}

describe('acknowledged records', () => {
  it('on a healthy link both retransmit queues empty out, and ACK frames are the fixed 25 bytes', async () => {
    const pair = await pairResumable();
    const { agent, client, relay } = pair;
    const atClient = new Sink(client);
    const atAgent = new Sink(agent);
    const down = randomBytes(3 * 1024 * 1024 + 11);
    const up = randomBytes(512 * 1024 + 3);
    await Promise.all([writeAll(agent, down), writeAll(client, up)]);
    await waitUntil(() => atClient.length === down.length && atAgent.length === up.length, 10_000, 'all bytes');
    await settled(pair);
    assert.equal(sha(atClient.bytes), sha(down), 'agent → client bytes');
    assert.equal(sha(atAgent.bytes), sha(up), 'client → agent bytes');
    assert.equal(agent.stats.retainedBytes, 0, 'agent keeps nothing');
    assert.ok(client.stats.acknowledged > 0 && agent.stats.acknowledged > 0, 'both were acknowledged');
    assert.ok(relay.seen.c2a.some((seen) => seen.frame.length === ACK_FRAME_BYTES), 'the client sent ACKs');
    closeAll(pair);
  });

  it('ACKs never elicit ACKs: once both sides are idle no frame crosses any more', async () => {
    const pair = await pairResumable();
    const { agent, client, relay } = pair;
    client.sendControl({ type: 'probe' });
    agent.sendControl({ type: 'probe' });
    await settled(pair);
    const frames = relay.seen.a2c.length + relay.seen.c2a.length;
    // Nothing is pending on either side; any ACK answering an ACK would show up here.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(relay.seen.a2c.length + relay.seen.c2a.length, frames, 'no frame after the last ACK');
    closeAll(pair);
  });

  it('the retained bytes are bounded: a suspended writer waits at the bound, drops nothing, and all arrives after the resume', async () => {
    const bound = 256 * 1024;
    const pair = await pairResumable({ retransmitMaxBytes: bound });
    const { agent, client, relay } = pair;
    const atClient = new Sink(client);
    agent.suspend();
    const data = randomBytes(2 * 1024 * 1024);
    const chunk = 16 * 1024;
    // Write everything without waiting: what the channel does not accept stays in mux's buffer.
    for (let offset = 0; offset < data.length; offset += chunk) agent.mux.write(data.subarray(offset, offset + chunk));
    await turns(20);
    const held = agent.stats.retainedBytes;
    assert.ok(held >= bound - chunk, `it sealed up to the bound (${held} bytes)`);
    assert.ok(held < bound + chunk + 64, `and not past it by more than one write (${held} bytes)`);
    assert.ok(agent.mux.writableLength > 0, 'the rest waits in the stream, unsealed');
    await within(agent.resume(relay.connect('agent')), 3000, 'resume');
    await waitUntil(() => atClient.length === data.length, 10_000, 'all bytes after the resume');
    assert.equal(sha(atClient.bytes), sha(data), 'every byte once, in order');
    await settled(pair);
    closeAll(pair);
  });

  it('Security: an acknowledgement that goes backwards changes nothing: nothing taken back, nothing sent again, the session stays up', async () => {
    // The test plays the client with the client's own keys: ACKs are sealed, so only a peer
    // holding the keys can send one; a relay replaying an older ACK frame fails its open.
    const { relay, agent: a, client: c } = await handshakeThroughRelay();
    const agent = new SecureChannel(a, { resumable: true });
    const atAgent = new Sink(agent);
    const sealer = new RecordSealer(c.send);
    const opener = new RecordOpener(c.receive);
    const opened: InnerType[] = [];
    c.inbox.handOff({ onFrame: (frame) => opened.push(opener.open(frame).type), onClose: () => undefined });
    const toAgent = (frame: Uint8Array): void => void c.inbox.transport.send(frame);
    for (let n = 0; n < 3; n++) agent.sendControl({ type: 'probe', n });
    await waitUntil(() => opened.length === 3, 2000, 'three records at the client');
    toAgent(sealer.sealAck(3));
    await waitUntil(() => agent.stats.acknowledged === 3, 2000, 'the agent takes the ACK');
    assert.equal(agent.stats.retainedRecords, 0, 'acknowledged records are dropped');
    const sentBefore = relay.seen.a2c.length;
    toAgent(sealer.sealAck(1));
    toAgent(sealer.sealAck(0));
    // A control after the regressing ACKs: once it is delivered, both ACKs were processed.
    toAgent(sealer.seal(InnerType.CONTROL, encodeControlMessage({ type: 'after' })));
    await waitUntil(() => atAgent.controls.length === 1, 2000, 'the control after the ACKs');
    await waitUntil(() => opened.length === 4, 2000, "the agent's ACK of that control");
    assert.equal(agent.isClosed, false, 'an old count is old news, not an error (a retransmitted ACK carries one)');
    assert.equal(agent.stats.acknowledged, 3, 'the acknowledged count never goes back');
    assert.equal(agent.stats.retainedRecords, 0, 'nothing taken back into the queue');
    assert.ok(
      relay.seen.a2c.slice(sentBefore).every((seen) => seen.frame.length === ACK_FRAME_BYTES),
      'the agent sent nothing again (only its ACK of the control)',
    );
    // Still bounded from above: an ACK past what was sent ends the session.
    toAgent(sealer.sealAck(agent.stats.sealed + 1));
    const error = await abortOf(agent, 'an ACK past what was sent');
    assert.equal(error?.code, 'KP_ERR_CHANNEL_PROTOCOL', error?.message);
    c.inbox.dispose();
    opener.wipe();
    sealer.wipe();
  });

  it('Security: an ACK for records never sent aborts the session (KP_ERR_CHANNEL_PROTOCOL)', async () => {
    // The ACK comes from a peer that holds the keys: the test seals it with the client's key.
    const { agent, client, relay } = await pairKeepingResumeKeysWithSealer();
    relay.inject('c2a', client.forgeAck(1000));
    const error = await abortOf(agent, 'agent aborts');
    assert.equal(error?.code, 'KP_ERR_CHANNEL_PROTOCOL', error?.message);
    client.channel.close();
  });
});

describe('resumption', () => {
  it('a cut of the client carrier mid-stream: both directions arrive whole, once, in order', async () => {
    const pair = await pairResumable();
    const { agent, client, relay } = pair;
    const atClient = new Sink(client);
    const atAgent = new Sink(agent);
    const down = randomBytes(2 * 1024 * 1024);
    const up = randomBytes(1024 * 1024);
    const writing = Promise.all([writeAll(agent, down), writeAll(client, up)]);
    await waitUntil(() => atClient.length > 256 * 1024, 5000, 'some bytes before the cut');
    relay.cut('client');
    await within(once(client, 'suspend'), 2000, 'client suspends');
    const agentResumed = new Promise<ResumeInfo>((resolve) => agent.once('resume', resolve));
    const info = await within(client.resume(relay.connect('client')), 3000, 'resume');
    assert.equal(info.generation, 1);
    assert.equal(info.initiatedByPeer, false);
    assert.ok(Number.isSafeInteger(info.outageMs) && info.outageMs >= 0, `the client's outage is measured (${info.outageMs})`);
    const agentInfo = await within(agentResumed, 2000, 'the agent resumed too');
    assert.equal(agentInfo.initiatedByPeer, true);
    assert.equal(agentInfo.outageMs, 0, "the agent's carrier never dropped");
    await within(writing, 10_000, 'writers finish');
    await waitUntil(() => atClient.length >= down.length && atAgent.length >= up.length, 10_000, 'all bytes');
    assert.equal(sha(atClient.bytes), sha(down), 'agent → client');
    assert.equal(sha(atAgent.bytes), sha(up), 'client → agent');
    await settled(pair);
    assert.equal(agent.state, 'live');
    closeAll(pair);
  });

  it('a cut of the agent carrier: the client answers on its own carrier (initiated by the peer)', async () => {
    const pair = await pairResumable();
    const { agent, client, relay } = pair;
    const atClient = new Sink(client);
    const atAgent = new Sink(agent);
    const down = randomBytes(1024 * 1024);
    const up = randomBytes(1024 * 1024);
    const peerResumed = new Promise<ResumeInfo>((resolve) => client.once('resume', resolve));
    const writing = Promise.all([writeAll(agent, down), writeAll(client, up)]);
    await waitUntil(() => atAgent.length > 128 * 1024, 5000, 'some bytes before the cut');
    relay.cut('agent');
    await within(once(agent, 'suspend'), 2000, 'agent suspends');
    await within(agent.resume(relay.connect('agent')), 3000, 'resume');
    const info = await within(peerResumed, 2000, 'client resumed too');
    assert.equal(info.initiatedByPeer, true);
    await within(writing, 10_000, 'writers finish');
    await waitUntil(() => atClient.length >= down.length && atAgent.length >= up.length, 10_000, 'all bytes');
    assert.equal(sha(atClient.bytes), sha(down));
    assert.equal(sha(atAgent.bytes), sha(up));
    closeAll(pair);
  });

  it('both carriers cut at once (a relay restart): both resume at the same time, either side first', async () => {
    for (const holdWhileAway of [true, false]) {
      const pair = await pairResumable();
      const { agent, client, relay } = pair;
      relay.holdWhileAway = holdWhileAway;
      const atClient = new Sink(client);
      const atAgent = new Sink(agent);
      agent.sendControl({ type: 'probe', n: 1 });
      relay.cut('agent');
      relay.cut('client');
      await within(Promise.all([once(agent, 'suspend'), once(client, 'suspend')]), 2000, 'both suspend');
      agent.sendControl({ type: 'probe', n: 2 });
      client.sendControl({ type: 'probe', n: 3 });
      await within(Promise.all([agent.resume(relay.connect('agent')), client.resume(relay.connect('client'))]), 3000, `resume (hold ${holdWhileAway})`);
      await waitUntil(() => atClient.controls.length === 2 && atAgent.controls.length === 1, 3000, 'controls');
      assert.deepEqual(atClient.controls.map((m) => m['n']), [1, 2], `hold ${holdWhileAway}: agent → client once, in order`);
      assert.deepEqual(atAgent.controls.map((m) => m['n']), [3], `hold ${holdWhileAway}: client → agent`);
      await settled(pair);
      closeAll(pair);
    }
  });

  it('a black-holed carrier: the owed acknowledgement shows it, the endpoint suspends it itself and resumes on a new one', async () => {
    const pair = await pairResumable();
    const { agent, client, relay } = pair;
    const atAgent = new Sink(agent);
    client.sendControl({ type: 'warm-up' });
    await settled(pair);
    assert.equal(client.stats.unacknowledgedMs, 0, 'a settled link owes no acknowledgement');
    relay.blackhole('client');
    for (let n = 0; n < 5; n++) client.sendControl({ type: 'probe', n });
    await turns(5);
    assert.equal(atAgent.controls.length, 1, 'nothing passes the black hole');
    // What an endpoint's acknowledgement deadline watches: the owed ACK only grows.
    await waitUntil(() => client.stats.unacknowledgedMs >= 100, 3000, 'the acknowledgement is overdue');
    client.suspend();
    assert.equal(client.stats.unacknowledgedMs, 0, 'nothing is owed without a carrier');
    await within(client.resume(relay.connect('client')), 3000, 'resume');
    await waitUntil(() => atAgent.controls.length === 6, 3000, 'the five controls');
    assert.deepEqual(atAgent.controls.slice(1).map((m) => m['n']), [0, 1, 2, 3, 4]);
    await settled(pair);
    assert.equal(client.stats.unacknowledgedMs, 0, 'acknowledged again after the resume');
    closeAll(pair);
  });

  it('records sealed under an old key are retransmitted as they are across a KEY_UPDATE lost in the outage', async () => {
    // Four slots per key: the agent's 12 controls are sealed under 4 keys.
    const pair = await pairResumable({ records: { keyUpdateLimit: 4 } });
    const { agent, client, relay } = pair;
    const atClient = new Sink(client);
    const atAgent = new Sink(agent);
    agent.sendControl({ type: 'probe', n: 0 });
    await waitUntil(() => atClient.controls.length === 1, 2000, 'first control');
    // From here the relay loses every agent frame until the cut: records under key 0, the
    // KEY_UPDATE, records under key 1 ...
    relay.tamper = (direction) => (direction === 'a2c' ? { kind: 'drop' } : { kind: 'forward' });
    for (let n = 1; n < 6; n++) agent.sendControl({ type: 'probe', n });
    client.sendControl({ type: 'probe', n: 100 });
    await turns(5);
    relay.cut('client');
    await within(once(client, 'suspend'), 2000, 'suspend');
    relay.tamper = () => ({ kind: 'forward' });
    // ... and during the outage more keys pass.
    for (let n = 6; n < 12; n++) agent.sendControl({ type: 'probe', n });
    for (let n = 101; n < 104; n++) client.sendControl({ type: 'probe', n });
    await within(client.resume(relay.connect('client')), 3000, 'resume');
    await waitUntil(() => atClient.controls.length === 12 && atAgent.controls.length === 4, 3000, 'every control');
    assert.deepEqual(atClient.controls.map((m) => m['n']), [...Array(12).keys()], 'agent → client across 3 key updates');
    assert.deepEqual(atAgent.controls.map((m) => m['n']), [100, 101, 102, 103], 'client → agent');
    await settled(pair);
    // The session-wide counts ran on through the key updates: every record sealed was received.
    await waitUntil(() => client.stats.received === agent.stats.sealed, 2000, 'counts agree');
    assert.ok(agent.stats.sealed >= 12 + 3, `12 controls and 3 KEY_UPDATEs at least (${agent.stats.sealed})`);
    closeAll(pair);
  });

  it('ACK records the sender no longer holds are skipped by the resuming peer', async () => {
    const pair = await pairResumable();
    const { agent, client, relay } = pair;
    const atAgent = new Sink(agent);
    // The client's ACK of this record is lost, and the client keeps no copy (nothing of its own is unacknowledged).
    relay.tamper = (direction, _index, frame) => (direction === 'c2a' && frame.length === ACK_FRAME_BYTES ? { kind: 'drop' } : { kind: 'forward' });
    agent.sendControl({ type: 'probe', n: 0 });
    await waitUntil(() => client.stats.sealed === 1, 2000, 'the client ACK');
    assert.equal(client.stats.retainedRecords, 0, 'the ACK is not kept');
    relay.tamper = () => ({ kind: 'forward' });
    relay.cut('agent');
    await within(once(agent, 'suspend'), 2000, 'suspend');
    assert.equal(agent.stats.received, 0, 'the agent never saw the ACK');
    await within(agent.resume(relay.connect('agent')), 3000, 'resume');
    assert.equal(agent.stats.received, 1, 'it skipped the ACK slot the client declared');
    client.sendControl({ type: 'probe', n: 1 });
    await waitUntil(() => atAgent.controls.length === 1, 2000, 'the next record opens in the right slot');
    assert.equal(atAgent.controls[0]?.['n'], 1);
    await settled(pair);
    closeAll(pair);
  });

  it('a failed attempt leaves the session suspended: closed carrier, timeout, abort; the next attempt resumes', async () => {
    const pair = await pairResumable();
    const { agent, client, relay } = pair;
    const atAgent = new Sink(agent);
    relay.cut('client');
    await within(once(client, 'suspend'), 2000, 'suspend');
    client.sendControl({ type: 'probe', n: 0 });
    // 1. The new carrier closes before the agent answers.
    relay.tamper = (direction) => (direction === 'c2a' ? { kind: 'drop' } : { kind: 'forward' });
    const first = client.resume(relay.connect('client'));
    relay.cut('client');
    await assert.rejects(within(first, 2000, 'closed attempt'), { code: 'KP_ERR_TRANSPORT_CLOSED' });
    assert.equal(client.state, 'suspended');
    // 2. Nobody answers.
    await assert.rejects(within(client.resume(relay.connect('client'), { timeoutMs: 100 }), 2000, 'timeout'), {
      code: 'KP_ERR_RESUME_TIMEOUT',
    });
    assert.equal(client.state, 'suspended');
    // 3. The caller gives up.
    const controller = new AbortController();
    const third = client.resume(relay.connect('client'), { signal: controller.signal });
    controller.abort();
    await assert.rejects(within(third, 2000, 'abort'), { code: 'KP_ERR_ABORTED' });
    // 4. A working carrier.
    relay.tamper = () => ({ kind: 'forward' });
    const info = await within(client.resume(relay.connect('client')), 3000, 'resume');
    assert.equal(info.generation, 4, 'each attempt used a new generation');
    await waitUntil(() => atAgent.controls.length === 1, 2000, 'the control');
    assert.equal(agent.isClosed, false);
    closeAll(pair);
  });

  it('an answer lost with its carrier (a race, no attacker): the next generation resumes, nothing lost or doubled', async () => {
    const pair = await pairResumable();
    const { agent, client, relay } = pair;
    const atClient = new Sink(client);
    relay.cut('client');
    await within(once(client, 'suspend'), 2000, 'suspend');
    for (let n = 0; n < 3; n++) agent.sendControl({ type: 'probe', n });
    // The agent answers the client's RESUME and retransmits, but all of it dies with the socket.
    relay.tamper = (direction) => (direction === 'a2c' ? { kind: 'drop' } : { kind: 'forward' });
    const first = client.resume(relay.connect('client'));
    await waitUntil(() => agent.generation === 1, 2000, 'the agent answered');
    relay.cut('client');
    await assert.rejects(within(first, 2000, 'first attempt'), { code: 'KP_ERR_TRANSPORT_CLOSED' });
    relay.tamper = () => ({ kind: 'forward' });
    await within(client.resume(relay.connect('client')), 3000, 'second attempt');
    await waitUntil(() => atClient.controls.length >= 3, 2000, 'controls');
    await settled(pair);
    assert.deepEqual(atClient.controls.map((m) => m['n']), [0, 1, 2], 'once each, in order');
    closeAll(pair);
  });

  it('a peer that did not offer channel.resume: resume() is refused, a carrier loss ends the session, a RESUME aborts', async () => {
    const pair = await pairResumable({}, { clientOffersResumption: false });
    const { agent, client, relay } = pair;
    assert.equal(agent.canResume, false);
    assert.equal(client.canResume, false);
    await assert.rejects(agent.resume(new MemoryTransport()), { code: 'KP_ERR_RESUME_UNSUPPORTED' });
    assert.equal(agent.state, 'live', 'a refused resume changes nothing');
    relay.cut('client');
    const error = await abortOf(client, 'the client ends with its carrier');
    assert.equal(error?.code, 'KP_ERR_TRANSPORT_CLOSED', 'resumable: true cannot suspend without the capability');
    // A RESUME reaching a side that did not agree on resumption is refused before its MAC is
    // even looked at.
    const forged = encodeResume(new Uint8Array(32), pair.sessionId, { role: 'client', generation: 1, answers: 0, received: 0, retainedFrom: 0, sealed: 0 });
    relay.inject('c2a', forged);
    const refusal = await abortOf(agent, 'the agent refuses');
    assert.equal(refusal?.code, 'KP_ERR_RESUME_UNSUPPORTED');
  });
});

// --- attacks ---------------------------------------------------------------------------------

/** Run one client outage with a RESUME exchange on a new socket; returns that generation's frames. */
async function outage(pair: ResumablePair): Promise<void> {
  pair.relay.cut('client');
  await within(once(pair.client, 'suspend'), 2000, 'suspend');
  await within(pair.client.resume(pair.relay.connect('client')), 3000, 'resume');
}

/** Rewrite bytes of a frame. */
function patched(frame: Uint8Array, offset: number, bytes: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(frame);
  copy.set(bytes, offset);
  return copy;
}

function shiftField(frame: Uint8Array, offset: number, delta: number): Uint8Array {
  const copy = Uint8Array.from(frame);
  const view = new DataView(copy.buffer);
  view.setBigUint64(offset, view.getBigUint64(offset) + BigInt(delta));
  return copy;
}

describe('Security: a relay that replays, splices or forges resumption', () => {
  it("replaying an old generation's RESUME after a newer one completed aborts with KP_ERR_RESUME_STALE", async () => {
    const pair = await pairResumable();
    await outage(pair);
    const [generation1] = resumeFrames(pair.relay.seen.c2a, pair.sessionId);
    await outage(pair);
    pair.relay.inject('c2a', generation1!);
    const error = await abortOf(pair.agent, 'agent aborts');
    assert.equal(error?.code, 'KP_ERR_RESUME_STALE', error?.message);
    await assertDead(pair.agent, 'agent');
    pair.client.close();
  });

  it('a RESUME duplicated by the relay aborts with KP_ERR_RESUME_STALE', async () => {
    const pair = await pairResumable();
    let duplicated = false;
    pair.relay.tamper = (direction, _index, frame) => {
      if (direction !== 'c2a' || duplicated || !isResumeFrame(frame, pair.sessionId)) return { kind: 'forward' };
      duplicated = true;
      return { kind: 'duplicate' };
    };
    pair.relay.cut('client');
    await within(once(pair.client, 'suspend'), 2000, 'suspend');
    void pair.client.resume(pair.relay.connect('client')).catch(() => undefined);
    const error = await abortOf(pair.agent, 'agent aborts');
    assert.equal(error?.code, 'KP_ERR_RESUME_STALE', error?.message);
    pair.client.close();
  });

  it("replaying an old generation's whole socket aborts: generation 0 as records, generation 1 as a stale RESUME", async () => {
    for (const [socket, code] of [
      [1, 'KP_ERR_RECORD_INTEGRITY'],
      [2, 'KP_ERR_RESUME_STALE'],
    ] as const) {
      const pair = await pairResumable();
      pair.client.sendControl({ type: 'probe', n: 0 });
      await outage(pair);
      pair.client.sendControl({ type: 'probe', n: 1 });
      await outage(pair);
      await settled(pair);
      // The relay replays, on the agent's live socket, everything the client's socket `socket` carried.
      const replay = pair.relay.seen.c2a.filter((seen) => seen.socket === socket).map((seen) => seen.frame);
      for (const frame of replay) pair.relay.inject('c2a', frame);
      const error = await abortOf(pair.agent, `replayed socket ${socket}`);
      assert.equal(error?.code, code, `socket ${socket}: ${error?.message ?? 'no error'}`);
      pair.client.close();
    }
  });

  it('splicing a stale socket of the previous generation after a resume: its records are refused', async () => {
    for (const direction of ['c2a', 'a2c'] as const) {
      const pair = await pairResumable();
      const target = direction === 'c2a' ? pair.agent : pair.client;
      const sink = new Sink(target);
      for (let n = 0; n < 3; n++) (direction === 'c2a' ? pair.client : pair.agent).sendControl({ type: 'probe', n });
      await waitUntil(() => sink.controls.length === 3, 2000, 'three controls');
      const before = pair.relay.seen[direction].length;
      await outage(pair);
      // The last record the previous generation carried (a control, not an ACK).
      const stale = pair.relay.seen[direction].slice(0, before).filter((seen) => seen.frame.length > ACK_FRAME_BYTES).at(-1)!;
      pair.relay.inject(direction, stale.frame);
      const error = await abortOf(target, `${direction} receiver aborts`);
      assert.equal(error?.code, 'KP_ERR_RECORD_INTEGRITY', `${direction}: ${error?.message ?? 'no error'}`);
      assert.equal(sink.controls.length, 3, `${direction}: nothing delivered twice`);
      closeAll(pair);
    }
  });

  it('a RESUME forged without the keys is refused with KP_ERR_RESUME_PROOF (random MAC, another session, other generation, counts ±1)', async () => {
    const other = await pairResumable();
    await outage(other);
    const [foreign] = resumeFrames(other.relay.seen.c2a, other.sessionId);
    closeAll(other);
    const forgeries: Array<[string, (genuine: Uint8Array, sessionId: Uint8Array) => Uint8Array]> = [
      ['a random MAC', (genuine) => patched(genuine, 59, randomBytes(32))],
      ["another session's RESUME under this session id", (_genuine, sessionId) => patched(foreign!, 2, sessionId)],
      ['another generation', (genuine) => shiftField(genuine, 19, 1)],
      ['received + 1', (genuine) => shiftField(genuine, 35, 1)],
      ['received - 1', (genuine) => shiftField(genuine, 35, -1)],
      ['sealed + 1', (genuine) => shiftField(genuine, 51, 1)],
      ['sealed - 1', (genuine) => shiftField(genuine, 51, -1)],
      ['retained from - 1', (genuine) => shiftField(genuine, 43, -1)],
    ];
    for (const [name, forge] of forgeries) {
      for (const direction of ['c2a', 'a2c'] as const) {
        // c2a: the resuming client's RESUME reaches the live agent forged; a2c: the agent's answer does.
        const pair = await pairResumable();
        pair.agent.sendControl({ type: 'probe' });
        pair.client.sendControl({ type: 'probe' });
        await settled(pair);
        pair.relay.tamper = (dir, _index, frame): TamperAction =>
          dir === direction && isResumeFrame(frame, pair.sessionId) ? { kind: 'replace', frame: forge(frame, pair.sessionId) } : { kind: 'forward' };
        pair.relay.cut('client');
        await within(once(pair.client, 'suspend'), 2000, 'suspend');
        const attempt = pair.client.resume(pair.relay.connect('client'));
        const victim = direction === 'c2a' ? pair.agent : pair.client;
        const error = await abortOf(victim, `${name} (${direction})`);
        assert.equal(error?.code, 'KP_ERR_RESUME_PROOF', `${name} (${direction}): ${error?.message ?? 'no error'}`);
        if (direction === 'a2c') await assert.rejects(attempt, { code: 'KP_ERR_RESUME_PROOF' }, `${name}: resume() rejects`);
        else void attempt.catch(() => undefined);
        await assertDead(victim, name);
        closeAll(pair);
      }
    }
  });

  it("another session's RESUME verbatim is not a RESUME here: a live receiver refuses it as a record", async () => {
    const other = await pairResumable();
    await outage(other);
    const [foreign] = resumeFrames(other.relay.seen.c2a, other.sessionId);
    closeAll(other);
    const pair = await pairResumable();
    pair.relay.inject('c2a', foreign!);
    const error = await abortOf(pair.agent, 'agent aborts');
    assert.equal(error?.code, 'KP_ERR_RECORD_INTEGRITY', error?.message);
    pair.client.close();
  });

  it('a peer holding the keys whose counts lie outside what was sent is refused with KP_ERR_RESUME_COUNT', async () => {
    for (const name of ['one more record than was sent', 'one fewer than it acknowledged'] as const) {
      const pair = await pairKeepingResumeKeys();
      const { agent, client, relay, sessionId, resumeKeys } = pair;
      agent.sendControl({ type: 'probe' });
      client.sendControl({ type: 'probe' });
      await settled(pair);
      assert.ok(agent.stats.acknowledged > 0, 'the client acknowledged the agent');
      const claim = name === 'one more record than was sent' ? agent.stats.sealed + 1 : agent.stats.acknowledged - 1;
      relay.tamper = (direction, _index, frame) =>
        direction === 'c2a' && isResumeFrame(frame, sessionId)
          ? {
              kind: 'replace',
              frame: encodeResume(resumeKeys.client, sessionId, {
                role: 'client',
                generation: 1,
                answers: 0,
                received: claim,
                retainedFrom: client.stats.sealed,
                sealed: client.stats.sealed,
              }),
            }
          : { kind: 'forward' };
      relay.cut('client');
      await within(once(client, 'suspend'), 2000, 'suspend');
      void client.resume(relay.connect('client')).catch(() => undefined);
      const error = await abortOf(agent, name);
      assert.equal(error?.code, 'KP_ERR_RESUME_COUNT', `${name}: ${error?.message ?? 'no error'}`);
      client.close();
    }
  });

  it('a truncated or padded RESUME is no RESUME: the live side refuses it as a record, the resuming side ignores it and only its attempt fails', async () => {
    for (const [name, alter] of [
      ['truncated by one byte', (frame: Uint8Array) => frame.subarray(0, frame.length - 1)],
      ['cut after its header', (frame: Uint8Array) => frame.subarray(0, 18)],
      ['padded by one byte', (frame: Uint8Array) => Buffer.concat([frame, Uint8Array.of(0)])],
    ] as const) {
      // c2a: the resuming client's RESUME reaches the live agent altered: fatal there.
      const pair = await pairResumable();
      pair.relay.tamper = (direction, _index, frame): TamperAction =>
        direction === 'c2a' && isResumeFrame(frame, pair.sessionId) ? { kind: 'replace', frame: alter(frame) } : { kind: 'forward' };
      pair.relay.cut('client');
      await within(once(pair.client, 'suspend'), 2000, 'suspend');
      void pair.client.resume(pair.relay.connect('client'), { timeoutMs: 2000 }).catch(() => undefined);
      const error = await abortOf(pair.agent, `${name} (c2a)`);
      assert.equal(error?.code, 'KP_ERR_RECORD_INTEGRITY', `${name} (c2a): ${error?.message ?? 'no error'}`);
      await assertDead(pair.agent, name);
      pair.client.close();

      // a2c: the agent's answer reaches the resuming client altered: it is not opened; the
      // attempt times out, the session stays suspended, and the next generation resumes.
      const next = await pairResumable();
      const atClient = new Sink(next.client);
      next.relay.tamper = (direction, _index, frame): TamperAction =>
        direction === 'a2c' && isResumeFrame(frame, next.sessionId) ? { kind: 'replace', frame: alter(frame) } : { kind: 'forward' };
      next.relay.cut('client');
      await within(once(next.client, 'suspend'), 2000, 'suspend');
      next.agent.sendControl({ type: 'probe', n: 0 });
      await assert.rejects(within(next.client.resume(next.relay.connect('client'), { timeoutMs: 300 }), 3000, 'attempt'), {
        code: 'KP_ERR_RESUME_TIMEOUT',
      });
      assert.equal(next.client.state, 'suspended', `${name} (a2c): the session survives`);
      assert.equal(atClient.controls.length, 0, `${name} (a2c): nothing opened before a verified RESUME`);
      next.relay.tamper = () => ({ kind: 'forward' });
      await within(next.client.resume(next.relay.connect('client')), 3000, 'the next attempt');
      await waitUntil(() => atClient.controls.length === 1, 2000, 'the control');
      await settled(next);
      assert.deepEqual(atClient.controls.map((m) => m['n']), [0], `${name} (a2c): once`);
      closeAll(next);
    }
  });

  it("a side's own RESUME reflected back to it is refused with KP_ERR_RESUME_PROOF", async () => {
    const pair = await pairResumable();
    pair.relay.tamper = (direction, _index, frame) =>
      direction === 'c2a' && isResumeFrame(frame, pair.sessionId) ? { kind: 'reflect' } : { kind: 'forward' };
    pair.relay.cut('client');
    await within(once(pair.client, 'suspend'), 2000, 'suspend');
    const attempt = pair.client.resume(pair.relay.connect('client'));
    await assert.rejects(within(attempt, 3000, 'resume'), (err) => isKubepairError(err, 'KP_ERR_RESUME_PROOF') && /reflected/.test(err.message));
    const error = await abortOf(pair.client, 'client aborts');
    assert.equal(error?.code, 'KP_ERR_RESUME_PROOF');
    pair.agent.close();
  });
});

describe('Security: a relay that drops, duplicates, reorders or truncates records around the cut', () => {
  /**
   * The agent sends five controls that the relay loses before a client cut; after the resume
   * the agent retransmits them and then sends five more. `retransmission` tampers with the
   * records that follow the agent's answering RESUME (index 0 = first retransmitted record).
   */
  async function retransmissionRun(
    retransmission: (index: number) => TamperAction,
  ): Promise<{ delivered: number[]; error: KubepairError | undefined }> {
    const pair = await pairResumable();
    const { agent, client, relay, sessionId } = pair;
    const atClient = new Sink(client);
    relay.tamper = (direction) => (direction === 'a2c' ? { kind: 'drop' } : { kind: 'forward' });
    for (let n = 0; n < 5; n++) agent.sendControl({ type: 'probe', n });
    await turns(5);
    relay.cut('client');
    await within(once(client, 'suspend'), 2000, 'suspend');
    let afterResume: number | undefined;
    relay.tamper = (direction: Direction, _index, frame) => {
      if (direction !== 'a2c') return { kind: 'forward' };
      if (isResumeFrame(frame, sessionId)) {
        afterResume = 0;
        return { kind: 'forward' };
      }
      if (afterResume === undefined) return { kind: 'forward' };
      return retransmission(afterResume++);
    };
    await within(client.resume(relay.connect('client')), 3000, 'resume');
    for (let n = 5; n < 10; n++) agent.sendControl({ type: 'probe', n });
    const error = await abortOf(client, 'client aborts');
    agent.close();
    return { delivered: atClient.controls.map((m) => Number(m['n'])), error };
  }

  const cases: Array<[string, (index: number) => TamperAction, number[]]> = [
    ['the first retransmitted record duplicated', (i) => (i === 0 ? { kind: 'duplicate' } : { kind: 'forward' }), [0]],
    ['two retransmitted records reordered', (i) => (i === 1 ? { kind: 'hold' } : { kind: 'forward' }), [0]],
    ['a retransmitted record dropped', (i) => (i === 2 ? { kind: 'drop' } : { kind: 'forward' }), [0, 1]],
    ['the retransmission truncated (its last record dropped, later records forwarded)', (i) => (i === 4 ? { kind: 'drop' } : { kind: 'forward' }), [0, 1, 2, 3]],
  ];
  for (const [name, tamper, expected] of cases) {
    it(`${name}: the receiver aborts with KP_ERR_RECORD_INTEGRITY and delivers nothing after the gap`, async () => {
      const { delivered, error } = await retransmissionRun(tamper);
      assert.equal(error?.code, 'KP_ERR_RECORD_INTEGRITY', `${name}: ${error?.message ?? 'no error'}`);
      assert.deepEqual(delivered, expected, `${name}: delivered`);
    });
  }

  it('a record dropped before the cut with the next one forwarded: the old carrier already aborts', async () => {
    const pair = await pairResumable();
    const atClient = new Sink(pair.client);
    let records = 0;
    pair.relay.tamper = (direction) => (direction === 'a2c' && records++ === 1 ? { kind: 'drop' } : { kind: 'forward' });
    for (let n = 0; n < 3; n++) pair.agent.sendControl({ type: 'probe', n });
    const error = await abortOf(pair.client, 'client aborts');
    assert.equal(error?.code, 'KP_ERR_RECORD_INTEGRITY');
    assert.deepEqual(atClient.controls.map((m) => m['n']), [0]);
    pair.agent.close();
  });

  it('records the relay forwards onto the new socket before the RESUME are not opened: nothing is delivered twice', async () => {
    const pair = await pairResumable();
    const { agent, client, relay, sessionId } = pair;
    const atClient = new Sink(client);
    for (let n = 0; n < 3; n++) agent.sendControl({ type: 'probe', n });
    await waitUntil(() => atClient.controls.length === 3, 2000, 'three controls');
    const early = relay.seen.a2c.filter((seen) => seen.frame.length > ACK_FRAME_BYTES).map((seen) => seen.frame);
    relay.cut('client');
    await within(once(client, 'suspend'), 2000, 'suspend');
    agent.sendControl({ type: 'probe', n: 3 });
    const socket = relay.connect('client');
    // Old records (already delivered) and the held new one arrive before the agent's RESUME.
    for (const frame of early) relay.inject('a2c', frame);
    await within(client.resume(socket), 3000, 'resume');
    await waitUntil(() => atClient.controls.length === 4, 2000, 'the fourth control');
    await settled(pair);
    assert.deepEqual(atClient.controls.map((m) => m['n']), [0, 1, 2, 3]);
    assert.ok(!isResumeFrame(early[0]!, sessionId));
    closeAll(pair);
  });

  it('the last records before the cut dropped (what a cut does): retransmitted, nothing lost', async () => {
    const pair = await pairResumable();
    const atClient = new Sink(pair.client);
    pair.relay.tamper = (direction) => (direction === 'a2c' ? { kind: 'drop' } : { kind: 'forward' });
    for (let n = 0; n < 4; n++) pair.agent.sendControl({ type: 'probe', n });
    await turns(5);
    pair.relay.tamper = () => ({ kind: 'forward' });
    await outage(pair);
    await waitUntil(() => atClient.controls.length === 4, 2000, 'controls');
    assert.deepEqual(atClient.controls.map((m) => m['n']), [0, 1, 2, 3]);
    closeAll(pair);
  });
});

/** A pair where the test can seal records as the client (the client's send key copied). */
async function pairKeepingResumeKeysWithSealer(): Promise<{
  agent: SecureChannel;
  client: { channel: SecureChannel; forgeAck: (count: number) => Uint8Array };
  relay: SplicingRelay;
}> {
  const relay = new SplicingRelay();
  const sessionId = new Uint8Array(randomBytes(16));
  const [a, c] = await Promise.all([
    runAgentHandshake({ transport: relay.connect('agent'), code: RESUME_CODE, sessionId }),
    runClientHandshake({ transport: relay.connect('client'), code: RESUME_CODE, sessionId }),
  ]);
  const clientSealer = new RecordSealer({ key: Uint8Array.from(c.send.key), iv: Uint8Array.from(c.send.iv) });
  const agent = new SecureChannel(a, { resumable: true });
  const channel = new SecureChannel(c, { resumable: true });
  // The client has sent nothing yet, so its first record is at sequence 0: the forged ACK sits there.
  return { agent, client: { channel, forgeAck: (count) => clientSealer.sealAck(count) }, relay };
}
