/**
 * Where one direction of a WebSocket connection (RFC 6455 §5) stands between its frames, for
 * the agent that splices an exec or attach session raw and may have to end it itself
 * (agent/kube-proxy.ts; docs/audit.md "Cut sessions"): a message of its own may go to the
 * client only where a new message may start — every byte passed on so far ends a whole frame
 * (§5.2), no fragmented data message is open (§5.4: a data frame inside one is a protocol
 * error), and no close frame has passed (§5.5.1: nothing follows a close).
 *
 * It walks the frames with the shared walker (websocket-frame-walker.ts: headers split across
 * pieces, payloads skipped by counting, the §5.4 fragmentation state) and takes the lenient view:
 * LOST once the bytes can no longer be followed (a length beyond 2^53 - 1, fragmentation that
 * breaks §5.4, a reserved opcode), after which no message may ever be added. It only reads
 * lengths, FIN and opcodes; the mask bit is taken as it comes (a masked frame's header is 4 bytes
 * longer), and which frames are acceptable is the recorder's judgement, not this one's.
 *
 * Push the bytes exactly as they are passed on, no more: `canAddMessage` speaks for those.
 * Untrusted input: every byte (the API server's, relayed).
 */
import type { FrameHeader } from './websocket-frame-header.js';
import { FrameHeaderStatus } from './websocket-frame-header.js';
import { FrameSequence, WebSocketFrameWalker } from './websocket-frame-walker.js';
import { WebSocketOpcode } from './websocket-opcode.js';

export class WebSocketBoundary {
  /** Stopped (LOST) once the bytes cannot be followed. */
  readonly #walker = new WebSocketFrameWalker({
    header: (header, status, sequence) => this.#headerRead(header, status, sequence),
  });
  /** True once a close frame's header passed. */
  #closed = false;

  /** True when every byte pushed so far ends a whole frame (nothing of a header or payload is pending). */
  get atFrameBoundary(): boolean {
    return this.#walker.atFrameBoundary;
  }

  /** True while a fragmented data message is open (a data frame may not start here). */
  get inMessage(): boolean {
    return this.#walker.inMessage;
  }

  /** True once the bytes could not be followed; nothing may be added to this direction again. */
  get lost(): boolean {
    return this.#walker.stopped;
  }

  /** True when a whole new data message, then a close frame, may follow the bytes pushed so far. */
  get canAddMessage(): boolean {
    return this.atFrameBoundary && !this.inMessage && !this.#closed;
  }

  /** Follow the next bytes of the direction, in order. */
  push(chunk: Buffer): void {
    this.#walker.push(chunk);
  }

  /** A whole header is in: false (LOST) when the bytes cannot be followed past it. */
  #headerRead(header: FrameHeader, status: FrameHeaderStatus, sequence: FrameSequence): boolean {
    // A length no number counts exactly (or with the §5.2 top bit) cannot be followed.
    if (status !== FrameHeaderStatus.Complete) return false;
    switch (sequence) {
      case FrameSequence.MessageStart:
      case FrameSequence.Continuation:
        return true;
      case FrameSequence.Control:
        if (header.opcode === WebSocketOpcode.Close) this.#closed = true;
        return true;
      default:
        // §5.4 broken, or a reserved opcode.
        return false;
    }
  }
}
