/**
 * The one decoder of WebSocket frame headers (RFC 6455 §5.2) for the code that reads frames
 * itself: the relay's frame path (relay/frame-path.ts), the endpoints' frame-aligned reads
 * (relay-client/frame-reads.ts) and the frame walker (websocket-frame-walker.ts) under the exec
 * recorder (audit/websocket-frames.ts) and the splice's boundary (websocket-boundary.ts).
 *
 * It reads FIN, the RSV bits, the opcode, the mask bit and key, the payload length and the
 * header's own length, and refuses only what no caller may read on from: a 64-bit length with its
 * most significant bit set (§5.2: "the most significant bit MUST be 0"), and a length above the
 * caller's limit (every 64-bit length beyond 2^53 - 1 is above every limit, since a JavaScript
 * number counts no further). Non-minimal length encodings are read as what they say: ws accepts
 * them, and so does every caller. Which opcodes, RSV bits and masks are acceptable is each
 * caller's own rule (they differ: the relay leaves most of them to ws, the recorder judges them).
 *
 * Per frame it allocates nothing: the fields go into a FrameHeader the caller keeps and reuses,
 * the status is a number. FrameHeaderReader adds a 14-byte stash of its own for headers that
 * arrive split across reads.
 *
 * Untrusted input: every byte decoded; lengths and offsets are bounded by what has arrived.
 */

/** The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask key (RFC 6455 §5.2). */
export const WEBSOCKET_FRAME_HEADER_MAX_BYTES = 14;

/** What a decoding found; the refusals name the rule broken. */
export const FrameHeaderStatus = {
  /** A whole header, within the limit: its fields are set. */
  Complete: 0,
  /** The bytes end inside a header: nothing is set. */
  NeedMore: 1,
  /** A 64-bit length with its most significant bit set (RFC 6455 §5.2); fields set, payloadLength Infinity. */
  LengthTopBitSet: 2,
  /** A length above the caller's limit; fields set (payloadLength Infinity beyond 2^53 - 1). */
  LengthOverLimit: 3,
} as const;
export type FrameHeaderStatus = (typeof FrameHeaderStatus)[keyof typeof FrameHeaderStatus];

/** The fields of one frame header, overwritten by each decoding (reuse one per reader). */
export class FrameHeader {
  /** The FIN bit: the last frame of a message. */
  fin = false;
  /** RSV1, RSV2, RSV3 as the bits 4, 2, 1 (0 when no extension bit is set). */
  rsv = 0;
  /** The 4-bit opcode (protocol/websocket-opcode.ts names them). */
  opcode = 0;
  /** The MASK bit. */
  masked = false;
  /** The masking key as a big-endian unsigned 32-bit number (0 when not masked). */
  mask = 0;
  /** How many bytes the length took after the second byte: 0, 2 (length 126) or 8 (length 127). */
  lengthBytes = 0;
  /** The payload length in bytes; Infinity for a length that no number counts exactly. */
  payloadLength = 0;
  /** The header's length in bytes: 2 to 14. */
  headerLength = 0;
}

