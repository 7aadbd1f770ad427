/**
 * encodeMaskedBinaryFrame (src/relay-client/frame-writer.ts), the endpoints' writer of masked
 * binary WebSocket frames: byte for byte what ws's own Sender makes with the same key, for every
 * length class (7, 16 and 64-bit lengths) and however the payload is split into pieces; read
 * back by the shared header decoder, and by ws's Receiver as a server reads a client (a storm of
 * random sizes and splits, delivered in random read sizes); a fresh key per frame; the pieces
 * never changed.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type { Writable } from 'node:stream';
import { FrameHeader, FrameHeaderStatus, decodeFrameHeader } from '../../../src/protocol/websocket-frame-header.js';
import { encodeMaskedBinaryFrame, maskedFrameHeaderLength } from '../../../src/relay-client/frame-writer.js';
import { seededRandom } from '../../helpers/resumable-pair.js';

interface WsInternals {
  Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] };
  Receiver: new (options: Record<string, unknown>) => Writable;
}
const ws = createRequire(import.meta.url)('ws') as WsInternals;

/** Lengths at and around every boundary of the length classes, and a record-sized one. */
const LENGTHS = [0, 1, 3, 5, 47, 48, 49, 125, 126, 127, 1000, 65_535, 65_536, 65_537, 262_144 + 17];

function payload(length: number, seed: number): Buffer {
  const random = seededRandom(seed);
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** `data` cut at `count - 1` random points (pieces may be empty), copied so they are distinct buffers. */
function split(data: Buffer, count: number, random: () => number): Buffer[] {
  const cuts = Array.from({ length: count - 1 }, () => Math.floor(random() * (data.length + 1))).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, data.length]) {
    pieces.push(Buffer.from(data.subarray(at, cut)));
    at = cut;
  }
  return pieces;
}

/** ws's own client frame of `data` under `key` (the reference). */
function wsFrame(data: Buffer, key: Buffer): Buffer {
  const maskBuffer = Buffer.from(key);
  return Buffer.concat(
    ws.Sender.frame(Buffer.from(data), { fin: true, opcode: 2, mask: true, readOnly: true, maskBuffer, generateMask: () => undefined, rsv1: false }),
  );
}

describe('encodeMaskedBinaryFrame', () => {
  it('matches ws\'s Sender byte for byte with the same key, for every length class and any split', () => {
    const random = seededRandom(15);
    for (const length of LENGTHS) {
      const data = payload(length, length);
      const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
      const expected = wsFrame(data, key);
      for (const count of [1, 2, 3, 7, 40]) {
        const pieces = split(data, count, random);
        const copies = pieces.map((piece) => Buffer.from(piece));
        const frame = encodeMaskedBinaryFrame(count === 1 ? pieces[0]! : pieces, length, { maskKey: key });
        assert.deepEqual(frame, expected, `length ${length} in ${count} pieces`);
        assert.deepEqual(pieces, copies, 'the pieces are left as they were');
      }
    }
  });

  it('writes headers the shared decoder reads back: FIN, binary, masked, the 7, 16 or 64-bit length', () => {
    const header = new FrameHeader();
    for (const length of LENGTHS) {
      const data = payload(length, length + 1);
      const frame = encodeMaskedBinaryFrame([data], length);
      assert.equal(decodeFrameHeader(frame, 0, frame.length, Number.MAX_SAFE_INTEGER, header), FrameHeaderStatus.Complete);
      assert.equal(header.fin, true);
      assert.equal(header.rsv, 0);
      assert.equal(header.opcode, 2);
      assert.equal(header.masked, true);
      assert.equal(header.payloadLength, length);
      assert.equal(header.lengthBytes, length <= 125 ? 0 : length <= 0xffff ? 2 : 8);
      assert.equal(header.headerLength, maskedFrameHeaderLength(length));
      assert.equal(frame.length, header.headerLength + length);
      const key = frame.subarray(header.headerLength - 4, header.headerLength);
      const unmasked = Buffer.from(frame.subarray(header.headerLength));
      for (let i = 0; i < unmasked.length; i++) unmasked[i]! ^= key[i & 3]!;
      assert.deepEqual(unmasked, data, `length ${length} unmasks to the payload`);
    }
  });

  it('draws a fresh random key for every frame', () => {
    const data = Buffer.alloc(64);
    const keys = new Set<string>();
    // 5,000 frames use the 2,048-key pool more than twice over. Random 32-bit keys: about 0.003
    // repeats expected among 5,000, so anything but (nearly) all distinct means keys are reused.
    for (let i = 0; i < 5000; i++) keys.add(encodeMaskedBinaryFrame(data, data.length).subarray(2, 6).toString('hex'));
    assert.ok(keys.size >= 4990, `${keys.size} distinct keys in 5,000 frames`);
  });

  it('encodes into the start of a given buffer, as into a new one, and refuses one too small', () => {
    const data = payload(70_000, 3);
    const key = Buffer.from([1, 2, 3, 4]);
    const into = Buffer.alloc(80_000, 0xee);
    const frame = encodeMaskedBinaryFrame(split(data, 5, seededRandom(4)), data.length, { into, maskKey: key });
    assert.equal(frame.buffer, into.buffer, 'a view of the given buffer');
    assert.equal(frame.byteOffset, into.byteOffset);
    assert.deepEqual(frame, wsFrame(data, key));
    assert.equal(into[frame.length], 0xee, 'nothing written past the frame');
    assert.throws(() => encodeMaskedBinaryFrame([data], data.length, { into: Buffer.alloc(data.length + 13) }), RangeError);
  });

  it('refuses pieces that do not hold `length` bytes', () => {
    assert.throws(() => encodeMaskedBinaryFrame([Buffer.alloc(10)], 11), RangeError);
    assert.throws(() => encodeMaskedBinaryFrame([Buffer.alloc(10), Buffer.alloc(2)], 11), RangeError);
  });

  it('a storm of random sizes and splits, read in random pieces, is what ws\'s Receiver reads as a server', async () => {
    const random = seededRandom(6455);
    const messages: Buffer[] = [];
    const frames: Buffer[] = [];
    for (let i = 0; i < 400; i++) {
      const roll = random();
      const length = roll < 0.4 ? Math.floor(random() * 126) : roll < 0.8 ? 126 + Math.floor(random() * 65_410) : 65_536 + Math.floor(random() * 300_000);
      const data = payload(length, i);
      messages.push(data);
      frames.push(encodeMaskedBinaryFrame(split(data, 1 + Math.floor(random() * 20), random), length));
    }
    const stream = Buffer.concat(frames);
    const receiver = new ws.Receiver({ isServer: true, binaryType: 'nodebuffer', maxPayload: 0 });
    const received: Buffer[] = [];
    receiver.on('message', (data: Buffer, isBinary: boolean) => {
      assert.equal(isBinary, true);
      received.push(Buffer.from(data));
    });
    const failed = new Promise<never>((_resolve, reject) => receiver.on('error', reject));
    for (let at = 0; at < stream.length; ) {
      const size = 1 + Math.floor(random() * 100_000);
      receiver.write(stream.subarray(at, at + size));
      at += size;
    }
    await Promise.race([new Promise<void>((resolve) => receiver.end(resolve)), failed]);
    assert.equal(received.length, messages.length);
    for (let i = 0; i < messages.length; i++) assert.deepEqual(received[i], messages[i], `message ${i}`);
  });
});
