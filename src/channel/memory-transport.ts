/**
 * An in-memory MessageTransport pair: what one side sends, the other receives, in order and
 * asynchronously (one macrotask later), with the same flow control a WebSocket has: `send`
 * returns false past the high-water mark and `drain` follows once the peer has taken the
 * backlog; `pause` holds delivery. A close is delivered after the messages sent before it.
 * Used by tests, benchmarks and in-process runs; messages are copied, as a network would.
 */
import { EventEmitter } from 'node:events';
import { concatBytes } from '../crypto/bytes.js';
import { KubepairError } from '../errors/index.js';
import { outgoingFrameLength } from './transport.js';
import type { MessageTransport, MessageTransportEvents, OutgoingFrame, TransportCloseInfo } from './transport.js';

export interface MemoryTransportOptions {
  /** Bytes in flight towards the peer before `send` returns false (default 1 MiB). */
  readonly highWaterMark?: number;
}

type Queued = { readonly kind: 'message'; readonly frame: Uint8Array } | { readonly kind: 'close'; readonly info: TransportCloseInfo };

export class MemoryTransport extends EventEmitter<MessageTransportEvents> implements MessageTransport {
  #peer: MemoryTransport | undefined;
  readonly #highWaterMark: number;
  readonly #inbox: Queued[] = [];
  /** Bytes this side has sent that the peer has not yet delivered. */
  #inFlight = 0;
  #wantsDrain = false;
  #paused = false;
  #deliveryScheduled = false;
  #closed = false;
  #closeEmitted = false;

  constructor(options: MemoryTransportOptions = {}) {
    super();
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
  }

  /** Connect two transports to each other. */
  static pair(options: MemoryTransportOptions = {}): [MemoryTransport, MemoryTransport] {
    const a = new MemoryTransport(options);
    const b = new MemoryTransport(options);
    a.#peer = b;
    b.#peer = a;
    return [a, b];
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes sent and not yet delivered to the peer (for tests and benchmarks). */
  get bufferedAmount(): number {
    return this.#inFlight;
  }

  send(frame: OutgoingFrame): boolean {
    const peer = this.#peer;
    if (this.#closed || peer === undefined) throw new KubepairError('KP_ERR_TRANSPORT_CLOSED', 'the in-memory transport is closed');
    const length = outgoingFrameLength(frame);
    this.#inFlight += length;
    peer.#enqueue({ kind: 'message', frame: copyFrame(frame) });
    if (this.#inFlight >= this.#highWaterMark) {
      this.#wantsDrain = true;
      return false;
    }
    return true;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#scheduleDelivery();
  }

  close(code?: number, reason?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const info: TransportCloseInfo = { ...(code !== undefined && { code }), ...(reason !== undefined && { reason }) };
    const peer = this.#peer;
    if (peer !== undefined) peer.#enqueue({ kind: 'close', info });
    // Our own undelivered inbox is discarded, as a closed socket stops reading.
    this.#inbox.length = 0;
    setImmediate(() => this.#emitClose(info));
  }

  #enqueue(item: Queued): void {
    if (this.#closeEmitted) return;
    this.#inbox.push(item);
    this.#scheduleDelivery();
  }

  #scheduleDelivery(): void {
    if (this.#deliveryScheduled || this.#paused) return;
    this.#deliveryScheduled = true;
    setImmediate(() => {
      this.#deliveryScheduled = false;
      this.#deliver();
    });
  }

  #deliver(): void {
    while (!this.#paused && this.#inbox.length > 0) {
      const item = this.#inbox.shift()!;
      if (item.kind === 'close') {
        this.#closed = true;
        this.#inbox.length = 0;
        this.#emitClose(item.info);
        return;
      }
      const peer = this.#peer;
      if (peer !== undefined) peer.#delivered(item.frame.length);
      if (!this.#closed) this.emit('message', item.frame);
    }
  }

  /** Called on the sender when the peer delivered `bytes` of its messages. */
  #delivered(bytes: number): void {
    this.#inFlight -= bytes;
    if (this.#wantsDrain && this.#inFlight < this.#highWaterMark && !this.#closed) {
      this.#wantsDrain = false;
      this.emit('drain');
    }
  }

  #emitClose(info: TransportCloseInfo): void {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.emit('close', info);
  }
}

/** A copy of the message's bytes in one array (what the peer receives). */
function copyFrame(frame: OutgoingFrame): Uint8Array {
  return frame instanceof Uint8Array ? Uint8Array.from(frame) : concatBytes(...frame);
}
