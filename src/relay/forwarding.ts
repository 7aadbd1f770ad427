/**
 * Forwarding of end-to-end binary frames in one direction of a session (docs/design.md §3): each
 * frame is sent on unchanged, in order, never parsed, never copied: its payload, as the slices of
 * the sender's read buffers the relay's reader found it in (frame-path.ts), is written to the
 * receiver's socket after a frame header, in one writev.
 *
 * Backpressure (CONVENTIONS §7): after every send the relay looks at the bytes queued towards
 * the receiver (ws `bufferedAmount`: the socket's write queue plus the frame sender's). Above
 * the high-water mark it stops reading the sender (ws pause → TCP backpressure to the sender);
 * the send callback of each frame, which runs when that frame reached the kernel, resumes the
 * sender once the queue is down to half the mark. The relay therefore holds at most the mark
 * plus one frame per direction, however slow the reader and however large a read: the reader
 * keeps the rest of a read (a copy) while the sender is paused (frame-path.ts `holding`).
 * Frames that are views of a read slab pin it until their write's callback (read-slabs.ts).
 */
import type { Logger } from 'pino';
import { WebSocket } from '../ws-runtime.js';
import { writeBinaryFrame } from './frame-path.js';
import type { PeerConnection } from './peer-connection.js';
import type { ReadSlab } from './read-slabs.js';
import type { ForwardTally, RelayMetrics, SpliceKind } from './relay-metrics.js';

/** What every direction on one node shares (one object per broker, not per session). */
export interface ForwardingPolicy {
  /** Bytes queued towards a receiver above which its sender is no longer read (--max-buffered-bytes). */
  readonly highWaterBytes: number;
  readonly metrics: RelayMetrics;
  readonly log: Logger;
}

export class ForwardingDirection {
  readonly #from: PeerConnection;
  readonly #to: PeerConnection;
  readonly #policy: ForwardingPolicy;
  /** Shared with every direction of the same label: plain numbers per frame (relay-metrics.ts). */
  readonly #tally: ForwardTally;
  #pausedSender = false;

  /** `splice`: remote when either socket is a cluster link from another node (the metrics' label). */
  constructor(from: PeerConnection, to: PeerConnection, policy: ForwardingPolicy, splice: SpliceKind = 'local') {
    this.#from = from;
    this.#to = to;
    this.#policy = policy;
    this.#tally = policy.metrics.forwardTally(from.role === 'agent' ? 'agent_to_client' : 'client_to_agent', splice);
  }

  /** Bytes queued towards the receiver right now. */
  get queuedBytes(): number {
    return this.#to.ws.readyState === WebSocket.OPEN ? this.#to.ws.bufferedAmount : 0;
  }

  /**
   * Forward one binary frame whose payload is `slices` (`length` bytes in all); false when the
   * receiver is gone (the frame is dropped). `slab`: slices are views of that read slab
   * (read-slabs.ts), pinned until the write's callback: it is not read into again before.
   * `headerRoom`: free bytes before the one slice (of `slab`, or of the reader's own copy), for the header (FrameTarget).
   */
  forward(slices: readonly Buffer[], length: number, slab?: ReadSlab, headerRoom = 0): boolean {
    const to = this.#to.ws;
    const socket = this.#to.socket;
    if (to.readyState !== WebSocket.OPEN || socket === undefined) return false;
    if (slab === undefined) writeBinaryFrame(socket, slices, length, this.#onFlushed, headerRoom);
    else {
      slab.pins++;
      writeBinaryFrame(
        socket,
        slices,
        length,
        (err?: Error | null) => {
          slab.unpin();
          this.#onFlushed(err);
        },
        headerRoom,
      );
    }
    this.#tally.bytes += length;
    this.#tally.frames++;
    this.#to.bytesOut += length;
    const queued = to.bufferedAmount;
    const { metrics, highWaterBytes } = this.#policy;
    metrics.observeQueued(queued);
    if (queued > highWaterBytes && !this.#pausedSender) {
      this.#pausedSender = true;
      this.#from.pauseReading();
      metrics.backpressurePauses.inc();
      this.#policy.log.debug({ event: 'backpressure_on', direction: this.#tally.direction, queued_bytes: queued }, 'receiver is slow: stopped reading the sender');
    }
    return true;
  }

  /** Send callback of every frame: resume the sender once the receiver's queue has drained enough. */
  readonly #onFlushed = (err?: Error | null): void => {
    // A write error means the receiver's socket is closing; its close handler calls release().
    // (Node passes null, not undefined, for a successful write.)
    if (err != null || !this.#pausedSender) return;
    if (this.#to.ws.bufferedAmount > Math.floor(this.#policy.highWaterBytes / 2)) return;
    this.#pausedSender = false;
    this.#from.resumeReading();
    this.#policy.log.debug({ event: 'backpressure_off', direction: this.#tally.direction }, 'receiver drained: reading the sender again');
  };

  /** The receiver left: never leave the sender paused. */
  release(): void {
    if (!this.#pausedSender) return;
    this.#pausedSender = false;
    this.#from.resumeReading();
  }
}
