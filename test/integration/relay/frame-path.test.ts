/**
 * The relay's own reading of binary frames (src/relay/frame-path.ts, issue 15) against a real
 * relay process, attacked the way a hostile endpoint would: frames written in pieces with random
 * boundaries, control frames between them, fragmented messages, frames ws must refuse. The
 * invariant: everything the other side receives is exactly the binary frames sent, in order, and
 * the relay's counters agree; a frame ws refuses closes the socket with ws's close code and
 * nothing after it is forwarded.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connectPair, metric, startRelay } from '../../helpers/relay-process.js';
import type { StartedRelay, TestPeer } from '../../helpers/relay-process.js';
import { clientFrame, writeInPieces } from '../../helpers/websocket-client-frames.js';

const T = { timeout: 60_000 };

/** The test peer's own socket, to write raw bytes on (the ws client writes nothing on its own here: no pings). */
function rawSocket(peer: TestPeer): Socket {
  return (peer.ws as unknown as { _socket: Socket })._socket;
}

describe('Security: the relay reads binary frames itself (frame-path.ts)', { timeout: 300_000 }, () => {
  let relay: StartedRelay;
  before(async () => {
    // No pings from the relay: a ping would make the test client write a pong between two raw pieces.
    relay = await startRelay({ args: ['--ping-interval', '50m', '--peer-timeout', '60m', '--rate-limit', '1000'] });
  });
  after(() => relay.dispose());

  it('a storm of random read boundaries with control frames between the frames: the other side gets exactly the binary frames, in order, both ways; the counters agree', T, async () => {
    const { agent, client } = await connectPair(relay);
    const bytesBefore = (await metric(relay, 'kubepair_relay_forwarded_bytes_total', '{direction="agent_to_client"}')) ?? 0;
    const sizes = [0, 1, 125, 126, 65_535, 65_536, 100_000, 262_144, 1_000_000];
    const sent: Buffer[] = [];
    const raw: Buffer[] = [];
    for (let i = 0; i < 150; i++) {
      const payload = randomBytes(sizes[randomInt(0, sizes.length)] as number);
      sent.push(payload);
      raw.push(clientFrame(2, payload));
      const extra = randomInt(0, 8);
      if (extra === 0) raw.push(clientFrame(9, randomBytes(randomInt(0, 126))));
      if (extra === 1) raw.push(clientFrame(10, randomBytes(randomInt(0, 126))));
      if (i === 40) raw.push(clientFrame(1, Buffer.from(JSON.stringify({ type: 'established' }))));
    }
    // The other direction at the same time, through the relay's reader of the client's socket.
    const back = Array.from({ length: 40 }, (_, i) => randomBytes(1 + ((i * 7919) % 300_000)));
    await Promise.all([writeInPieces(rawSocket(agent), Buffer.concat(raw)), writeInPieces(rawSocket(client), Buffer.concat(back.map((b) => clientFrame(2, b))))]);
    await client.until(() => client.frames.length >= sent.length, 'every frame at the client', 45_000);
    await agent.until(() => agent.frames.length >= back.length, 'every frame at the agent', 45_000);
    assert.equal(client.frames.length, sent.length, 'no frame more');
    for (let i = 0; i < sent.length; i++) assert.ok(client.frames[i]?.equals(sent[i] as Buffer), `agent → client frame ${i} (${sent[i]?.length} bytes) unchanged`);
    for (let i = 0; i < back.length; i++) assert.ok(agent.frames[i]?.equals(back[i] as Buffer), `client → agent frame ${i} unchanged`);
    const total = sent.reduce((sum, frame) => sum + frame.length, 0);
    const bytesAfter = (await metric(relay, 'kubepair_relay_forwarded_bytes_total', '{direction="agent_to_client"}')) ?? 0;
    assert.equal(bytesAfter - bytesBefore, total, 'forwarded bytes counted');
    assert.ok(agent.ws.readyState === agent.ws.OPEN && client.ws.readyState === client.ws.OPEN, 'both sockets still open');
    agent.ws.close();
    client.ws.close();
  });

  it('a fragmented message with a ping between its fragments is forwarded as one message, and frames after it still arrive', T, async () => {
    const { agent, client } = await connectPair(relay);
    const first = randomBytes(70_000);
    const head = randomBytes(100_000);
    const tail = randomBytes(50_000);
    const last = randomBytes(300_000);
    agent.ws.send(first);
    agent.ws.send(head, { fin: false });
    agent.ws.ping();
    agent.ws.send(tail, { fin: true });
    agent.ws.send(last);
    await client.until(() => client.frames.length >= 3, 'three messages', 20_000);
    assert.ok(client.frames[0]?.equals(first), 'the frame before');
    assert.ok(client.frames[1]?.equals(Buffer.concat([head, tail])), 'the fragmented message, whole');
    assert.ok(client.frames[2]?.equals(last), 'the frame after');
    agent.ws.close();
    client.ws.close();
  });

  it('an unmasked frame closes the socket with 1002 and nothing from it onwards is forwarded', T, async () => {
    const { agent, client } = await connectPair(relay);
    const before = randomBytes(200_000);
    await writeInPieces(rawSocket(agent), Buffer.concat([clientFrame(2, before), clientFrame(2, randomBytes(1000), { mask: false }), clientFrame(2, randomBytes(1000))]));
    const closed = await agent.closedWithin(20_000);
    assert.equal(closed.code, 1002);
    await client.until(() => client.frames.length >= 1, 'the frame before', 10_000);
    assert.equal(client.frames.length, 1, 'only the frame before the bad one');
    assert.ok(client.frames[0]?.equals(before));
    client.ws.close();
  });

  it('a binary frame claiming 2^40 bytes closes the socket with 1009 before anything of it is read', T, async () => {
    const { agent, client } = await connectPair(relay);
    const header = Buffer.from([0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    rawSocket(agent).write(Buffer.concat([header, randomBytes(1000)]));
    const closed = await agent.closedWithin(20_000);
    assert.equal(closed.code, 1009);
    assert.equal(client.frames.length, 0);
    client.ws.close();
  });

  it('a frame with a continuation opcode and no message before it closes the socket with 1002', T, async () => {
    const { agent, client } = await connectPair(relay);
    rawSocket(agent).write(clientFrame(0, randomBytes(10)));
    const closed = await agent.closedWithin(20_000);
    assert.equal(closed.code, 1002);
    assert.equal(client.frames.length, 0);
    client.ws.close();
  });
});
