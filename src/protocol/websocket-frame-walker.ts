/**
 * The one walk over WebSocket frames (RFC 6455 §5) for the code that follows a stream it does
 * not terminate: where a spliced direction stands between frames (websocket-boundary.ts) and the
 * session recorder's reader (audit/websocket-frames.ts). It owns what both do alike; each owner
 * judges the frames with rules of its own through the hooks.
 *
 * A state machine with named states: HEADER (between frames, or collecting a header split
 * across pieces: websocket-frame-header.ts's reader, at most 14 bytes), PAYLOAD (counting a
 * frame's payload down, handing each piece to the owner, never holding it) and STOPPED once the
 * owner refused a header, its length could not be counted or the owner called `stop()`: from
 * then on nothing more is read or reported. Per header it tells the owner where the frame stands
 * in the §5.4 message sequence (`FrameSequence`); the fragmentation state moves on only when the
 * owner accepts the header.
 *
 * Untrusted input: every byte. Lengths are bounded only by the decoder (2^53 - 1): payloads are
 * counted, never held.
 */
import type { FrameHeader } from './websocket-frame-header.js';
import { FrameHeaderReader, FrameHeaderStatus } from './websocket-frame-header.js';
import { WebSocketOpcode } from './websocket-opcode.js';

/** Where a frame stands in the message sequence (RFC 6455 §5.4), judged from its opcode alone. */
export const FrameSequence = {
  /** A text or binary frame outside a message: a message starts. */
  MessageStart: 0,
  /** A continuation frame inside a fragmented message. */
  Continuation: 1,
  /** A close, ping or pong frame (allowed between fragments). */
  Control: 2,
  /** A continuation frame outside a fragmented message (§5.4). */
  ContinuationOutsideMessage: 3,
  /** A text or binary frame inside a fragmented message (§5.4). */
  MessageInsideMessage: 4,
  /** A reserved opcode (3-7, 11-15). */
  ReservedOpcode: 5,
} as const;
export type FrameSequence = (typeof FrameSequence)[keyof typeof FrameSequence];

/** What the owner of a walk does at each step. */
export interface FrameWalkerHooks {
  /**
   * A whole header is in (`status` Complete, or a length refusal of the decoder): true to read its
   * payload, false to stop the walk for good. A length refusal stops it whatever the answer (no
   * number counts that payload down); the hook is still asked, to name its reason. A hook that
   * throws stops it too; one may call `stop()` first, to read as stopped while it reports why.
   */
  header(header: FrameHeader, status: FrameHeaderStatus, sequence: FrameSequence): boolean;
  /** The next payload bytes of the current frame, `chunk[start..end)` (never empty; a view, valid during the call). */
  payload?(chunk: Buffer, start: number, end: number): void;
  /** The current frame's payload is complete (at once for an empty one). */
  frameEnd?(): void;
}

/** Between frames (or in a split header), in a frame's payload, or stopped for good. */
type State = 'HEADER' | 'PAYLOAD' | 'STOPPED';

export class WebSocketFrameWalker {
  readonly #hooks: FrameWalkerHooks;
  #state: State = 'HEADER';
  /** No limit but the decoder's own (2^53 - 1 bytes): payloads are counted, never held. */
  readonly #headers = new FrameHeaderReader(Number.MAX_SAFE_INTEGER);
  /** Payload bytes of the current frame still to come. */
  #remaining = 0;
  /** True while a fragmented data message waits for its final continuation frame. */
  #inMessage = false;

  constructor(hooks: FrameWalkerHooks) {
    this.#hooks = hooks;
  }

  /** True when every byte pushed so far ends a whole frame (nothing of a header or payload is pending). */
  get atFrameBoundary(): boolean {
    return this.#state === 'HEADER' && this.#headers.stashedLength === 0;
  }

  /** True while a fragmented data message is open (a data frame may not start here). */
  get inMessage(): boolean {
    return this.#inMessage;
  }

  /** True once the owner refused a header; nothing more is read. */
  get stopped(): boolean {
    return this.#state === 'STOPPED';
  }

  /** Stop the walk for good: nothing more is read or reported. */
  stop(): void {
    this.#state = 'STOPPED';
    this.#headers.reset();
  }

  /** Walk the next bytes of the stream, in order. */
  push(chunk: Buffer): void {
    let at = 0;
    // Every round takes at least one byte, or ends a frame whose payload is empty (which took
    // header bytes first): the loop ends within 2 * chunk.length + 1 rounds.
    while (this.#state !== 'STOPPED') {
      if (this.#state === 'PAYLOAD') {
        const take = Math.min(this.#remaining, chunk.length - at);
        if (take > 0) {
          this.#hooks.payload?.(chunk, at, at + take);
          at += take;
          this.#remaining -= take;
          if (this.stopped) return; // the owner stopped the walk in the hook
        }
        if (this.#remaining > 0) return;
        this.#state = 'HEADER';
        this.#hooks.frameEnd?.();
        continue;
      }
      if (at >= chunk.length) return;
      const status = this.#headers.read(chunk, at);
      at += this.#headers.taken;
      if (status === FrameHeaderStatus.NeedMore) return;
      this.#headerRead(status);
    }
  }

  /** A whole header is in: the owner accepts it (the message sequence moves on) or stops the walk. */
  #headerRead(status: FrameHeaderStatus): void {
    const header = this.#headers.header;
    const sequence = this.#sequence(header.opcode);
    let accepted = false;
    try {
      accepted = this.#hooks.header(header, status, sequence) && status === FrameHeaderStatus.Complete;
    } finally {
      // Refused, or the hook threw: no half-read frame is walked on from.
      if (!accepted) this.stop();
    }
    if (this.#state === 'STOPPED') return;
    if (sequence === FrameSequence.MessageStart || sequence === FrameSequence.Continuation) this.#inMessage = !header.fin;
    this.#remaining = header.payloadLength;
    this.#state = 'PAYLOAD';
  }

  #sequence(opcode: number): FrameSequence {
    switch (opcode) {
      case WebSocketOpcode.Text:
      case WebSocketOpcode.Binary:
        return this.#inMessage ? FrameSequence.MessageInsideMessage : FrameSequence.MessageStart;
      case WebSocketOpcode.Continuation:
        return this.#inMessage ? FrameSequence.Continuation : FrameSequence.ContinuationOutsideMessage;
      case WebSocketOpcode.Close:
      case WebSocketOpcode.Ping:
      case WebSocketOpcode.Pong:
        return FrameSequence.Control;
      default:
        return FrameSequence.ReservedOpcode;
    }
  }
}
