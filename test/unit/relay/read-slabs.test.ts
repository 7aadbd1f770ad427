/**
 * The relay's reads into reused buffers (src/relay/read-slabs.ts) on real accepted TCP sockets on
 * 127.0.0.1, with the relay's FrameReader: whatever the write boundaries and however long a
 * forwarded frame stays pinned, every frame comes out whole and unchanged, and no view handed on
 * is overwritten before its slab is unpinned (the module's safety rule). A quiet socket gives its
 * slab back; a stream that is not a socket keeps Node's own reads.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { FrameReader } from '../../../src/relay/frame-path.js';
import type { FrameTarget } from '../../../src/relay/frame-path.js';
import { installSlabReads, pooledSlabs } from '../../../src/relay/read-slabs.js';
import type { ReadSlab } from '../../../src/relay/read-slabs.js';
import { RELAY_READ_SLAB_BYTES } from '../../../src/limits.js';
import { within } from '../../helpers/wait-until.js';
import { clientFrame } from '../../helpers/websocket-client-frames.js';

const MAX = 4 * 1024 * 1024;

/** A listening server and one accepted socket (as the relay's HTTP server hands them on) with its client. */
async function socketPair(): Promise<{ server: Server; accepted: Socket; client: Socket }> {
  const server = createServer();
  const acceptedP = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const client = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  const accepted = await acceptedP;
  accepted.pause();
  return { server, accepted, client };
}

