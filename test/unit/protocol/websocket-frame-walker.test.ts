/**
 * protocol/websocket-frame-walker.ts, and the two classes built on it: the splice's boundary
 * tracker (protocol/websocket-boundary.ts) and the recorder's frame reader
 * (audit/websocket-frames.ts). A storm of random, well-formed frame streams (7-, 16- and 64-bit
 * lengths, fragmented messages with control frames between the fragments, closes), split into
 * random pieces (headers split byte by byte too), goes to all three at once: after every piece
 * the walker has ended exactly the generated frames, the boundary stands between frames exactly
 * at their ends, and the reader has reported exactly the unmasked payload bytes that arrived.
 * Then the same streams corrupted at random (a byte changed, bytes inserted or cut out): up to the
 * first changed byte every verdict equals the clean stream's, once the reader failed or the
 * boundary is lost nothing more is reported or allowed, and the boundary is never lost while the
 * stricter reader reads on. Every case is seeded: a failure names its seed to replay it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FrameDirection } from '../../../src/audit/websocket-frames.js';
import { WebSocketFrameReader } from '../../../src/audit/websocket-frames.js';
import { WebSocketBoundary } from '../../../src/protocol/websocket-boundary.js';
import type { FrameHeaderStatus } from '../../../src/protocol/websocket-frame-header.js';
import { FrameSequence, WebSocketFrameWalker } from '../../../src/protocol/websocket-frame-walker.js';
import { WebSocketOpcode } from '../../../src/protocol/websocket-opcode.js';

/** A small deterministic PRNG (mulberry32): `next(n)` is an integer in [0, n). */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** One generated frame: where it lies in the stream and what a reader should make of it. */
interface Frame {
  readonly opcode: number;
  readonly fin: boolean;
  /** Offsets in the stream: the header's first byte, the payload's first byte, the frame's end. */
  readonly start: number;
  readonly payloadStart: number;
  readonly end: number;
  /** The unmasked payload. */
  readonly payload: Buffer;
  /** After this frame: a fragmented message is open; a close has passed. */
  readonly inMessage: boolean;
  readonly closed: boolean;
  readonly sequence: FrameSequence;
}

interface Stream {
  readonly bytes: Buffer;
  readonly frames: readonly Frame[];
  /** The unmasked payloads of the data messages, whole. */
  readonly messages: readonly Buffer[];
}

/** A well-formed stream as `direction` sends it: the client masks every frame, the server none. */
function randomStream(next: (n: number) => number, direction: FrameDirection): Stream {
  const parts: Buffer[] = [];
  const frames: Frame[] = [];
  const messages: Buffer[] = [];
  let at = 0;
  let closed = false;
  const add = (opcode: number, fin: boolean, payload: Buffer, inMessage: boolean, sequence: FrameSequence): void => {
    const control = (opcode & 0x08) !== 0;
    // Any encoding the length fits, non-minimal ones too (ws accepts them, and so do the readers).
    const forms = ([7, 16, 64] as const).filter((f) => payload.length <= (f === 7 ? 125 : f === 16 ? 0xffff : Infinity));
    const form = control ? 7 : forms[next(forms.length)]!;
    const lengthBytes = form === 7 ? 0 : form === 16 ? 2 : 8;
    const masked = direction === 'client';
    const head = Buffer.alloc(2 + lengthBytes + (masked ? 4 : 0));
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = (masked ? 0x80 : 0) | (form === 7 ? payload.length : form === 16 ? 126 : 127);
    if (form === 16) head.writeUInt16BE(payload.length, 2);
    if (form === 64) head.writeBigUInt64BE(BigInt(payload.length), 2);
    const wire = Buffer.from(payload);
    if (masked) {
      const key = [next(256), next(256), next(256), next(256)];
      head.set(key, 2 + lengthBytes);
      for (let i = 0; i < wire.length; i++) wire[i] = wire[i]! ^ key[i & 3]!;
    }
    if (opcode === WebSocketOpcode.Close) closed = true;
    parts.push(head, wire);
    frames.push({ opcode, fin, start: at, payloadStart: at + head.length, end: at + head.length + wire.length, payload, inMessage, closed, sequence });
    at += head.length + wire.length;
  };
  const randomPayload = (control: boolean): Buffer => {
    const length = control ? next(126) : next(25) === 0 ? 65_536 + next(4096) : next(3) === 0 ? next(126) : next(2000);
    const payload = Buffer.alloc(length);
    for (let i = 0; i < length; i++) payload[i] = next(256);
    return payload;
  };
  const control = (): void => {
    const opcode = [WebSocketOpcode.Ping, WebSocketOpcode.Pong, WebSocketOpcode.Close][next(3)]!;
    add(opcode, true, randomPayload(true), frames.at(-1)?.inMessage ?? false, FrameSequence.Control);
  };
  const count = 1 + next(10);
  for (let m = 0; m < count; m++) {
    if (next(4) === 0) control();
    const opcode = next(2) === 0 ? WebSocketOpcode.Binary : WebSocketOpcode.Text;
    const fragments = next(3) === 0 ? 2 + next(4) : 1;
    const pieces: Buffer[] = [];
    for (let f = 0; f < fragments; f++) {
      const last = f === fragments - 1;
      const payload = randomPayload(false);
      pieces.push(payload);
      add(f === 0 ? opcode : WebSocketOpcode.Continuation, last, payload, !last, f === 0 ? FrameSequence.MessageStart : FrameSequence.Continuation);
      if (!last && next(3) === 0) control();
    }
    messages.push(Buffer.concat(pieces));
  }
  return { bytes: Buffer.concat(parts), frames, messages };
}

