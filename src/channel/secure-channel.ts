/**
 * SecureChannel: the end-to-end encrypted link between agent and client after the handshake
 * (docs/design.md §4). Application bytes flow through `mux`, a Duplex stream (the HTTP/2 connection
 * of docs/design.md §5 runs on it); JSON control messages through `sendControl` and the `control`
 * event. Every frame from the transport is untrusted and goes through the record opener; the first
 * failure ends the channel: nothing after it is delivered, keys are wiped, the transport is
 * closed with the error's close code, and `closed` resolves with the error.
 *
 * Backpressure both ways: a `mux` write completes only once the transport has room (its
 * `drain`), and the transport is paused while `mux`'s readable buffer is full.
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { TrafficSecret } from '../crypto/key-schedule.js';
import type { DataInnerType, RecordLayerOptions } from '../crypto/records.js';
import { InnerType, RecordOpener, RecordSealer } from '../crypto/records.js';
import { KubepairError, toKubepairError } from '../errors/index.js';
import { CHANNEL_READ_HIGH_WATER_BYTES, CHANNEL_WRITE_HIGH_WATER_BYTES, RECORD_MUX_CHUNK_BYTES } from '../limits.js';
import type { AssociatedData, ChannelRole } from './associated-data.js';
import type { ControlMessage } from './control-message.js';
import { decodeControlMessage, encodeControlMessage } from './control-message.js';
import type { FrameInbox } from './frame-inbox.js';
import type { HandshakeResult } from './handshake.js';
import type { TransportCloseInfo } from './transport.js';

export interface SecureChannelOptions {
  /** MUX bytes per record when sending, at most (default 256 KiB). */
  readonly muxChunkBytes?: number;
  /** Received MUX bytes buffered before the transport is paused (default 1 MiB). */
  readonly readHighWaterBytes?: number;
  /** Record-layer settings; both sides must agree (tests move the key-update point). */
  readonly records?: RecordLayerOptions;
}

export interface SecureChannelEvents {
  control: [message: ControlMessage];
  /** Emitted once; `error` is undefined only when this side called close() without one. */
  close: [error: KubepairError | undefined];
}

export class SecureChannel extends EventEmitter<SecureChannelEvents> {
  readonly role: ChannelRole;
  readonly peer: AssociatedData;
  /** The multiplexed byte stream. */
  readonly mux: Duplex;
  /** Resolves when the channel has closed, with the error that closed it (never rejects). */
  readonly closed: Promise<KubepairError | undefined>;

  readonly #inbox: FrameInbox;
  readonly #sealer: RecordSealer;
  readonly #opener: RecordOpener;
  readonly #chunkBytes: number;
  #isClosed = false;
  #pausedForReader = false;
  #pendingWrite: ((err?: Error | null) => void) | undefined;
  #resolveClosed!: (err: KubepairError | undefined) => void;
  readonly #onDrain = (): void => this.#flushPendingWrite();

