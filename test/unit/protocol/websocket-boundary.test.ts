/**
 * protocol/websocket-boundary.ts: where the bytes the agent passed on to an exec client stand
 * between WebSocket frames, which decides whether the agent may add a Status of its own when
 * it cuts the session (docs/audit.md "Cut sessions"). A storm of random frame streams (7-bit,
 * 16-bit and 64-bit lengths, masked and unmasked, fragmented messages with control frames
 * between the fragments, a close at the end) split at random points, headers included: after
 * every piece the tracker must know exactly whether every byte so far ends a frame, and may
 * allow a message only there, outside a fragmented message and before a close. Then the streams
 * it cannot follow, which must never allow one again. Also protocol/channel-status.ts: the bytes
 * the agent adds, read back by the recorder's frame reader.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { WebSocketFrameReader } from '../../../src/audit/websocket-frames.js';
import { CLOSE_NORMAL, ERROR_CHANNEL, channelFailureBytes } from '../../../src/protocol/channel-status.js';
import { WebSocketBoundary } from '../../../src/protocol/websocket-boundary.js';
import { WebSocketOpcode } from '../../../src/protocol/websocket-opcode.js';

/** One frame's bytes: `lengthForm` 7, 16 or 64 picks the length encoding (the longer ones may be non-minimal, as ws accepts). */
function frame(fin: boolean, opcode: number, payloadLength: number, lengthForm: 7 | 16 | 64, masked: boolean): Buffer {
  const lengthBytes = lengthForm === 7 ? 0 : lengthForm === 16 ? 2 : 8;
  const head = Buffer.alloc(2 + lengthBytes + (masked ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = (masked ? 0x80 : 0) | (lengthForm === 7 ? payloadLength : lengthForm === 16 ? 126 : 127);
  if (lengthForm === 16) head.writeUInt16BE(payloadLength, 2);
  if (lengthForm === 64) head.writeBigUInt64BE(BigInt(payloadLength), 2);
  if (masked) head.writeUInt32BE(randomInt(2 ** 32 - 1), 2 + lengthBytes);
  const payload = Buffer.alloc(payloadLength, randomInt(256));
  return Buffer.concat([head, payload]);
}

function randomDataFrame(fin: boolean, opcode: number): Buffer {
  const form = ([7, 16, 64] as const)[randomInt(3)]!;
  const length = form === 7 ? randomInt(126) : randomInt(20) === 0 ? 65_536 + randomInt(4096) : randomInt(3000);
  return frame(fin, opcode, form === 16 ? Math.min(length, 0xffff) : length, form, randomInt(2) === 0);
}

function randomControlFrame(opcode: number): Buffer {
  return frame(true, opcode, randomInt(126), 7, randomInt(2) === 0);
}

interface Stream {
  readonly bytes: Buffer;
  /** After which byte counts a frame ends, and whether a new message may start there. */
  readonly ends: Map<number, { inMessage: boolean; closed: boolean }>;
}

/** A random, well-formed stream of messages (some fragmented, control frames between fragments), sometimes ending in a close. */
function randomStream(): Stream {
  const frames: Buffer[] = [];
  const ends = new Map<number, { inMessage: boolean; closed: boolean }>();
  let at = 0;
  const add = (bytes: Buffer, inMessage: boolean, closed: boolean): void => {
    frames.push(bytes);
    at += bytes.length;
    ends.set(at, { inMessage, closed });
  };
  const messages = 1 + randomInt(12);
  for (let m = 0; m < messages; m++) {
    const opcode = randomInt(2) === 0 ? WebSocketOpcode.Binary : WebSocketOpcode.Text;
    if (randomInt(4) !== 0) {
      add(randomDataFrame(true, opcode), false, false);
    } else {
      const fragments = 2 + randomInt(4);
      add(randomDataFrame(false, opcode), true, false);
      for (let f = 1; f < fragments; f++) {
        if (randomInt(2) === 0) add(randomControlFrame(randomInt(2) === 0 ? WebSocketOpcode.Ping : WebSocketOpcode.Pong), true, false);
        const last = f === fragments - 1;
        add(randomDataFrame(last, WebSocketOpcode.Continuation), !last, false);
      }
    }
    if (randomInt(5) === 0) add(randomControlFrame(WebSocketOpcode.Ping), false, false);
  }
  if (randomInt(3) === 0) add(frame(true, WebSocketOpcode.Close, 2, 7, false), false, true);
  return { bytes: Buffer.concat(frames), ends };
}

/** Split points: mostly tiny pieces (headers split byte by byte), some large ones. */
function randomPieces(total: number): number[] {
  const cuts: number[] = [];
  let at = 0;
  while (at < total) {
    const size = randomInt(3) === 0 ? 1 + randomInt(3) : randomInt(4) === 0 ? 1 + randomInt(70_000) : 1 + randomInt(200);
    at = Math.min(total, at + size);
    cuts.push(at);
  }
  return cuts;
}

describe('WebSocketBoundary', () => {
  it('a storm of random frame streams split at random points: the boundary is known exactly after every piece', () => {
    for (let round = 0; round < 300; round++) {
      const stream = randomStream();
      const boundary = new WebSocketBoundary();
      assert.equal(boundary.canAddMessage, true, `round ${round}: nothing passed yet`);
      let from = 0;
      const cuts = randomPieces(stream.bytes.length);
      for (const to of cuts) {
        boundary.push(stream.bytes.subarray(from, to));
        from = to;
        const end = stream.ends.get(to);
        const id = `round ${round}, after ${to} of ${stream.bytes.length} bytes (cuts ${cuts.slice(0, 40).join(',')})`;
        assert.equal(boundary.lost, false, id);
        assert.equal(boundary.atFrameBoundary, end !== undefined, `${id}: at a frame end`);
        if (end === undefined) {
          assert.equal(boundary.canAddMessage, false, `${id}: never mid-frame`);
        } else {
          assert.equal(boundary.inMessage, end.inMessage, `${id}: in a fragmented message`);
          assert.equal(boundary.canAddMessage, !end.inMessage && !end.closed, `${id}: may add a message`);
        }
      }
    }
  });

  it('fed one byte at a time, a message may be added only after the last byte of a whole frame', () => {
    for (let round = 0; round < 30; round++) {
      const stream = randomStream();
      if (stream.bytes.length > 20_000) continue;
      const boundary = new WebSocketBoundary();
      for (let i = 0; i < stream.bytes.length; i++) {
        boundary.push(stream.bytes.subarray(i, i + 1));
        const end = stream.ends.get(i + 1);
        assert.equal(boundary.atFrameBoundary, end !== undefined, `round ${round}, byte ${i + 1}`);
        assert.equal(boundary.canAddMessage, end !== undefined && !end.inMessage && !end.closed, `round ${round}, byte ${i + 1}`);
      }
    }
  });

  it('an empty piece changes nothing', () => {
    const boundary = new WebSocketBoundary();
    boundary.push(Buffer.alloc(0));
    assert.equal(boundary.canAddMessage, true);
    boundary.push(Buffer.from([0x82]));
    boundary.push(Buffer.alloc(0));
    assert.equal(boundary.atFrameBoundary, false);
    boundary.push(Buffer.from([0x00]));
    assert.equal(boundary.canAddMessage, true, 'an empty final binary frame ends where its header ends');
  });

  describe('Security: a stream it cannot follow never allows a message again', () => {
    const cases: Array<[string, Buffer]> = [
      ['a 64-bit length with its top bit set', Buffer.from([0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0])],
      ['a 64-bit length beyond 2^53 - 1', Buffer.from([0x82, 0x7f, 0x00, 0x20, 0, 0, 0, 0, 0, 0])],
      ['a continuation outside a fragmented message', frame(true, WebSocketOpcode.Continuation, 3, 7, false)],
      ['a new data frame inside a fragmented message', Buffer.concat([frame(false, WebSocketOpcode.Binary, 3, 7, false), frame(true, WebSocketOpcode.Text, 3, 7, false)])],
      ['reserved opcode 3', frame(true, 3, 0, 7, false)],
      ['reserved opcode 11', frame(true, 11, 0, 7, false)],
    ];
    for (const [name, bytes] of cases) {
      it(name, () => {
        const boundary = new WebSocketBoundary();
        boundary.push(bytes);
        assert.equal(boundary.lost, true, name);
        assert.equal(boundary.canAddMessage, false, name);
        boundary.push(frame(true, WebSocketOpcode.Binary, 5, 7, false));
        assert.equal(boundary.canAddMessage, false, `${name}: whatever follows`);
      });
    }
  });

  it('after a close frame nothing may be added, though it ends a frame', () => {
    const boundary = new WebSocketBoundary();
    boundary.push(frame(true, WebSocketOpcode.Close, 2, 7, false));
    assert.equal(boundary.atFrameBoundary, true);
    assert.equal(boundary.canAddMessage, false);
  });
});

/** The messages (opcode, payload) and the close code a server-side frame reader finds in `bytes`. */
function readServerMessages(bytes: Buffer): { messages: Buffer[]; errors: string[] } {
  const messages: Buffer[] = [];
  const errors: string[] = [];
  let current: Buffer[] = [];
  const reader = new WebSocketFrameReader('server', {
    messageStart: () => (current = []),
    data: (piece) => current.push(piece),
    messageEnd: () => messages.push(Buffer.concat(current)),
    error: (reason) => errors.push(reason),
  });
  reader.push(bytes);
  return { messages, errors };
}

describe('channelFailureBytes', () => {
  for (const protocol of ['v5.channel.k8s.io', 'v4.channel.k8s.io']) {
    it(`${protocol}: a Failure Status as JSON on the error channel, then a 1000 close`, () => {
      const bytes = channelFailureBytes(protocol, 403, 'kubepair: no more');
      const { messages, errors } = readServerMessages(bytes);
      assert.deepEqual(errors, []);
      assert.equal(messages.length, 1);
      assert.equal(messages[0]![0], ERROR_CHANNEL);
      assert.deepEqual(JSON.parse(messages[0]!.subarray(1).toString('utf8')), {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'kubepair: no more',
        reason: 'Forbidden',
        code: 403,
      });
      assert.deepEqual([...bytes.subarray(-4)], [0x88, 0x02, CLOSE_NORMAL >> 8, CLOSE_NORMAL & 0xff], 'an unmasked close frame with 1000');
      const boundary = new WebSocketBoundary();
      boundary.push(bytes);
      assert.equal(boundary.atFrameBoundary, true, 'whole frames');
      assert.equal(boundary.canAddMessage, false, 'closed');
    });
  }

  for (const protocol of ['channel.k8s.io', 'v2.channel.k8s.io', 'v3.channel.k8s.io']) {
    it(`${protocol}: the message as text on the error channel (before v4 it carries no Status)`, () => {
      const { messages, errors } = readServerMessages(channelFailureBytes(protocol, 500, 'kubepair: recording stopped'));
      assert.deepEqual(errors, []);
      assert.equal(messages[0]!.toString('latin1'), '\x03kubepair: recording stopped');
    });
  }

  it('a Status longer than 125 bytes takes the 16-bit length; its reason follows its code', () => {
    const message = `kubepair: ${'x'.repeat(300)}`;
    const bytes = channelFailureBytes('v5.channel.k8s.io', 500, message);
    assert.equal(bytes[1], 126);
    const { messages } = readServerMessages(bytes);
    const status = JSON.parse(messages[0]!.subarray(1).toString('utf8')) as { reason: string; message: string; code: number };
    assert.equal(status.reason, 'InternalError');
    assert.equal(status.code, 500);
    assert.equal(status.message, message);
  });
});