/** Ends of the pieces the stream is pushed in: mostly tiny (headers split byte by byte), some large, now and then empty. */
function randomCuts(next: (n: number) => number, total: number): number[] {
  const cuts: number[] = [];
  let at = 0;
  while (at < total) {
    const size = next(3) === 0 ? next(4) : next(4) === 0 ? 1 + next(70_000) : 1 + next(200);
    at = Math.min(total, at + size);
    cuts.push(at);
  }
  return cuts;
}

/** Everything the recorder's reader reported, in order, and the checks every report must pass. */
class ReaderLog {
  readonly reader: WebSocketFrameReader;
  /** Every event as text, for comparing two runs. */
  readonly events: string[] = [];
  readonly messages: Buffer[] = [];
  readonly errors: string[] = [];
  dataBytes = 0;
  #current: Buffer[] | undefined;

  constructor(direction: FrameDirection) {
    this.reader = new WebSocketFrameReader(direction, {
      messageStart: () => {
        this.#alive('messageStart');
        assert.equal(this.#current, undefined, 'a message starts inside another');
        this.#current = [];
        this.events.push('start');
      },
      data: (bytes) => {
        this.#alive('data');
        assert.ok(bytes.length > 0, 'data is never empty');
        assert.ok(this.#current !== undefined, 'data outside a message');
        this.#current.push(Buffer.from(bytes));
        this.dataBytes += bytes.length;
        this.events.push(`data ${bytes.toString('hex')}`);
      },
      messageEnd: () => {
        this.#alive('messageEnd');
        assert.ok(this.#current !== undefined, 'a message ends that never started');
        this.messages.push(Buffer.concat(this.#current));
        this.#current = undefined;
        this.events.push('end');
      },
      error: (reason) => {
        this.#alive('error');
        assert.equal(this.reader.failed, true, 'failed while the error is reported');
        this.errors.push(reason);
        this.events.push(`error ${reason}`);
      },
    });
  }

  #alive(event: string): void {
    assert.deepEqual(this.errors, [], `${event} reported after the error`);
  }
}

/** A walker that accepts every followable header and counts what it is handed. */
class WalkerLog {
  readonly walker: WebSocketFrameWalker;
  readonly sequences: FrameSequence[] = [];
  frameEnds = 0;
  payloadBytes = 0;

  constructor() {
    this.walker = new WebSocketFrameWalker({
      header: (_header, _status: FrameHeaderStatus, sequence) => {
        this.sequences.push(sequence);
        return sequence <= FrameSequence.Control;
      },
      payload: (chunk, start, end) => {
        assert.ok(start >= 0 && start < end && end <= chunk.length, `a payload piece within its chunk (${start}..${end} of ${chunk.length})`);
        this.payloadBytes += end - start;
      },
      frameEnd: () => {
        this.frameEnds++;
      },
    });
  }
}

/** Payload bytes of `frames` that lie before stream offset `cut` (data frames only, when `dataOnly`). */
function payloadBefore(frames: readonly Frame[], cut: number, dataOnly: boolean): number {
  let sum = 0;
  for (const f of frames) {
    if (dataOnly && (f.opcode & 0x08) !== 0) continue;
    sum += Math.max(0, Math.min(cut, f.end) - f.payloadStart);
  }
  return sum;
}

const CLEAN_ROUNDS = 160;
const CORRUPT_ROUNDS = 400;

describe('WebSocketFrameWalker and the classes built on it', () => {
  it('a storm of clean streams in random pieces: frames, boundaries and unmasked payloads are exact after every piece', () => {
    for (let seed = 1; seed <= CLEAN_ROUNDS; seed++) {
      const next = prng(seed);
      const direction: FrameDirection = seed % 2 === 0 ? 'client' : 'server';
      const stream = randomStream(next, direction);
      const ends = new Map(stream.frames.map((f) => [f.end, f]));
      const walker = new WalkerLog();
      const boundary = new WebSocketBoundary();
      const reader = new ReaderLog(direction);
      let from = 0;
      for (const to of randomCuts(next, stream.bytes.length)) {
        const piece = stream.bytes.subarray(from, to);
        walker.walker.push(piece);
        boundary.push(piece);
        reader.reader.push(piece);
        from = to;
        const id = `seed ${seed} (${direction}), after ${to} of ${stream.bytes.length} bytes`;
        const ended = stream.frames.filter((f) => f.end <= to);
        const end = ends.get(to);
        assert.equal(walker.frameEnds, ended.length, `${id}: frames ended`);
        assert.equal(walker.payloadBytes, payloadBefore(stream.frames, to, false), `${id}: payload bytes handed on`);
        assert.deepEqual(walker.sequences, stream.frames.filter((f) => f.payloadStart <= to).map((f) => f.sequence), `${id}: sequences`);
        assert.equal(walker.walker.atFrameBoundary, end !== undefined || to === 0, `${id}: walker at a frame end`);
        assert.equal(boundary.atFrameBoundary, end !== undefined || to === 0, `${id}: boundary at a frame end`);
        assert.equal(boundary.lost, false, id);
        if (end !== undefined) {
          assert.equal(boundary.inMessage, end.inMessage, `${id}: in a fragmented message`);
          assert.equal(boundary.canAddMessage, !end.inMessage && !end.closed, `${id}: may add a message`);
        } else if (to !== 0) {
          assert.equal(boundary.canAddMessage, false, `${id}: never mid-frame`);
        }
        assert.deepEqual(reader.errors, [], id);
        assert.equal(reader.dataBytes, payloadBefore(stream.frames, to, true), `${id}: data bytes reported as they arrive`);
      }
      assert.equal(reader.messages.length, stream.messages.length, `seed ${seed}: messages`);
      stream.messages.forEach((message, i) => assert.ok(reader.messages[i]!.equals(message), `seed ${seed}: message ${i} unmasked as sent`));
    }
  });

  it('a storm of corrupted streams: the clean verdicts up to the first changed byte, then nothing after a failure', () => {
    let failures = 0;
    let losses = 0;
    for (let seed = 1; seed <= CORRUPT_ROUNDS; seed++) {
      const next = prng(seed * 7919);
      const direction: FrameDirection = seed % 2 === 0 ? 'client' : 'server';
      const clean = randomStream(next, direction);
      // Mostly a header byte changed (where the rules are), else bytes inserted or cut out.
      const target = clean.frames[next(clean.frames.length)]!;
      const at = next(2) === 0 ? target.start + next(Math.min(2, target.payloadStart - target.start)) : next(clean.bytes.length);
      const kind = next(4);
      const changed = Buffer.from([next(256)]);
      const bytes =
        kind === 0
          ? Buffer.concat([clean.bytes.subarray(0, at), changed, clean.bytes.subarray(at)])
          : kind === 1
            ? Buffer.concat([clean.bytes.subarray(0, at), clean.bytes.subarray(at + 1 + next(20))])
            : Buffer.concat([clean.bytes.subarray(0, at), Buffer.from([clean.bytes[at]! ^ (1 + next(255))]), clean.bytes.subarray(at + 1)]);
      // The first byte that differs from the clean stream (an inserted copy of the next byte differs later, or never).
      let same = 0;
      while (same < bytes.length && same < clean.bytes.length && bytes[same] === clean.bytes[same]) same++;

      const boundary = new WebSocketBoundary();
      const reader = new ReaderLog(direction);
      const cleanBoundary = new WebSocketBoundary();
      const cleanReader = new ReaderLog(direction);
      let from = 0;
      for (const to of randomCuts(next, bytes.length)) {
        const id = `seed ${seed} (${direction}, corruption ${kind} at ${at}, same up to ${same}), after ${to} of ${bytes.length} bytes`;
        const wasLost = boundary.lost;
        const eventsBefore = reader.events.length;
        const wasFailed = reader.reader.failed;
        boundary.push(bytes.subarray(from, to));
        reader.reader.push(bytes.subarray(from, to));
        if (wasLost) assert.equal(boundary.lost, true, `${id}: lost for good`);
        if (boundary.lost) assert.equal(boundary.canAddMessage, false, `${id}: nothing added once lost`);
        if (boundary.canAddMessage) assert.equal(boundary.atFrameBoundary, true, `${id}: a message only between frames`);
        if (wasFailed) assert.equal(reader.events.length, eventsBefore, `${id}: nothing reported once failed`);
        assert.equal(reader.reader.failed, reader.errors.length === 1, `${id}: failed exactly when one error was reported`);
        // The lenient tracker loses only what the strict reader refuses (they read the same headers).
        if (boundary.lost) assert.equal(reader.reader.failed, true, `${id}: the boundary lost where the reader reads on`);
        if (to <= same) {
          const cleanPiece = clean.bytes.subarray(from, to);
          cleanBoundary.push(cleanPiece);
          cleanReader.reader.push(cleanPiece);
          assert.deepEqual(
            [boundary.atFrameBoundary, boundary.inMessage, boundary.canAddMessage, boundary.lost],
            [cleanBoundary.atFrameBoundary, cleanBoundary.inMessage, cleanBoundary.canAddMessage, cleanBoundary.lost],
            `${id}: the boundary as for the clean stream`,
          );
          assert.deepEqual(reader.events, cleanReader.events, `${id}: the reader as for the clean stream`);
        }
        from = to;
      }
      if (reader.reader.failed) failures++;
      if (boundary.lost) losses++;
    }
    // The corruption must reach the rules often, or this storm tests nothing.
    assert.ok(failures > CORRUPT_ROUNDS / 4, `the reader failed in ${failures} of ${CORRUPT_ROUNDS} rounds`);
    assert.ok(losses > CORRUPT_ROUNDS / 10, `the boundary was lost in ${losses} of ${CORRUPT_ROUNDS} rounds`);
  });

  it('a header hook that throws leaves the walk stopped: no half-read frame is walked on from', () => {
    let calls = 0;
    const walker = new WebSocketFrameWalker({
      header: () => {
        calls++;
        throw new Error('hook failed');
      },
      payload: () => assert.fail('no payload after a throwing hook'),
      frameEnd: () => assert.fail('no frame end after a throwing hook'),
    });
    assert.throws(() => walker.push(Buffer.from([0x82, 0x02, 0x01, 0x02])), /hook failed/);
    assert.equal(walker.stopped, true);
    assert.equal(walker.atFrameBoundary, false);
    walker.push(Buffer.from([0x82, 0x00]));
    assert.equal(calls, 1);
  });

  it('an owner that stops the walk in a payload hook gets nothing more, though the frame ends in the same piece', () => {
    let pieces = 0;
    const walker: WebSocketFrameWalker = new WebSocketFrameWalker({
      header: () => true,
      payload: () => {
        pieces++;
        walker.stop();
      },
      frameEnd: () => assert.fail('no frame end once stopped'),
    });
    walker.push(Buffer.from([0x82, 0x02, 0x01, 0x02, 0x82, 0x01, 0x03]));
    assert.equal(walker.stopped, true);
    walker.push(Buffer.from([0x82, 0x01, 0x04]));
    assert.equal(pieces, 1);
  });

  it('a length no number counts stops the walk even when the hook accepts it', () => {
    const statuses: FrameHeaderStatus[] = [];
    const walker = new WebSocketFrameWalker({
      header: (_header, status) => {
        statuses.push(status);
        return true;
      },
      payload: () => assert.fail('no payload for an uncountable length'),
      frameEnd: () => assert.fail('no frame end for an uncountable length'),
    });
    walker.push(Buffer.from([0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x82, 0x00]));
    assert.equal(walker.stopped, true);
    assert.equal(statuses.length, 1);
  });
});