/** Bytes `at..at+3` as a big-endian unsigned 32-bit number. */
function uint32At(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/**
 * Decode the header that starts at `bytes[start]`, reading no byte at or after `end`, into
 * `out`. `maxPayloadBytes` (an integer up to 2^53 - 1) is the caller's limit.
 */
export function decodeFrameHeader(bytes: Uint8Array, start: number, end: number, maxPayloadBytes: number, out: FrameHeader): FrameHeaderStatus {
  if (end - start < 2) return FrameHeaderStatus.NeedMore;
  const first = bytes[start]!;
  const second = bytes[start + 1]!;
  const masked = (second & 0x80) !== 0;
  const length7 = second & 0x7f;
  const lengthBytes = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
  const headerLength = 2 + lengthBytes + (masked ? 4 : 0);
  // Only a whole header is decoded: a length is never judged from part of its bytes.
  if (end - start < headerLength) return FrameHeaderStatus.NeedMore;

  out.fin = (first & 0x80) !== 0;
  out.rsv = (first & 0x70) >>> 4;
  out.opcode = first & 0x0f;
  out.masked = masked;
  out.mask = masked ? uint32At(bytes, start + headerLength - 4) : 0;
  out.lengthBytes = lengthBytes;
  out.headerLength = headerLength;

  let status: FrameHeaderStatus = FrameHeaderStatus.Complete;
  let length: number;
  if (lengthBytes === 0) length = length7;
  else if (lengthBytes === 2) length = (bytes[start + 2]! << 8) | bytes[start + 3]!;
  else {
    const high = uint32At(bytes, start + 2);
    if (high > 0x1f_ffff) {
      // Beyond 2^53 - 1: no number counts it, so no limit admits it; the top bit is a §5.2 violation.
      length = Number.POSITIVE_INFINITY;
      status = high >= 0x8000_0000 ? FrameHeaderStatus.LengthTopBitSet : FrameHeaderStatus.LengthOverLimit;
    } else {
      length = high * 0x1_0000_0000 + uint32At(bytes, start + 6);
    }
  }
  out.payloadLength = length;
  if (status === FrameHeaderStatus.Complete && length > maxPayloadBytes) status = FrameHeaderStatus.LengthOverLimit;
  return status;
}

/**
 * Frame headers from a stream read in pieces: `read(chunk, pos)` decodes the header that starts
 * with any bytes stashed from earlier chunks and goes on at `chunk[pos]`. After it, `taken` says
 * how many bytes of `chunk` from `pos` belong to the header (all the rest of the chunk when it
 * needs more); on anything but NeedMore the header is over and the next read starts a new one.
 */
export class FrameHeaderReader {
  /** The last header decoded (its fields are valid after a read that did not need more). */
  readonly header = new FrameHeader();
  /** Bytes of `chunk` (from `pos`) the last read took into the header. */
  taken = 0;
  readonly #maxPayloadBytes: number;
  /** The start of a header split across chunks (allocated once, on the first split). */
  #stash: Buffer | undefined;
  #stashed = 0;
  /** Whether the last decoded header came from the stash (it arrived in more than one chunk). */
  #split = false;

  constructor(maxPayloadBytes: number) {
    this.#maxPayloadBytes = maxPayloadBytes;
  }

  /** Bytes of a header stashed so far (0 at a frame boundary). */
  get stashedLength(): number {
    return this.#stashed;
  }

  /**
   * The bytes of the last decoded header when it arrived in more than one chunk: a view of the
   * reader's own buffer, valid until the next read (copy it to keep it). Undefined when the whole
   * header was in the chunk read, at `chunk[pos .. pos + taken]`.
   */
  splitHeaderBytes(): Buffer | undefined {
    return this.#split ? (this.#stash as Buffer).subarray(0, this.header.headerLength) : undefined;
  }

  /** Decode the header going on at `chunk[pos]` (pos < chunk.length). */
  read(chunk: Buffer, pos: number): FrameHeaderStatus {
    const stashed = this.#stashed;
    this.#split = false;
    if (stashed === 0) {
      const status = decodeFrameHeader(chunk, pos, chunk.length, this.#maxPayloadBytes, this.header);
      if (status !== FrameHeaderStatus.NeedMore) {
        this.taken = this.header.headerLength;
        return status;
      }
      // Under 14 bytes are left in the chunk (a whole header would have been decoded).
      this.#stash ??= Buffer.allocUnsafe(WEBSOCKET_FRAME_HEADER_MAX_BYTES);
      this.#stashed = chunk.copy(this.#stash, 0, pos);
      this.taken = this.#stashed;
      return status;
    }
    const stash = this.#stash as Buffer;
    // Copy what can still belong to the header; bytes past its end are only looked at, not taken.
    const copied = chunk.copy(stash, stashed, pos, Math.min(chunk.length, pos + WEBSOCKET_FRAME_HEADER_MAX_BYTES - stashed));
    const status = decodeFrameHeader(stash, 0, stashed + copied, this.#maxPayloadBytes, this.header);
    if (status === FrameHeaderStatus.NeedMore) {
      this.#stashed = stashed + copied;
      this.taken = copied;
      return status;
    }
    this.#stashed = 0;
    this.#split = true;
    this.taken = this.header.headerLength - stashed;
    return status;
  }

  /** Forget a partly read header (the caller stops reading headers from this stream). */
  reset(): void {
    this.#stashed = 0;
    this.#split = false;
  }
}
