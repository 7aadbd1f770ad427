/**
 * Where one direction of a WebSocket connection (RFC 6455 §5) stands between its frames, for
 * the agent that splices an exec or attach session raw and may have to end it itself
 * (agent/kube-proxy.ts; docs/audit.md "Cut sessions"): a message of its own may go to the
 * client only where a new message may start — every byte passed on so far ends a whole frame
 * (§5.2), no fragmented data message is open (§5.4: a data frame inside one is a protocol
 * error), and no close frame has passed (§5.5.1: nothing follows a close).
 *
 * A state machine with named states: HEADER (between frames, or collecting a header split
 * across pieces: protocol/websocket-frame-header.ts's reader, at most 14 bytes), PAYLOAD
 * (skipping a frame's payload by counting, never holding it), and LOST once the bytes can no
 * longer be followed (a length beyond 2^53 - 1, fragmentation that breaks §5.4, a reserved
 * opcode): from then on no message may ever be added. It only reads lengths, FIN and opcodes;
 * the mask bit is taken as it comes (a masked frame's header is 4 bytes longer), and which
 * frames are acceptable is the recorder's judgement, not this one's.
 *
 * Push the bytes exactly as they are passed on, no more: `canAddMessage` speaks for those.
 * Untrusted input: every byte (the API server's, relayed).
 */
import { FrameHeaderReader, FrameHeaderStatus } from './websocket-frame-header.js';
import { WebSocketOpcode } from './websocket-opcode.js';

/** Between frames (or in a split header), in a frame's payload, or unable to follow the bytes. */
type State = 'HEADER' | 'PAYLOAD' | 'LOST';

export class WebSocketBoundary {
  #state: State = 'HEADER';
  /** No limit but the decoder's own (2^53 - 1 bytes): payloads are counted, never held. */
  readonly #headers = new FrameHeaderReader(Number.MAX_SAFE_INTEGER);
  /** Payload bytes of the current frame still to come. */
  #remaining = 0;
  /** True while a fragmented data message waits for its final continuation frame. */
  #inMessage = false;
  /** True once a close frame's header passed. */
  #closed = false;

  /** True when every byte pushed so far ends a whole frame (nothing of a header or payload is pending). */
  get atFrameBoundary(): boolean {
    return this.#state === 'HEADER' && this.#headers.stashedLength === 0;
  }

  /** True while a fragmented data message is open (a data frame may not start here). */
  get inMessage(): boolean {
    return this.#inMessage;
  }

  /** True once the bytes could not be followed; nothing may be added to this direction again. */
  get lost(): boolean {
    return this.#state === 'LOST';
  }

  /** True when a whole new data message, then a close frame, may follow the bytes pushed so far. */
  get canAddMessage(): boolean {
    return this.atFrameBoundary && !this.#inMessage && !this.#closed;
  }

  /** Follow the next bytes of the direction, in order. */
  push(chunk: Buffer): void {
    let at = 0;
    // Every round takes at least one byte, or ends a frame whose payload is empty (which took
    // header bytes first): the loop ends within 2 * chunk.length + 1 rounds.
    while (this.#state !== 'LOST') {
      if (this.#state === 'PAYLOAD') {
        const take = Math.min(this.#remaining, chunk.length - at);
        at += take;
        this.#remaining -= take;
        if (this.#remaining > 0) return;
        this.#state = 'HEADER';
        continue;
      }
      if (at >= chunk.length) return;
      const status = this.#headers.read(chunk, at);
      at += this.#headers.taken;
      if (status === FrameHeaderStatus.NeedMore) return;
      this.#headerRead(status);
    }
  }

  /** A whole header is in: follow its message state, then skip its payload. */
  #headerRead(status: FrameHeaderStatus): void {
    const header = this.#headers.header;
    // A length no number counts exactly (or with the §5.2 top bit) cannot be followed.
    if (status !== FrameHeaderStatus.Complete) return this.#lose();
    switch (header.opcode) {
      case WebSocketOpcode.Text:
      case WebSocketOpcode.Binary:
        if (this.#inMessage) return this.#lose();
        this.#inMessage = !header.fin;
        break;
      case WebSocketOpcode.Continuation:
        if (!this.#inMessage) return this.#lose();
        this.#inMessage = !header.fin;
        break;
      case WebSocketOpcode.Close:
        this.#closed = true;
        break;
      case WebSocketOpcode.Ping:
      case WebSocketOpcode.Pong:
        break;
      default:
        return this.#lose();
    }
    this.#remaining = header.payloadLength;
    this.#state = 'PAYLOAD';
  }

  #lose(): void {
    this.#state = 'LOST';
    this.#headers.reset();
  }
}
