/**
 * A decoder of the chunked transfer coding (RFC 9112 §7.1) with named states, in the manner of
 * ws's receiver: the agent decodes every chunked request body itself, so where a body ends is
 * decided here and nowhere else, and the API server only ever receives a body the agent framed
 * again. Strict where parsers are known to disagree: the chunk size is 1-16 hex digits and
 * nothing else (no whitespace, no sign, no `0x`); a chunk extension is bounded and must look
 * like `;name[=value]`; every line ends in CRLF (a bare LF or CR is refused); chunk data must
 * be followed by exactly CRLF; trailer fields are read, bounded and dropped (never forwarded).
 *
 * Untrusted input: every byte (the client's request body).
 */
import { isFieldValue, isToken } from './message-syntax.js';

/** States of the decoder, named for what it expects next. */
type DecoderState = 'CHUNK_SIZE_LINE' | 'CHUNK_DATA' | 'CHUNK_DATA_CRLF' | 'TRAILER_LINE' | 'DONE';

export interface ChunkedDecoderLimits {
  /** Longest chunk-size line (size and extensions), in bytes. */
  readonly lineMaxBytes: number;
  /** Most bytes of trailer fields, in bytes. */
  readonly trailerMaxBytes: number;
}

/** A body whose chunked framing is broken or over a limit. */
export class ChunkedFramingError extends Error {}

const CR = 0x0d;
const LF = 0x0a;
/**
 * `chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )`, taken strictly: no BWS and
 * no quoted-string values (no client the agent serves sends extensions; every server ignores them).
 */
const EXTENSION = /^(?:;[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:=[!#$%&'*+.^_`|~0-9A-Za-z-]+)?)*$/;

export class ChunkedDecoder {
  readonly #limits: ChunkedDecoderLimits;
  #state: DecoderState = 'CHUNK_SIZE_LINE';
  /** Bytes of the current line seen so far (lines may arrive split). */
  #line: Buffer[] = [];
  #lineLength = 0;
  #chunkRemaining = 0;
  #crlfSeen = 0;
  #trailerBytes = 0;

  constructor(limits: ChunkedDecoderLimits) {
    this.#limits = limits;
  }

  /** True once the last chunk and the trailer section have been read. */
  get done(): boolean {
    return this.#state === 'DONE';
  }

  /**
   * Decode from `input`, calling `onData` with each piece of body data (views into `input`).
   * Returns how many bytes of `input` belong to the body (the rest, after DONE, is the next
   * message). Throws ChunkedFramingError on any violation.
   */
  decode(input: Buffer, onData: (data: Buffer) => void): number {
    let offset = 0;
    while (offset < input.length && this.#state !== 'DONE') {
      switch (this.#state) {
        case 'CHUNK_SIZE_LINE':
        case 'TRAILER_LINE': {
          const end = input.indexOf(LF, offset);
          const stop = end === -1 ? input.length : end + 1;
          this.#appendLine(input.subarray(offset, stop));
          offset = stop;
          if (end !== -1) this.#endLine();
          break;
        }
        case 'CHUNK_DATA': {
          const take = Math.min(this.#chunkRemaining, input.length - offset);
          onData(input.subarray(offset, offset + take));
          offset += take;
          this.#chunkRemaining -= take;
          if (this.#chunkRemaining === 0) {
            this.#state = 'CHUNK_DATA_CRLF';
            this.#crlfSeen = 0;
          }
          break;
        }
        case 'CHUNK_DATA_CRLF': {
          const expected = this.#crlfSeen === 0 ? CR : LF;
          if (input[offset] !== expected) throw new ChunkedFramingError('chunk data is not followed by CRLF');
          offset += 1;
          this.#crlfSeen += 1;
          if (this.#crlfSeen === 2) this.#state = 'CHUNK_SIZE_LINE';
          break;
        }
      }
    }
    return offset;
  }

  #appendLine(piece: Buffer): void {
    this.#lineLength += piece.length;
    const limit = this.#state === 'CHUNK_SIZE_LINE' ? this.#limits.lineMaxBytes : this.#limits.trailerMaxBytes - this.#trailerBytes;
    if (this.#lineLength > limit) {
      throw new ChunkedFramingError(this.#state === 'CHUNK_SIZE_LINE' ? 'a chunk-size line (with its extensions) is too long' : 'the trailer section is too long');
    }
    this.#line.push(piece);
  }

  /** A complete line (ending in LF) has been collected. */
  #endLine(): void {
    const raw = Buffer.concat(this.#line, this.#lineLength);
    this.#line = [];
    this.#lineLength = 0;
    if (raw.length < 2 || raw[raw.length - 2] !== CR) throw new ChunkedFramingError('a line of the chunked body ends in a bare LF');
    const text = raw.toString('latin1', 0, raw.length - 2);
    if (text.includes('\r')) throw new ChunkedFramingError('a bare CR in the chunked body');
    if (this.#state === 'TRAILER_LINE') {
      this.#trailerBytes += raw.length;
      if (text === '') {
        this.#state = 'DONE';
        return;
      }
      const colon = text.indexOf(':');
      if (colon <= 0 || !isToken(text.slice(0, colon)) || !isFieldValue(text.slice(colon + 1))) throw new ChunkedFramingError('a malformed trailer field');
      return;
    }
    const match = /^([0-9A-Fa-f]{1,16})(.*)$/.exec(text);
    if (match === null) throw new ChunkedFramingError('a chunk size that is not 1-16 hexadecimal digits');
    const [, size = '', extensions = ''] = match;
    if (!EXTENSION.test(extensions)) throw new ChunkedFramingError('a malformed chunk extension');
    const value = Number.parseInt(size, 16);
    if (!Number.isSafeInteger(value)) throw new ChunkedFramingError('a chunk size too large');
    if (value === 0) {
      this.#state = 'TRAILER_LINE';
      return;
    }
    this.#chunkRemaining = value;
    this.#state = 'CHUNK_DATA';
  }
}
