/**
 * RelayFrameReads (src/relay-client/frame-reads.ts): the relay socket's reads are handed on as
 * the HTTP answer's head alone, then whole WebSocket frames only, whatever sizes the reads come
 * in; no byte handed on is written again; anything it cannot frame goes on as read. The reads
 * are driven by hand through the `onread` hooks, as `net` calls them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WS_MAX_MESSAGE_BYTES } from '../../../src/limits.js';
import { RelayFrameReads } from '../../../src/relay-client/frame-reads.js';

const HEAD = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: kubepair.v1\r\n\r\n', 'latin1');

/** An unmasked binary frame (as a server sends) with `length` payload bytes of `fill`. */
function frame(length: number, fill: number): Buffer {
  const header =
    length < 126
      ? Buffer.from([0x82, length])
      : length < 0x10000
        ? Buffer.from([0x82, 126, length >> 8, length & 0xff])
        : Buffer.concat([Buffer.from([0x82, 127, 0, 0, 0, 0]), uint32(length)]);
  return Buffer.concat([header, Buffer.alloc(length, fill)]);
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

/** Deterministic read sizes (a linear congruential sequence), 1..max bytes each. */
function readSizes(seed: number, max: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return 1 + (state % max);
  };
}

interface Delivered {
  readonly chunk: Buffer;
  /** A copy taken when it was handed on, to check that nobody wrote into it later. */
  readonly copy: Buffer;
}

/** Feed `input` through `reads` in reads of `nextSize()` bytes at most (each also bounded by the buffer offered). */
function feed(reads: RelayFrameReads, input: Buffer, nextSize: () => number): Delivered[] {
  const delivered: Delivered[] = [];
  reads.attach((chunk) => delivered.push({ chunk, copy: Buffer.from(chunk) }));
  const bufferOf = reads.onread.buffer as () => Uint8Array;
  let offset = 0;
  for (let round = 0; offset < input.length; round++) {
    assert.ok(round < 1_000_000, 'bounded');
    const target = bufferOf();
    const bytes = Math.min(nextSize(), target.length, input.length - offset);
    assert.ok(bytes > 0, 'the reader always offers room');
    input.copy(target, 0, offset, offset + bytes);
    offset += bytes;
    reads.onread.callback(bytes, Buffer.from(target.buffer, target.byteOffset, target.length));
  }
  return delivered;
}

/** Split `chunk` into whole frames; fails when it ends inside one. */
function wholeFrames(chunk: Buffer, what: string): number {
  let offset = 0;
  let count = 0;
  while (offset < chunk.length) {
    const second = chunk[offset + 1]!;
    const short = second & 0x7f;
    const [headerBytes, payload] =
      short === 126 ? [4, chunk.readUInt16BE(offset + 2)] : short === 127 ? [10, chunk.readUInt32BE(offset + 6)] : [2, short];
    offset += headerBytes + payload;
    count += 1;
  }
  assert.equal(offset, chunk.length, `${what}: the chunk ends at a frame boundary`);
  return count;
}

describe('RelayFrameReads', () => {
  it('hands on the head alone, then only whole frames, whatever the read sizes; nothing handed on changes', () => {
    const frames = [frame(5, 1), frame(300, 2), frame(256 * 1024 + 17, 3), frame(70_000, 4), frame(0, 5), frame(256 * 1024 + 17, 6), frame(125, 7)];
    const input = Buffer.concat([HEAD, ...frames, ...frames]);
    for (const [seed, max] of [[1, 64 * 1024], [2, 61], [3, 300 * 1024], [4, 1500]] as const) {
      const what = `reads of up to ${max} bytes (seed ${seed})`;
      const delivered = feed(new RelayFrameReads(128 * 1024, 16 * 1024), input, readSizes(seed, max));
      assert.deepEqual(delivered[0]!.chunk, HEAD, `${what}: the head first, alone`);
      let count = 0;
      for (const [i, { chunk }] of delivered.entries()) if (i > 0) count += wholeFrames(chunk, `${what}, chunk ${i}`);
      assert.equal(count, frames.length * 2, `${what}: every frame handed on`);
      assert.deepEqual(Buffer.concat(delivered.map((entry) => entry.chunk)), input, `${what}: the bytes in order`);
      for (const [i, { chunk, copy }] of delivered.entries()) assert.deepEqual(chunk, copy, `${what}: chunk ${i} unchanged`);
    }
  });

  it('hands on a frame that arrived in several reads as one chunk, without waiting for more', () => {
    const big = frame(200 * 1024, 9);
    const delivered = feed(new RelayFrameReads(64 * 1024, 16 * 1024), Buffer.concat([HEAD, big]), () => 10_000);
    assert.equal(delivered.length, 2, 'the head, then the frame');
    assert.deepEqual(delivered[1]!.chunk, big);
  });

  it('an answer other than 101 goes on as read (the HTTP client judges it)', () => {
    const refused = Buffer.from('HTTP/1.1 401 Unauthorized\r\nContent-Length: 30\r\n\r\n{"error":{"code":"KP_ERR_X"}}\n', 'latin1');
    const delivered = feed(new RelayFrameReads(64 * 1024, 16 * 1024), refused, () => 20);
    assert.deepEqual(Buffer.concat(delivered.map((entry) => entry.chunk)), refused);
    assert.ok(delivered.length > 2, 'the body is not held back');
  });
});

describe('Security: RelayFrameReads against a hostile relay', () => {
  it('a frame longer than WS_MAX_MESSAGE_BYTES is not waited for: its bytes go on as read, for ws to refuse', () => {
    const header = Buffer.concat([Buffer.from([0x82, 127]), uint32(0), uint32(WS_MAX_MESSAGE_BYTES + 1)]);
    const huge = Buffer.from([0x82, 127, 0, 0, 0x01, 0, 0, 0, 0, 0]); // 2^40 bytes
    for (const [what, claim] of [['just over the limit', header], ['2^40 bytes', huge]] as const) {
      const reads = new RelayFrameReads(64 * 1024, 16 * 1024);
      const delivered = feed(reads, Buffer.concat([HEAD, claim, Buffer.alloc(1000, 1)]), () => 100);
      assert.deepEqual(Buffer.concat(delivered.map((entry) => entry.chunk)).subarray(HEAD.length, HEAD.length + claim.length), claim, what);
      assert.ok(
        (reads.onread.buffer as () => Uint8Array)().buffer.byteLength <= 64 * 1024,
        `${what}: no slab sized by the claimed length`,
      );
    }
  });

  it('a head that does not end within RELAY_CLIENT_READ_HEAD_MAX_BYTES is not held longer', () => {
    const endless = Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\n', 'latin1'), Buffer.alloc(40 * 1024, 0x61)]);
    const delivered = feed(new RelayFrameReads(64 * 1024, 16 * 1024), endless, () => 1000);
    const handedOn = delivered.reduce((sum, entry) => sum + entry.chunk.length, 0);
    assert.ok(handedOn >= endless.length - 17 * 1024, `held at most about the head bound (${endless.length - handedOn} bytes held)`);
  });
});
