/**
 * The relay's frame reader and writer (src/relay/frame-path.ts) against a recording target: binary
 * frames come out unmasked and whole whatever the read boundaries, every other frame reaches ws
 * byte for byte and in order, and anything ws must judge (close, fragments, bad bits, lengths over
 * the limit) goes to ws from its first byte on, with nothing after it forwarded by the relay.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { FrameReader, binaryFrameHeader, writeBinaryFrame } from '../../../src/relay/frame-path.js';
import type { FrameTarget } from '../../../src/relay/frame-path.js';
import { PassThrough } from 'node:stream';

const MAX = 1024 * 1024;

/** A client frame (RFC 6455 §5.2), masked with `mask` unless `mask` is null. */
function clientFrame(opcode: number, payload: Buffer, options: { fin?: boolean; rsv?: number; mask?: Buffer | null; length64?: boolean } = {}): Buffer {
  const mask = options.mask === undefined ? randomBytes(4) : options.mask;
  const fin = options.fin ?? true;
  const b0 = (fin ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode;
  const length = payload.length;
  let header: Buffer;
  if (options.length64 === true || length >= 0x10000) {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    header.writeUInt32BE(length >>> 0, 6);
  } else if (length >= 126) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(2);
    header[1] = length;
  }
  header[0] = b0;
  if (mask === null) return Buffer.concat([header, payload]);
  header[1] = header[1] | 0x80;
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] = (masked[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([header, mask, masked]);
}

type Event = { kind: 'binary'; data: Buffer } | { kind: 'ws'; data: Buffer };

class Recorder implements FrameTarget {
  readonly #events: Array<{ kind: 'binary' | 'ws'; pieces: Buffer[] }> = [];
  state: 'open' | 'closing' | 'stopped' = 'open';
  /** What arrived; consecutive bytes for ws are one stream, merged (the reader may pass a frame in pieces). */
  get events(): Event[] {
    return this.#events.map((e) => ({ kind: e.kind, data: Buffer.concat(e.pieces) }));
  }
  binaryFrame(slices: Buffer[], length: number, _slab?: unknown): void {
    const data = Buffer.concat(slices);
    assert.equal(data.length, length, 'the slices add up to the frame length');
    this.#events.push({ kind: 'binary', pieces: [data] });
  }
  passToWs(bytes: Buffer): void {
    const last = this.#events.at(-1);
    if (last?.kind === 'ws') last.pieces.push(Buffer.from(bytes));
    else this.#events.push({ kind: 'ws', pieces: [Buffer.from(bytes)] });
  }
  readState(): 'open' | 'closing' | 'stopped' {
    return this.state;
  }
}

/** Feed `stream` to `reader` in pieces of random sizes (1 byte up to `maxPiece`). */
function feedRandomly(reader: FrameReader, stream: Buffer, maxPiece: number): void {
  let pos = 0;
  while (pos < stream.length) {
    const size = Math.min(stream.length - pos, randomInt(1, maxPiece + 1));
    // A fresh buffer per read, as a socket delivers them (the reader unmasks in place).
    reader.push(Buffer.from(stream.subarray(pos, pos + size)));
    pos += size;
  }
}

/** What the target should see: binary payloads, and the raw bytes of every other frame merged per run. */
function expected(frames: Array<{ raw: Buffer; binary?: Buffer }>): Event[] {
  const events: Event[] = [];
  for (const frame of frames) {
    if (frame.binary !== undefined) {
      events.push({ kind: 'binary', data: frame.binary });
      continue;
    }
    const last = events.at(-1);
    if (last?.kind === 'ws') last.data = Buffer.concat([last.data, frame.raw]);
    else events.push({ kind: 'ws', data: frame.raw });
  }
  return events;
}

function assertEvents(actual: Event[], wanted: Event[], what: string): void {
  assert.equal(actual.length, wanted.length, `${what}: number of events`);
  for (let i = 0; i < wanted.length; i++) {
    const a = actual[i] as Event;
    const w = wanted[i] as Event;
    assert.equal(a.kind, w.kind, `${what}: event ${i} kind`);
    assert.ok(a.data.equals(w.data), `${what}: event ${i} (${w.kind}, ${w.data.length} bytes) delivered unchanged`);
  }
}

describe('Security: the relay frame reader (frame-path.ts)', () => {
  it('a storm of random read boundaries: every binary frame comes out whole and unmasked, every other frame reaches ws unchanged, all in order', () => {
    const sizes = [0, 1, 3, 4, 5, 31, 32, 33, 125, 126, 127, 65_535, 65_536, 65_537, 200_000, 262_144];
    const pieces = [1, 7, 15, 4096, 65_536, 300_000];
    for (let round = 0; round < 24; round++) {
      const maxPiece = pieces[round % pieces.length] as number;
      // Tiny reads over small frames (every header split every way), larger reads over large ones.
      const sizeCount = maxPiece < 100 ? 11 : sizes.length;
      const frames: Array<{ raw: Buffer; binary?: Buffer }> = [];
      for (let i = 0; i < 60; i++) {
        const pick = randomInt(0, 10);
        if (pick < 7) {
          const payload = randomBytes(sizes[randomInt(0, sizeCount)] as number);
          // Some frames with an all-zero mask (a valid mask: the payload is sent as it is).
          const mask = randomInt(0, 8) === 0 ? Buffer.alloc(4) : randomBytes(4);
          frames.push({ raw: clientFrame(2, payload, { mask }), binary: payload });
        } else if (pick === 7) {
          frames.push({ raw: clientFrame(9, randomBytes(randomInt(0, 126))) });
        } else if (pick === 8) {
          frames.push({ raw: clientFrame(10, randomBytes(randomInt(0, 126))) });
        } else {
          frames.push({ raw: clientFrame(1, Buffer.from(JSON.stringify({ type: 'established', n: i }))) });
        }
      }
      const stream = Buffer.concat(frames.map((f) => f.raw));
      const recorder = new Recorder();
      const reader = new FrameReader(recorder, MAX);
      feedRandomly(reader, stream, maxPiece);
      assertEvents(recorder.events, expected(frames), `round ${round} (reads of 1 to ${maxPiece} bytes)`);
    }
  });

  it('a binary frame whose 64-bit length is not minimal is still read (ws accepts it too)', () => {
    const payload = randomBytes(300);
    const recorder = new Recorder();
    new FrameReader(recorder, MAX).push(clientFrame(2, payload, { length64: true }));
    assertEvents(recorder.events, [{ kind: 'binary', data: payload }], 'long header');
  });

  const refused: Array<[string, (payload: Buffer) => Buffer]> = [
    ['a close frame', (p) => clientFrame(8, p.subarray(0, 2))],
    ['a first fragment (FIN clear)', (p) => clientFrame(2, p, { fin: false })],
    ['a continuation frame', (p) => clientFrame(0, p)],
    ['a frame with RSV1 set (no extension is negotiated)', (p) => clientFrame(2, p, { rsv: 4 })],
    ['a frame with RSV3 set', (p) => clientFrame(2, p, { rsv: 1 })],
    ['an unmasked frame', (p) => clientFrame(2, p, { mask: null })],
    ['an unknown opcode', (p) => clientFrame(3, p)],
    ['a ping over 125 bytes', (p) => clientFrame(9, Buffer.concat([p, p]).subarray(0, 126))],
    ['a fragmented ping', (p) => clientFrame(9, p.subarray(0, 10), { fin: false })],
    ['a binary frame one byte over the limit', () => clientFrame(2, Buffer.alloc(MAX + 1))],
    ['a text frame one byte over the limit', () => clientFrame(1, Buffer.alloc(MAX + 1))],
  ];
  for (const [name, make] of refused) {
    it(`${name}: ws gets it and everything after it, from its first byte; the relay forwards nothing after it`, () => {
      const before = randomBytes(1000);
      const after = clientFrame(2, randomBytes(500));
      const odd = make(randomBytes(100));
      const recorder = new Recorder();
      feedRandomly(new FrameReader(recorder, MAX), Buffer.concat([clientFrame(2, before), odd, after]), 997);
      assertEvents(recorder.events, [{ kind: 'binary', data: before }, { kind: 'ws', data: Buffer.concat([odd, after]) }], name);
    });
  }

  it('a 64-bit length of 2^32 or more is left to ws (which refuses it) without reading on', () => {
    const header = Buffer.from([0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]);
    const tail = randomBytes(64);
    const recorder = new Recorder();
    feedRandomly(new FrameReader(recorder, Number.MAX_SAFE_INTEGER), Buffer.concat([header, tail]), 3);
    assertEvents(recorder.events, [{ kind: 'ws', data: Buffer.concat([header, tail]) }], '2^32');
  });

  it('once the socket is no longer open, ws reads everything from the next frame on; once ws stopped, nobody does', () => {
    const first = randomBytes(10);
    const second = clientFrame(2, randomBytes(10));
    const recorder = new Recorder();
    const reader = new FrameReader(recorder, MAX);
    reader.push(clientFrame(2, first));
    recorder.state = 'closing';
    reader.push(second);
    assertEvents(recorder.events, [{ kind: 'binary', data: first }, { kind: 'ws', data: second }], 'closing');
    recorder.state = 'stopped';
    reader.push(clientFrame(2, randomBytes(10)));
    assert.equal(recorder.events.length, 2, 'nothing is read once ws stopped');
  });

  it('a frame that ws ends on (its receiver stopped while reading it) stops the reader: the rest of the read goes nowhere', () => {
    const recorder = new Recorder();
    const ping = clientFrame(9, Buffer.from('x'));
    const target: FrameTarget = {
      binaryFrame: (s, l) => recorder.binaryFrame(s, l),
      passToWs: (b) => {
        recorder.passToWs(b);
        recorder.state = 'stopped';
      },
      readState: () => recorder.state,
    };
    new FrameReader(target, MAX).push(Buffer.concat([ping, clientFrame(2, randomBytes(10))]));
    assert.deepEqual(recorder.events.map((e) => e.kind), ['ws']);
    assert.ok((recorder.events[0] as Event).data.equals(ping));
  });
});

describe('Security: the relay frame reader under backpressure (frame-path.ts)', () => {
  it('while the target holds (the relay stopped reading the sender), the rest of a read waits, copied, and comes out whole and in order on resumeHeld', () => {
    const payloads = Array.from({ length: 40 }, () => randomBytes(randomInt(0, 70_000)));
    const stream = Buffer.concat(payloads.map((p) => clientFrame(2, p)));
    const recorder = new Recorder();
    let holding = false;
    const target: FrameTarget = {
      binaryFrame: (s, l, slab) => {
        recorder.binaryFrame(s, l, slab);
        holding = true; // every frame fills the receiver's queue past its mark
      },
      passToWs: (b) => recorder.passToWs(b),
      readState: () => recorder.state,
      holding: () => holding,
    };
    const reader = new FrameReader(target, MAX);
    // One large read holding every frame: only one frame may come out of it before the hold.
    const read = Buffer.from(stream);
    reader.push(read);
    assert.equal(recorder.events.length, 1, 'one frame forwarded, the rest held');
    read.fill(0); // the socket's buffer is read into again: the held bytes are a copy
    for (let i = 1; i < payloads.length; i++) {
      holding = false;
      reader.resumeHeld();
      assert.equal(recorder.events.length, i + 1, `one more frame after resume ${i}`);
    }
    assertEvents(recorder.events, payloads.map((data) => ({ kind: 'binary', data })), 'held frames');
  });
});

describe('relay frame writer (frame-path.ts)', () => {
  it('writes a server frame header of 2, 4 or 10 bytes (RFC 6455 §5.2) and the slices after it, in order', async () => {
    for (const length of [0, 125, 126, 65_535, 65_536, 300_000]) {
      const header = binaryFrameHeader(length);
      assert.equal(header[0], 0x82, `${length}: FIN and opcode 2`);
      assert.equal(header.length, length < 126 ? 2 : length < 65_536 ? 4 : 10, `${length}: header length`);
      const payload = randomBytes(length);
      const slices = length === 0 ? [] : [payload.subarray(0, Math.floor(length / 3)), payload.subarray(Math.floor(length / 3))];
      const sink = new PassThrough();
      const chunks: Buffer[] = [];
      sink.on('data', (chunk: Buffer) => chunks.push(chunk));
      await new Promise<void>((resolve, reject) => writeBinaryFrame(sink, slices, length, (err) => (err ? reject(err) : resolve())));
      assert.ok(Buffer.concat(chunks).equals(Buffer.concat([header, payload])), `${length}: header then payload`);
    }
  });
});

describe('Security: the relay frame reader, frames copied out of the shared read buffer (frame-path.ts)', () => {
  /** Records each frame's slices and header room, and writes it as the relay does (writeBinaryFrame). */
  class Writing implements FrameTarget {
    readonly written: Buffer[] = [];
    readonly rooms: number[] = [];
    readonly #sink = new PassThrough();
    constructor() {
      this.#sink.on('data', (chunk: Buffer) => this.written.push(chunk));
    }
    binaryFrame(slices: Buffer[], length: number, _slab: unknown, headerRoom: number): void {
      this.rooms.push(headerRoom);
      writeBinaryFrame(this.#sink, slices, length, () => undefined, headerRoom);
    }
    passToWs(): void {
      assert.fail('nothing for ws here');
    }
    readState(): 'open' {
      return 'open';
    }
  }

  it('a whole small frame is copied with room for the server header in its own buffer: written as one buffer, nothing before the copy overwritten, the shared buffer free to be read into again', async () => {
    const target = new Writing();
    const reader = new FrameReader(target, MAX);
    const shared = Buffer.alloc(4096);
    const payloads = [randomBytes(1), randomBytes(125), randomBytes(126), randomBytes(1100), randomBytes(4000)];
    for (const payload of payloads) {
      const frame = clientFrame(0x2, payload);
      frame.copy(shared);
      // Allocated from Node's buffer pool just before the reader's copy: a header written in front
      // of the copy's room would land here.
      const neighbour = Buffer.allocUnsafe(32).fill(0xab);
      reader.push(shared.subarray(0, frame.length), 1 /* ReadSource.Transient */);
      shared.fill(0x55); // the shared buffer is read into again at once
      assert.ok(neighbour.every((byte) => byte === 0xab), `${payload.length}: the bytes before the copy are untouched`);
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(target.rooms, [10, 10, 10, 10, 10], 'each frame had the reader\'s own room before it');
    assert.equal(target.written.length, payloads.length, 'one write per frame');
    for (let i = 0; i < payloads.length; i++) {
      const payload = payloads[i]!;
      assert.ok(target.written[i]!.equals(Buffer.concat([binaryFrameHeader(payload.length), payload])), `frame ${i}: header then payload`);
    }
  });

  it('a frame split across reads of the shared buffer is copied piece by piece and written with a header of its own', async () => {
    const target = new Writing();
    const reader = new FrameReader(target, MAX);
    const payload = randomBytes(3000);
    const frame = clientFrame(0x2, payload);
    const shared = Buffer.alloc(4096);
    for (const [from, to] of [[0, 1000], [1000, frame.length]] as const) {
      frame.copy(shared, 0, from, to);
      reader.push(shared.subarray(0, to - from), 1 /* ReadSource.Transient */);
      shared.fill(0x55);
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(target.rooms, [0], 'no room: the payload is two copies');
    assert.ok(Buffer.concat(target.written).equals(Buffer.concat([binaryFrameHeader(payload.length), payload])), 'header then payload');
  });
});