async function closePair(server: Server, accepted: Socket, client: Socket): Promise<void> {
  client.destroy();
  accepted.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A target that keeps each frame's views pinned for a while, checking they did not change before releasing them. */
class HoldingTarget implements FrameTarget {
  readonly frames: Buffer[] = [];
  readonly #held: Array<{ slices: Buffer[]; copy: Buffer; slab: ReadSlab | undefined; index: number }> = [];
  slabFrames = 0;
  headerRoomFrames = 0;
  /** Frames whose header room is in the reader's own copy (no slab). */
  copyRoomFrames = 0;
  overwritten = 0;
  readonly passed: Buffer[] = [];

  binaryFrame(slices: Buffer[], length: number, slab: ReadSlab | undefined, headerRoom: number): void {
    const copy = Buffer.concat(slices);
    assert.equal(copy.length, length, 'the slices add up to the frame length');
    if (headerRoom > 0) {
      // The bytes before the one slice are free for the server header: scribble over all of them,
      // as a writer may; no frame (held, or still to come) may change.
      const only = slices[0] as Buffer;
      assert.equal(slices.length, 1, 'header room only before a single slice');
      if (slab !== undefined) {
        assert.ok(only.buffer === slab.bytes.buffer && only.byteOffset - slab.bytes.byteOffset >= headerRoom, 'the room lies inside the slab');
      } else {
        // A small frame the reader copied out of the shared buffer, with room of its own before it.
        assert.ok(only.byteOffset >= headerRoom, 'the room lies inside the copy\'s buffer');
        this.copyRoomFrames++;
      }
      Buffer.from(only.buffer, only.byteOffset - headerRoom, headerRoom).fill(0xee);
      this.headerRoomFrames++;
    }
    this.frames.push(copy);
    if (slab !== undefined) {
      this.slabFrames++;
      slab.pins++;
    }
    this.#held.push({ slices, copy, slab, index: this.frames.length - 1 });
    // Release some held frames (oldest first, as writes finish in order), keeping up to a random number in flight.
    const keep = randomInt(0, 12);
    while (this.#held.length > keep) this.#release();
  }

  releaseAll(): void {
    while (this.#held.length > 0) this.#release();
  }

  #release(): void {
    const held = this.#held.shift();
    if (held === undefined) return;
    if (!Buffer.concat(held.slices).equals(held.copy)) this.overwritten++;
    held.slab?.unpin();
  }

  passToWs(bytes: Buffer): void {
    this.passed.push(bytes);
  }

  readState(): 'open' {
    return 'open';
  }
}

describe('Security: relay reads into reused buffers (read-slabs.ts)', () => {
  it('a storm of random write boundaries and frame sizes: every frame comes out whole, in order, and no held view is overwritten', async (t) => {
    const { server, accepted, client } = await socketPair();
    // Closed whether the checks pass or not: a failed check must not leave the file's process running.
    t.after(() => closePair(server, accepted, client));
    const target = new HoldingTarget();
    const reader = new FrameReader(target, MAX);
    assert.equal(installSlabReads(accepted, reader), true, 'an accepted TCP socket takes user buffers');
    const sizes = [0, 1, 125, 126, 1000, 16_384, 65_535, 65_536, 100_000, 262_144, 262_154, 700_000, 1_500_000];
    const payloads: Buffer[] = [];
    for (let i = 0; i < 400; i++) payloads.push(randomBytes(sizes[randomInt(0, sizes.length)] as number));
    const stream = Buffer.concat(payloads.map((payload) => clientFrame(2, payload)));
    let check: NodeJS.Timeout | undefined;
    t.after(() => clearInterval(check));
    const all = new Promise<void>((resolve) => {
      check = setInterval(() => {
        if (target.frames.length >= payloads.length) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    accepted.resume();
    let pos = 0;
    while (pos < stream.length) {
      const size = Math.min(stream.length - pos, randomInt(0, 3) === 0 ? randomInt(1, 64) : randomInt(1, 400_000));
      client.write(stream.subarray(pos, pos + size));
      pos += size;
      if (randomInt(0, 4) === 0) await new Promise((resolve) => setTimeout(resolve, randomInt(0, 3)));
    }
    await within(60_000, 'every frame at the target', all);
    target.releaseAll();
    assert.equal(target.overwritten, 0, 'no view of a pinned slab was read into');
    assert.equal(target.frames.length, payloads.length, 'frame count');
    for (let i = 0; i < payloads.length; i++) assert.ok((target.frames[i] as Buffer).equals(payloads[i] as Buffer), `frame ${i} (${(payloads[i] as Buffer).length} bytes) unchanged`);
    assert.ok(target.slabFrames > 0, 'busy reads forwarded views of a slab');
    assert.ok(target.headerRoomFrames > 0, 'some frames had room for their header before the payload');
  });

  it('a quiet socket gives its slab back to the pool and small frames still come out whole', async (t) => {
    const { server, accepted, client } = await socketPair();
    t.after(() => closePair(server, accepted, client));
    const checks: NodeJS.Timeout[] = [];
    t.after(() => checks.forEach((check) => clearInterval(check)));
    const target = new HoldingTarget();
    const reader = new FrameReader(target, MAX);
    assert.equal(installSlabReads(accepted, reader), true);
    accepted.resume();
    const big = randomBytes(RELAY_READ_SLAB_BYTES / 2);
    client.write(clientFrame(2, big));
    await within(10_000, 'the large frame', new Promise<void>((resolve) => {
      const check = setInterval(() => target.frames.length === 1 && (clearInterval(check), resolve()), 5);
      checks.push(check);
    }));
    target.releaseAll();
    const pooled = pooledSlabs();
    const small = randomBytes(10);
    client.write(clientFrame(2, small));
    await within(10_000, 'the small frame', new Promise<void>((resolve) => {
      const check = setInterval(() => target.frames.length === 2 && (clearInterval(check), resolve()), 5);
      checks.push(check);
    }));
    target.releaseAll();
    assert.ok((target.frames[0] as Buffer).equals(big) && (target.frames[1] as Buffer).equals(small), 'both frames unchanged');
    assert.ok(pooledSlabs() >= Math.min(pooled + 1, 1), 'the quiet socket returned its slab');
  });

  it('a stream that is not a socket keeps its own reads', () => {
    const reader = new FrameReader(new HoldingTarget(), MAX);
    assert.equal(installSlabReads(new PassThrough(), reader), false);
  });
});
