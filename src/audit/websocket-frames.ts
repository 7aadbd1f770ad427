/**
 * A passive reader of WebSocket frames (RFC 6455 §5), for recording exec and attach sessions
 * (docs/audit.md "Recorded sessions"; issue 14). The agent splices an upgraded connection raw;
 * this reader sees a copy of the bytes of one direction, in whatever pieces they arrive, and
 * reports the messages' payloads as they stream past: `messageStart`, `data` (unmasked, in
 * order, possibly many pieces) and `messageEnd`. It never changes, holds back or answers a byte.
 *
 * The frames are walked by the shared walker (protocol/websocket-frame-walker.ts: the header
 * decoder collects a header, at most 14 bytes, across pieces; payloads are counted down; the §5.4
 * fragmentation state), stopped for good (FAILED) once a frame breaks the rules below, which are
 * checked once the whole header is in, in the order listed. Only the frame header is ever
 * buffered; payload bytes are unmasked and passed on as they arrive, so a frame that announces
 * 2^53 bytes costs no more memory than one that announces 10.
 *
 * Untrusted input: every byte, from either side. What is refused, each with its reason
 * (`onError`), after which the reader ignores the rest:
 * - RSV bits (no extension was negotiated: a compressed payload could not be recorded as sent);
 * - reserved opcodes (3-7, 11-15);
 * - a frame from the client without a mask, or one from the server with a mask (§5.1);
 * - a control frame that is fragmented or carries more than 125 bytes (§5.5);
 * - a 64-bit length with its high bit set or beyond 2^53 - 1 (§5.2);
 * - a continuation frame outside a fragmented message, or a new data frame inside one (§5.4).
 * Control frames (close, ping, pong) may sit between the fragments of a message; their
 * payloads are skipped.
 */
import { WEBSOCKET_CONTROL_PAYLOAD_MAX_BYTES } from '../limits.js';
import type { FrameHeader } from '../protocol/websocket-frame-header.js';
import { FrameHeaderStatus } from '../protocol/websocket-frame-header.js';
import { FrameSequence, WebSocketFrameWalker } from '../protocol/websocket-frame-walker.js';

/** Which side sent the bytes: the client masks every frame, the server none (RFC 6455 §5.1). */
export type FrameDirection = 'client' | 'server';

export interface FrameEvents {
  /** A data message (text or binary) begins; its payload follows as `data`. */
  messageStart(): void;
  /** The next unmasked payload bytes of the current message (never empty). */
  data(bytes: Buffer): void;
  /** The current message ended (its last fragment is complete). */
  messageEnd(): void;
  /** The stream broke the rules; nothing more is reported. */
  error(reason: string): void;
}

export class WebSocketFrameReader {
  readonly #direction: FrameDirection;
  readonly #events: FrameEvents;
  /** Stopped (FAILED) once a frame breaks the rules. */
  readonly #walker = new WebSocketFrameWalker({
    header: (header, status, sequence) => this.#headerRead(header, status, sequence),
    payload: (chunk, start, end) => this.#passOn(chunk, start, end),
    frameEnd: () => this.#endFrame(),
  });
  #fin = false;
  #control = false;
  #masked = false;
  readonly #mask = Buffer.alloc(4);
  /** Payload bytes of the current frame that have passed (for the mask). */
  #offset = 0;

  constructor(direction: FrameDirection, events: FrameEvents) {
    this.#direction = direction;
    this.#events = events;
  }

  /** True once the stream broke the rules. */
  get failed(): boolean {
    return this.#walker.stopped;
  }

  /** Read the next bytes of the stream, in order. */
  push(chunk: Buffer): void {
    this.#walker.push(chunk);
  }

  /** Stop the walk and report why the stream broke the rules (the header hook returns the false). */
  #fail(reason: string): false {
    this.#walker.stop();
    this.#events.error(reason);
    return false;
  }

  /** A whole header is in: check it against the rules, in order; true to read its payload. */
  #headerRead(header: FrameHeader, status: FrameHeaderStatus, sequence: FrameSequence): boolean {
    this.#fin = header.fin;
    this.#control = sequence === FrameSequence.Control;
    this.#masked = header.masked;
    if (header.rsv !== 0) return this.#fail('a frame has RSV bits set, but no extension was negotiated');
    if (!this.#checkSequence(header, sequence)) return false;
    if (this.#masked !== (this.#direction === 'client')) {
      return this.#fail(this.#direction === 'client' ? 'a frame from the client is not masked (RFC 6455 §5.1)' : 'a frame from the server is masked (RFC 6455 §5.1)');
    }
    // A control frame's length must fit the 7-bit field (at most 125): an extended length is refused.
    if (this.#control && header.lengthBytes !== 0) {
      return this.#fail(`a control frame announces more than ${WEBSOCKET_CONTROL_PAYLOAD_MAX_BYTES} bytes (RFC 6455 §5.5)`);
    }
    // 2^53 - 1 is the most a JavaScript number counts exactly; the high bit must be 0 (§5.2).
    if (status !== FrameHeaderStatus.Complete) return this.#fail('a frame announces a length beyond 2^53 - 1 bytes');
    this.#mask.writeUInt32BE(header.mask, 0);
    this.#offset = 0;
    return true;
  }

  /** Check the frame against the message in progress; reports the start of a new message. */
  #checkSequence(header: FrameHeader, sequence: FrameSequence): boolean {
    switch (sequence) {
      case FrameSequence.Control:
        return header.fin || this.#fail('a control frame is fragmented (RFC 6455 §5.5)');
      case FrameSequence.Continuation:
        return true;
      case FrameSequence.ContinuationOutsideMessage:
        return this.#fail('a continuation frame arrived outside a fragmented message (RFC 6455 §5.4)');
      case FrameSequence.MessageInsideMessage:
        return this.#fail('a new message started inside a fragmented one (RFC 6455 §5.4)');
      case FrameSequence.MessageStart:
        this.#events.messageStart();
        return true;
      default:
        return this.#fail(`a frame uses the reserved opcode ${header.opcode}`);
    }
  }

  /** Unmask payload bytes of a data frame and report them; control payloads are skipped. */
  #passOn(chunk: Buffer, start: number, end: number): void {
    if (!this.#control) {
      const piece = Buffer.from(chunk.subarray(start, end));
      if (this.#masked) {
        for (let i = 0; i < piece.length; i++) piece[i] = piece[i]! ^ this.#mask[(this.#offset + i) & 3]!;
      }
      this.#events.data(piece);
    }
    this.#offset += end - start;
  }

  /** The current frame is complete: a final data fragment ends its message. */
  #endFrame(): void {
    if (!this.#control && this.#fin) this.#events.messageEnd();
  }
}
