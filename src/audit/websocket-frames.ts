/**
 * A passive reader of WebSocket frames (RFC 6455 §5), for recording exec and attach sessions
 * (docs/audit.md "Recorded sessions"; issue 14). The agent splices an upgraded connection raw;
 * this reader sees a copy of the bytes of one direction, in whatever pieces they arrive, and
 * reports the messages' payloads as they stream past: `messageStart`, `data` (unmasked, in
 * order, possibly many pieces) and `messageEnd`. It never changes, holds back or answers a byte.
 *
 * A state machine with named states: HEADER (the shared decoder of
 * protocol/websocket-frame-header.ts collects and decodes the header, at most 14 bytes, across
 * pieces), PAYLOAD, and FAILED once a frame breaks the rules. The rules below are checked once
 * the whole header is in, in the order listed. Only the frame header is ever buffered; payload
 * bytes are unmasked and passed on as they arrive, so a frame that announces 2^53 bytes costs no
 * more memory than one that announces 10.
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
import { FrameHeaderReader, FrameHeaderStatus } from '../protocol/websocket-frame-header.js';
import { WebSocketOpcode } from '../protocol/websocket-opcode.js';

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

/** Where the reader is in a frame: its header, its payload; or stopped for good. */
type State = 'HEADER' | 'PAYLOAD' | 'FAILED';

export class WebSocketFrameReader {
  readonly #direction: FrameDirection;
  readonly #events: FrameEvents;
  #state: State = 'HEADER';
  /** Frame headers; no limit but the decoder's own (2^53 - 1 bytes: payloads stream, never held). */
  readonly #headers = new FrameHeaderReader(Number.MAX_SAFE_INTEGER);
  #fin = false;
  #opcode = 0;
  #masked = false;
  readonly #mask = Buffer.alloc(4);
  /** Payload bytes of the current frame still to come, and how many have passed (for the mask). */
  #remaining = 0;
  #offset = 0;
  /** True while a fragmented data message waits for its continuation frames. */
  #inMessage = false;

  constructor(direction: FrameDirection, events: FrameEvents) {
    this.#direction = direction;
    this.#events = events;
  }

  /** True once the stream broke the rules. */
  get failed(): boolean {
    return this.#state === 'FAILED';
  }

  /** Read the next bytes of the stream, in order. */
  push(chunk: Buffer): void {
    let at = 0;
    // Every round consumes at least one byte or completes a frame whose payload is empty (which
    // needed header bytes first): the loop ends within 2 * chunk.length + 1 rounds.
    while (this.#state !== 'FAILED') {
      if (this.#state === 'PAYLOAD') {
        if (this.#remaining > 0) {
          if (at >= chunk.length) return;
          const take = Math.min(this.#remaining, chunk.length - at);
          this.#passOn(chunk.subarray(at, at + take));
          at += take;
          this.#remaining -= take;
          if (this.#remaining > 0) return;
        }
        this.#endFrame();
        continue;
      }
      if (at >= chunk.length) return;
      const status = this.#headers.read(chunk, at);
      at += this.#headers.taken;
      if (status === FrameHeaderStatus.NeedMore) return;
      this.#headerRead(status);
    }
  }

  #fail(reason: string): void {
    this.#state = 'FAILED';
    this.#events.error(reason);
  }

  /** A whole header is in: check it against the rules, in order, and move on to its payload. */
  #headerRead(status: FrameHeaderStatus): void {
    const header = this.#headers.header;
    this.#fin = header.fin;
    this.#opcode = header.opcode;
    this.#masked = header.masked;
    if (header.rsv !== 0) return this.#fail('a frame has RSV bits set, but no extension was negotiated');
    if (!this.#checkOpcode()) return;
    if (this.#masked !== (this.#direction === 'client')) {
      return this.#fail(this.#direction === 'client' ? 'a frame from the client is not masked (RFC 6455 §5.1)' : 'a frame from the server is masked (RFC 6455 §5.1)');
    }
    // A control frame's length must fit the 7-bit field (at most 125): an extended length is refused.
    if (this.#isControl() && header.lengthBytes !== 0) {
      return this.#fail(`a control frame announces more than ${WEBSOCKET_CONTROL_PAYLOAD_MAX_BYTES} bytes (RFC 6455 §5.5)`);
    }
    // 2^53 - 1 is the most a JavaScript number counts exactly; the high bit must be 0 (§5.2).
    if (status !== FrameHeaderStatus.Complete) return this.#fail('a frame announces a length beyond 2^53 - 1 bytes');
    this.#mask.writeUInt32BE(header.mask, 0);
    this.#remaining = header.payloadLength;
    this.#offset = 0;
    this.#state = 'PAYLOAD';
  }

  #isControl(): boolean {
    return (this.#opcode & 0x08) !== 0;
  }

  /** Check the opcode against the message in progress; reports the start of a new message. */
  #checkOpcode(): boolean {
    const opcode = this.#opcode;
    if (opcode === WebSocketOpcode.Close || opcode === WebSocketOpcode.Ping || opcode === WebSocketOpcode.Pong) {
      if (!this.#fin) {
        this.#fail('a control frame is fragmented (RFC 6455 §5.5)');
        return false;
      }
      return true;
    }
    if (opcode === WebSocketOpcode.Continuation) {
      if (!this.#inMessage) {
        this.#fail('a continuation frame arrived outside a fragmented message (RFC 6455 §5.4)');
        return false;
      }
      return true;
    }
    if (opcode === WebSocketOpcode.Text || opcode === WebSocketOpcode.Binary) {
      if (this.#inMessage) {
        this.#fail('a new message started inside a fragmented one (RFC 6455 §5.4)');
        return false;
      }
      this.#inMessage = true;
      this.#events.messageStart();
      return true;
    }
    this.#fail(`a frame uses the reserved opcode ${opcode}`);
    return false;
  }

  /** Unmask payload bytes of a data frame and report them; control payloads are skipped. */
  #passOn(bytes: Buffer): void {
    if (!this.#isControl()) {
      const piece = Buffer.from(bytes);
      if (this.#masked) {
        for (let i = 0; i < piece.length; i++) piece[i] = piece[i]! ^ this.#mask[(this.#offset + i) & 3]!;
      }
      this.#events.data(piece);
    }
    this.#offset += bytes.length;
  }

  /** The current frame is complete: a final data fragment ends its message. */
  #endFrame(): void {
    if (!this.#isControl() && this.#fin) {
      this.#inMessage = false;
      this.#events.messageEnd();
    }
    this.#state = 'HEADER';
  }
}
