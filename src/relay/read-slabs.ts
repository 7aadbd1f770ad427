/**
 * Reads of a relay socket into reused buffers (issue 15, docs/performance.md "Relay forwarding and
 * memory"): once a peer joined a session, its socket (plain TCP or TLS) is read through Node's
 * `onread` user buffers instead of a fresh 64 KiB buffer per read, and every chunk goes straight
 * to its FrameReader (frame-path.ts).
 *
 * Why: Node reads a socket into a new ArrayBuffer per read (16,384 per GiB); their external memory
 * made V8 run a mark-compact every few tens of MiB forwarded, and the allocations and collections
 * were about a fifth of the relay's CPU per GiB. The buffers here are reused, and a busy socket
 * reads up to RELAY_READ_MIN_ROOM_BYTES or more per system call.
 *
 * Two kinds of buffer:
 * - the node's one **shared buffer** (RELAY_READ_SHARED_BYTES): where every quiet socket reads.
 *   Nothing may point into it once the read's callback returned (another socket reads into it
 *   next), so the reader copies what it keeps of such a read (`ReadSource.Transient`): small
 *   frames, and the start of a large one. An idle socket therefore holds no buffer of its own.
 * - a **slab** (RELAY_READ_SLAB_BYTES) of a busy socket (one read of RELAY_READ_BUSY_BYTES or
 *   more): reads follow each other in it, and frames are forwarded as views of it, no copy. A
 *   slab counts the forwarded frames whose write has not finished (`pins`, released by the write's
 *   callback, forwarding.ts); it is written again only when no write and no incomplete frame
 *   points into it. When too little room is left, the incomplete frame's bytes are moved to the
 *   start of the same slab (no write pending) or of a free one from the node's pool, and the
 *   old slab goes back to the pool when its last write finishes. A socket that is quiet again
 *   (a small read, nothing pinned) gives its slab back to the pool and reads into the shared
 *   buffer. The pool keeps at most RELAY_READ_SLAB_POOL free slabs.
 *
 * Safety rule (the only one that matters): no byte is read into a place that a queued write, an
 * incomplete frame, or ws still points to. Bytes passed to ws are always copies (frame-path.ts);
 * a write whose callback never came only keeps its slab from being reused (never the reverse).
 *
 * Node internals relied on (checked at install; when absent the socket keeps Node's own reads):
 * a socket's `kBuffer`, `kBufferCb`, `kBufferGen` symbol properties (what `net.connect`'s
 * `onread` option sets) and its handle's `useUserBuffer`, as Node's own `initSocketHandle` does.
 * pause/resume, EOF and errors keep working unchanged with user buffers (net.js handles them).
 *
 * Untrusted input: the bytes read; this module only chooses where they land, the FrameReader
 * parses them.
 */
import type { Duplex } from 'node:stream';
import {
  RELAY_FRAME_HEADER_ROOM_BYTES,
  RELAY_READ_BUSY_BYTES,
  RELAY_READ_MIN_ROOM_BYTES,
  RELAY_READ_SHARED_BYTES,
  RELAY_READ_SLAB_BYTES,
  RELAY_READ_SLAB_POOL,
} from '../limits.js';

/** A busy socket's read buffer and the forwarded frames still being written out of it. */
export class ReadSlab {
  readonly bytes: Buffer;
  /** Forwarded frames with views of this slab whose write has not finished. */
  pins = 0;
  /** Its socket moved on: back to the pool once the last pin is released. */
  retired = false;

  constructor(size: number) {
    this.bytes = Buffer.allocUnsafe(size);
  }

  /** A forwarded frame's write finished (or failed): its views of this slab are no longer needed. */
  unpin(): void {
    this.pins--;
    if (this.pins === 0 && this.retired) giveSlab(this);
  }
}

/** Where a chunk handed to the FrameReader lives, and so whether it may keep views of it. */
export const ReadSource = {
  /** A buffer nobody writes again (Node's own reads): views may be kept. */
  Stable: 0,
  /** The shared buffer: anything kept must be copied before the callback returns. */
  Transient: 1,
} as const;

/** What the socket's reads are handed to (frame-path.ts FrameReader). */
export interface SlabReader {
  /** One chunk read, in order; `source` is a ReadSlab when the chunk is a view of that slab. */
  push(chunk: Buffer, source: ReadSlab | 0 | 1): void;
  /** Bytes of the incomplete frame held (its payload so far), and the whole frame's size when known. */
  readonly pendingBytes: number;
  readonly pendingFrameBytes: number;
  /**
   * Copy the held bytes of the incomplete frame near the start of `slab` (after
   * RELAY_FRAME_HEADER_ROOM_BYTES) and keep views of the copy instead; returns where the next read goes.
   */
  relocatePending(slab: ReadSlab): number;
}

