/**
 * The endpoints' writer of binary WebSocket frames (RFC 6455 §5.2): one buffer holding the
 * header and the payload masked with a fresh random key (§5.3: a client masks every frame, with
 * a key the network cannot predict), built from the message's pieces in one pass.
 *
 * Why not ws's `send`: ws treats a Buffer it is given as read-only, so it allocates header +
 * payload and masks into it; the secure channel's records came as ciphertext parts and tag
 * (src/crypto/aead.ts), which had first been copied into one buffer for ws. Here the pieces
 * are masked straight into the frame: one copy of each record's bytes instead of two. The
 * pieces are only read, never changed: the channel keeps them (unmasked ciphertext) to send
 * again after a resume, when they get a new frame and a new key.
 *
 * Masking keys come 4 bytes at a time from a pool filled by `randomFillSync` (the CSPRNG), as
 * ws draws its own; the XOR runs in bufferutil's native code when it loads (as in ws), else in
 * a JavaScript loop. No I/O.
 */
import { randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';

/** Bytes of random masking keys drawn at once (2,048 keys). */
const MASK_POOL_BYTES = 8 * 1024;
/** WebSocket opcode of a binary frame, with FIN set: a whole message in one frame. */
const FIN_BINARY = 0x82;
/** The MASK bit of the second header byte. */
const MASK_BIT = 0x80;
/** Longest payload whose length fits the 7-bit field; 126 and 127 announce 16 and 64-bit lengths. */
const LENGTH_7_MAX = 125;
/** Longest payload whose length fits the 16-bit field. */
const LENGTH_16_MAX = 0xffff;
/** Below this many bytes a JavaScript loop masks faster than a call into native code (ws uses 48). */
const NATIVE_MASK_MIN_BYTES = 48;

interface Masker {
  mask(source: Uint8Array, mask: Uint8Array, output: Uint8Array, offset: number, length: number): void;
}

function maskLoop(source: Uint8Array, mask: Uint8Array, output: Uint8Array, offset: number, length: number): void {
  for (let i = 0; i < length; i++) output[offset + i] = (source[i] as number) ^ (mask[i & 3] as number);
}

function loadMasker(): Masker {
  try {
    const util = createRequire(import.meta.url)('bufferutil') as Partial<Masker>;
    if (typeof util.mask === 'function') {
      const native = util.mask.bind(util);
      return {
        mask: (source, mask, output, offset, length) =>
          length < NATIVE_MASK_MIN_BYTES ? maskLoop(source, mask, output, offset, length) : native(source, mask, output, offset, length),
      };
    }
  } catch {
    // not installed or not loadable: the loop, as ws falls back to its own
  }
  return { mask: maskLoop };
}

const masker: Masker = loadMasker();

let maskPool: Buffer | undefined;
let maskPoolAt = MASK_POOL_BYTES;

/** Write 4 fresh random bytes at `out[at..at+3]`. */
function drawMaskKey(out: Uint8Array, at: number): void {
  if (maskPoolAt === MASK_POOL_BYTES) {
    maskPool ??= Buffer.allocUnsafe(MASK_POOL_BYTES);
    randomFillSync(maskPool);
    maskPoolAt = 0;
  }
  const pool = maskPool as Buffer;
  out[at] = pool[maskPoolAt] as number;
  out[at + 1] = pool[maskPoolAt + 1] as number;
  out[at + 2] = pool[maskPoolAt + 2] as number;
  out[at + 3] = pool[maskPoolAt + 3] as number;
  maskPoolAt += 4;
}

/** The header length of a masked frame whose payload is `length` bytes: 6, 8 or 14. */
export function maskedFrameHeaderLength(length: number): number {
  return length <= LENGTH_7_MAX ? 6 : length <= LENGTH_16_MAX ? 8 : 14;
}

/** Scratch for the key rotated to a piece that starts inside a 4-byte group (used synchronously). */
const ROTATED = Buffer.alloc(4);

export interface EncodeFrameOptions {
  /**
   * Encode into the start of this buffer (at least header + payload bytes), and return a view of
   * it, instead of a new buffer: for a caller that reuses buffers once the socket has written them.
   */
  readonly into?: Buffer | undefined;
  /** Tests only: this key (a known key to compare against a reference) instead of a fresh random one. */
  readonly maskKey?: Uint8Array | undefined;
}

/**
 * One masked, final binary frame whose payload is the concatenation of `pieces` (`length` bytes
 * in all), in a new buffer (or at the start of `options.into`). Every frame gets a fresh random
 * masking key, as every sent frame must.
 */
export function encodeMaskedBinaryFrame(pieces: Uint8Array | readonly Uint8Array[], length: number, options: EncodeFrameOptions = {}): Buffer {
  const headerLength = maskedFrameHeaderLength(length);
  const { into, maskKey } = options;
  if (into !== undefined && into.length < headerLength + length) throw new RangeError(`a ${length}-byte frame does not fit ${into.length} bytes`);
  const frame = into === undefined ? Buffer.allocUnsafe(headerLength + length) : into.subarray(0, headerLength + length);
  frame[0] = FIN_BINARY;
  if (headerLength === 6) {
    frame[1] = MASK_BIT | length;
  } else if (headerLength === 8) {
    frame[1] = MASK_BIT | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = MASK_BIT | 127;
    frame.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  const keyAt = headerLength - 4;
  if (maskKey === undefined) drawMaskKey(frame, keyAt);
  else frame.set(maskKey.subarray(0, 4), keyAt);
  const key = frame.subarray(keyAt, headerLength);
  const single = pieces instanceof Uint8Array;
  const count = single ? 1 : pieces.length;
  let offset = headerLength;
  // An index loop and no one-element array for a single piece: no allocation per frame besides the frame (issue 15).
  for (let i = 0; i < count; i++) {
    const piece = single ? pieces : pieces[i]!;
    if (piece.length === 0) continue;
    if (offset + piece.length > frame.length) throw new RangeError(`frame pieces hold more than ${length} bytes`);
    const phase = (offset - headerLength) & 3;
    let pieceKey: Uint8Array = key;
    if (phase !== 0) {
      for (let i = 0; i < 4; i++) ROTATED[i] = key[(phase + i) & 3] as number;
      pieceKey = ROTATED;
    }
    masker.mask(piece, pieceKey, frame, offset, piece.length);
    offset += piece.length;
  }
  if (offset !== frame.length) throw new RangeError(`frame pieces hold ${offset - headerLength} bytes, not ${length}`);
  return frame;
}