  constructor(handshake: HandshakeResult, options: SecureChannelOptions = {}) {
    super();
    this.role = handshake.role;
    this.peer = handshake.peer;
    this.#inbox = handshake.inbox;
    this.#sealer = new RecordSealer(handshake.send, options.records);
    this.#opener = new RecordOpener(handshake.receive, options.records);
    wipeSecret(handshake.send);
    wipeSecret(handshake.receive);
    this.#chunkBytes = options.muxChunkBytes ?? RECORD_MUX_CHUNK_BYTES;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));

    this.mux = new Duplex({
      readableHighWaterMark: options.readHighWaterBytes ?? CHANNEL_READ_HIGH_WATER_BYTES,
      writableHighWaterMark: CHANNEL_WRITE_HIGH_WATER_BYTES,
      read: () => this.#resumeForReader(),
      write: (chunk: Buffer, _encoding, callback) => this.#writeMux([chunk], callback),
      // HTTP/2 hands over each frame header (9 bytes) and its payload as separate buffers, in
      // one corked batch: sealing the batch together makes one record of them, not one each.
      writev: (chunks: Array<{ chunk: Buffer }>, callback) => this.#writeMux(chunks.map((entry) => entry.chunk), callback),
      final: (callback) => callback(),
      destroy: (err, callback) => {
        // A local consumer destroying the stream ends the channel; only our own coded errors
        // travel to the peer as a close code.
        if (!this.#isClosed) this.close(err instanceof KubepairError ? err : undefined);
        callback(null);
      },
    });

    this.#inbox.transport.on('drain', this.#onDrain);
    this.#inbox.handOff({
      onFrame: (frame) => this.#receive(frame),
      onClose: (info) => this.#transportClosed(info),
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Send one control message; false means the transport is above its high-water mark. */
  sendControl(message: ControlMessage): boolean {
    return this.#sendRecord(InnerType.CONTROL, encodeControlMessage(message));
  }

  /**
   * Close the channel: wipe keys, close the transport (with the error's close code, or 1000),
   * end `mux`. Idempotent.
   */
  close(error?: KubepairError): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#sealer.wipe();
    this.#opener.wipe();
    const transport = this.#inbox.transport;
    transport.off('drain', this.#onDrain);
    this.#inbox.dispose();
    transport.close(error?.closeCode ?? 1000, error === undefined ? 'closed' : error.code);
    const pending = this.#pendingWrite;
    this.#pendingWrite = undefined;
    pending?.(error ?? new KubepairError('KP_ERR_CHANNEL_CLOSED'));
    if (!this.mux.destroyed) {
      // Only hand the error to the stream when someone listens for it; the channel's own
      // `close` event and `closed` promise carry it in every case.
      this.mux.destroy(error !== undefined && this.mux.listenerCount('error') > 0 ? error : undefined);
    }
    this.emit('close', error);
    this.#resolveClosed(error);
  }

  #sendRecord(type: DataInnerType, body: Uint8Array | readonly Uint8Array[]): boolean {
    if (this.#isClosed) throw new KubepairError('KP_ERR_CHANNEL_CLOSED');
    const transport = this.#inbox.transport;
    try {
      if (this.#sealer.keyUpdateDue) transport.send(this.#sealer.sealKeyUpdate());
      return transport.send(this.#sealer.seal(type, body));
    } catch (err) {
      // The transport closed under us (its close event may still be queued): end the channel now.
      const error = toKubepairError(err, 'KP_ERR_TRANSPORT_CLOSED');
      this.close(error);
      throw error;
    }
  }

  /**
   * Seal `chunks` as MUX records of at most `#chunkBytes` body bytes each: consecutive chunks
   * share a record, a large chunk is split across records. Empty chunks add nothing.
   */
  #writeMux(chunks: readonly Buffer[], callback: (err?: Error | null) => void): void {
    if (this.#isClosed) {
      callback(new KubepairError('KP_ERR_CHANNEL_CLOSED'));
      return;
    }
    let hasRoom = true;
    try {
      let parts: Buffer[] = [];
      let filled = 0;
      for (const chunk of chunks) {
        for (let offset = 0; offset < chunk.length; ) {
          const take = Math.min(chunk.length - offset, this.#chunkBytes - filled);
          parts.push(offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take));
          offset += take;
          filled += take;
          if (filled === this.#chunkBytes) {
            hasRoom = this.#sendRecord(InnerType.MUX, parts);
            parts = [];
            filled = 0;
          }
        }
      }
      if (filled > 0) hasRoom = this.#sendRecord(InnerType.MUX, parts);
    } catch (err) {
      callback(toKubepairError(err, 'KP_ERR_CHANNEL_CLOSED'));
      return;
    }
    if (hasRoom) callback();
    else this.#pendingWrite = callback;
  }

  #flushPendingWrite(): void {
    const pending = this.#pendingWrite;
    this.#pendingWrite = undefined;
    pending?.();
  }

  #resumeForReader(): void {
    if (!this.#pausedForReader) return;
    this.#pausedForReader = false;
    this.#inbox.transport.resume();
  }

  #receive(frame: Uint8Array): void {
    if (this.#isClosed) return;
    let record;
    try {
      record = this.#opener.open(frame);
    } catch (err) {
      this.close(toKubepairError(err, 'KP_ERR_RECORD_INTEGRITY'));
      return;
    }
    switch (record.type) {
      case InnerType.MUX:
        if (!this.mux.push(record.body)) {
          this.#pausedForReader = true;
          this.#inbox.transport.pause();
        }
        return;
      case InnerType.CONTROL: {
        let message: ControlMessage;
        try {
          message = decodeControlMessage(record.body);
        } catch (err) {
          this.close(toKubepairError(err, 'KP_ERR_CHANNEL_PROTOCOL'));
          return;
        }
        this.emit('control', message);
        return;
      }
      default:
        // KEY_UPDATE: the opener has already switched keys.
        return;
    }
  }

  #transportClosed(info: TransportCloseInfo): void {
    if (this.#isClosed) return;
    // A transport that knows why it closed (the relay socket maps close codes) says so best.
    if (info.error instanceof KubepairError) {
      this.close(info.error);
      return;
    }
    const detail = [info.code !== undefined ? `code ${info.code}` : undefined, info.reason || undefined]
      .filter((part) => part !== undefined)
      .join(', ');
    this.close(new KubepairError('KP_ERR_TRANSPORT_CLOSED', detail || undefined, { cause: info.error }));
  }
}

function wipeSecret(secret: TrafficSecret): void {
  secret.key.fill(0);
  secret.iv.fill(0);
}