/** The node's shared buffer and pool of free slabs (one per process: JavaScript runs one read at a time). */
const shared = Buffer.allocUnsafe(RELAY_READ_SHARED_BYTES);
const pool: ReadSlab[] = [];

function takeSlab(minBytes: number): ReadSlab {
  if (minBytes <= RELAY_READ_SLAB_BYTES) {
    const slab = pool.pop();
    if (slab !== undefined) return slab;
  }
  return new ReadSlab(Math.max(RELAY_READ_SLAB_BYTES, minBytes));
}

function giveSlab(slab: ReadSlab): void {
  slab.retired = false;
  if (slab.pins === 0 && slab.bytes.length === RELAY_READ_SLAB_BYTES && pool.length < RELAY_READ_SLAB_POOL) pool.push(slab);
}

/** Free slabs kept by the pool (for tests). */
export function pooledSlabs(): number {
  return pool.length;
}

interface UserBufferSocket {
  _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } | null;
}

function symbolNamed(object: object, name: string): symbol | undefined {
  return Object.getOwnPropertySymbols(object).find((s) => s.description === name);
}

/** One socket's reads: where the next one goes, and what it was read into. */
class SocketReads {
  readonly #reader: SlabReader;
  #slab: ReadSlab | undefined;
  /** Where the next read starts in #slab. */
  #offset = 0;

  constructor(reader: SlabReader) {
    this.#reader = reader;
  }

  /** onread `buffer`: the buffer for the next read (a view of the slab from #offset, or the shared buffer). */
  readonly next = (): Buffer => {
    const slab = this.#slab;
    if (slab === undefined) return shared;
    const room = slab.bytes.length - this.#offset;
    if (room >= RELAY_READ_MIN_ROOM_BYTES && room >= this.#reader.pendingFrameBytes - this.#reader.pendingBytes) return slab.bytes.subarray(this.#offset);
    this.#turnOver(slab);
    return (this.#slab as ReadSlab).bytes.subarray(this.#offset);
  };

  /** onread `callback`: `bytes` were read into `buffer` (what `next` returned). */
  readonly read = (bytes: number, buffer: Uint8Array): boolean => {
    const slab = this.#slab;
    const reader = this.#reader;
    if (slab === undefined || buffer === shared) {
      reader.push(shared.subarray(0, bytes), ReadSource.Transient);
      if (bytes >= RELAY_READ_BUSY_BYTES && this.#slab === undefined) {
        // Busy: read into a slab of its own from now on (what the reader kept was copied).
        this.#slab = takeSlab(0);
        this.#offset = 0;
      }
      return true;
    }
    const start = this.#offset;
    this.#offset = start + bytes;
    reader.push(slab.bytes.subarray(start, start + bytes), slab);
    if (slab.pins === 0 && reader.pendingBytes === 0) {
      if (bytes < RELAY_READ_BUSY_BYTES) {
        // Quiet again and nothing points into the slab: back to the shared buffer.
        this.#slab = undefined;
        giveSlab(slab);
      } else {
        this.#offset = 0;
      }
    }
    return true;
  };

  /** Too little room: move the incomplete frame to the start of this slab (no write pending) or of another. */
  #turnOver(slab: ReadSlab): void {
    const reader = this.#reader;
    const need = RELAY_FRAME_HEADER_ROOM_BYTES + Math.max(reader.pendingFrameBytes, reader.pendingBytes) + RELAY_READ_MIN_ROOM_BYTES;
    if (slab.pins === 0 && slab.bytes.length >= need) {
      this.#offset = reader.relocatePending(slab);
      return;
    }
    const next = takeSlab(need);
    this.#offset = reader.relocatePending(next);
    this.#slab = next;
    slab.retired = true;
    if (slab.pins === 0) giveSlab(slab);
  }
}

/**
 * Read `socket` into the shared buffer and slabs from now on, every chunk to `reader`. False when
 * the socket is not as expected (then it keeps Node's own reads and 'data' events).
 * Call while the socket is paused or between reads; chunks Node read before keep arriving as
 * 'data' first (the reader takes them as `ReadSource.Stable`).
 */
export function installSlabReads(socket: Duplex, reader: SlabReader): boolean {
  const kBuffer = symbolNamed(socket, 'kBuffer');
  const kBufferCb = symbolNamed(socket, 'kBufferCb');
  const kBufferGen = symbolNamed(socket, 'kBufferGen');
  const handle = (socket as unknown as UserBufferSocket)._handle;
  const fields = socket as unknown as Record<symbol, unknown>;
  if (kBuffer === undefined || kBufferCb === undefined || kBufferGen === undefined || fields[kBuffer] !== null) return false;
  if (handle === undefined || handle === null || typeof handle.useUserBuffer !== 'function') return false;
  const reads = new SocketReads(reader);
  const first = reads.next();
  fields[kBufferGen] = reads.next;
  fields[kBufferCb] = reads.read;
  fields[kBuffer] = first;
  handle.useUserBuffer(first);
  return true;
}
