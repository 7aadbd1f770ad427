/**
 * MessageTransport: the abstract, message-oriented link the handshake and the secure channel
 * run over (docs/design.md §4). A WebSocket to the relay (binary frames only) and an in-memory pair
 * both implement it. Everything received is untrusted: the relay may drop, delay, reorder,
 * replay, reflect or forge any message.
 *
 * Flow control is explicit in both directions:
 * - `send` returns false once the transport buffers more than its high-water mark; the sender
 *   then waits for `drain` before sending more.
 * - `pause` stops `message` events until `resume`; a transport stops reading its source while
 *   paused, so a slow consumer never makes it buffer without bound.
 */
import type { EventEmitter } from 'node:events';

/** Why a transport closed: `error` is set when it failed rather than closed cleanly. */
export interface TransportCloseInfo {
  readonly code?: number;
  readonly reason?: string;
  readonly error?: Error;
}

export interface MessageTransportEvents {
  /** One whole binary message from the peer. */
  message: [frame: Uint8Array];
  /** The send buffer fell below the high-water mark after `send` returned false. */
  drain: [];
  /** The transport closed; no more events follow. Emitted exactly once. */
  close: [info: TransportCloseInfo];
}

/**
 * One outgoing binary message: its bytes, or the pieces that make them up in order (a sealed
 * record as ciphertext parts and tag, src/crypto/aead.ts), which the transport joins as it
 * frames them. The transport never changes the bytes it is given: the secure channel keeps the
 * same buffers to send again after a resume.
 */
export type OutgoingFrame = Uint8Array | readonly Uint8Array[];

/** The length in bytes of an outgoing message. */
export function outgoingFrameLength(frame: OutgoingFrame): number {
  if (frame instanceof Uint8Array) return frame.length;
  let length = 0;
  // An index loop: no iterator object per message (issue 15, allocation per request).
  for (let i = 0; i < frame.length; i++) length += frame[i]!.length;
  return length;
}

export interface MessageTransport extends EventEmitter<MessageTransportEvents> {
  /**
   * Queue one binary message; false means "wait for drain before sending more". Throws
   * KP_ERR_TRANSPORT_CLOSED once the transport is closed. A transport whose peer has begun to
   * close it may drop the message and return false: its `close` event follows and says why.
   */
  send(frame: OutgoingFrame): boolean;
  /** Stop emitting `message` until `resume` (and stop reading the underlying source). */
  pause(): void;
  resume(): void;
  /** Close with an optional application close code (4000-4999) and reason. Idempotent. */
  close(code?: number, reason?: string): void;
  /** True once closed (by either side). */
  readonly closed: boolean;
}
