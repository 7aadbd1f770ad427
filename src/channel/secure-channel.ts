/**
 * SecureChannel: the end-to-end encrypted link between agent and client after the handshake
 * (docs/design.md §4), reliable across carriers (docs/design.md §8.1). Application bytes flow
 * through `mux`, a Duplex stream (the HTTP/2 connection of docs/design.md §5 runs on it); JSON
 * control messages through `sendControl` and the `control` event. Every frame from a carrier is
 * untrusted and goes through the record opener or the RESUME verifier; the first failure ends the
 * channel: nothing after it is delivered, keys are wiped, the carrier is closed with the error's
 * close code, and `closed` resolves with the error.
 *
 * Acknowledged records (docs/protocol.md §7.1, §7.2): every record sealed is kept, frame bytes as
 * sent, until the peer's ACK covers it (RetainedRecords); receivers acknowledge on the
 * AckSchedule. The carrier is only the current transport ("generation"): `suspend()` (or, with
 * `resumable`, the carrier closing) detaches it while writes keep being sealed into the retained
 * queue, and `resume(transport)` runs the RESUME exchange on a new one before any record flows,
 * then retransmits what the peer proved it lacks, unchanged (docs/protocol.md §7.3-7.5). A peer whose
 * carrier died sends its RESUME on ours; the channel answers it the same way.
 *
 * Backpressure both ways: a `mux` write completes only once the carrier has room (its `drain`)
 * and the retained bytes are below CHANNEL_RETRANSMIT_MAX_BYTES (an ACK frees them); the
 * carrier is paused while `mux`'s readable buffer is full.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Duplex } from 'node:stream';
import { wipe } from '../crypto/bytes.js';
import type { TrafficSecret } from '../crypto/key-schedule.js';
import type { DataInnerType, RecordLayerOptions } from '../crypto/records.js';
import { InnerType, RecordOpener, RecordSealer } from '../crypto/records.js';
import { KubepairError, toKubepairError } from '../errors/index.js';
import {
  CHANNEL_READ_HIGH_WATER_BYTES,
  CHANNEL_RETRANSMIT_MAX_BYTES,
  CHANNEL_WRITE_HIGH_WATER_BYTES,
  RECORD_MUX_CHUNK_BYTES,
  RESUME_STEP_TIMEOUT_MS,
} from '../limits.js';
import type { AcknowledgementOptions } from './ack-schedule.js';
import { AckSchedule } from './ack-schedule.js';
import type { AssociatedData, ChannelRole } from './associated-data.js';
import type { ControlMessage } from '../protocol/channel-control.js';
import { decodeControlMessage, encodeControlMessage } from './control-message.js';
import type { FrameInbox } from './frame-inbox.js';
import type { HandshakeResult } from './handshake.js';
import { RetainedRecords } from './retained-records.js';
import type { ResumeMessage } from './resume-message.js';
import { encodeResume, isResumeFrame, openResume } from './resume-message.js';
import type { MessageTransport, OutgoingFrame, TransportCloseInfo } from './transport.js';

export interface SecureChannelOptions {
  /** MUX bytes per record when sending, at most (default 256 KiB). */
  readonly muxChunkBytes?: number;
  /** Received MUX bytes buffered before the transport is paused (default CHANNEL_READ_HIGH_WATER_BYTES, 40 MiB). */
  readonly readHighWaterBytes?: number;
  /** Record-layer settings; both sides must agree (tests move the key-update point). */
  readonly records?: RecordLayerOptions;
  /** Bytes of sealed, unacknowledged records kept before MUX writes wait (default 40 MiB). */
  readonly retransmitMaxBytes?: number;
  /** When this side acknowledges (defaults in src/limits.ts). */
  readonly acks?: AcknowledgementOptions;
  /**
   * When the carrier closes, suspend and wait for `resume` instead of closing the channel
   * (default false: a channel nobody will resume ends with its carrier, as before §8.1). Only
   * when both sides offered `channel.resume`.
   */
  readonly resumable?: boolean;
}

export interface ResumeOptions {
  /** This side's generation for the new carrier; default one more than the last it sent. */
  readonly generation?: number;
  /** Longest wait for the peer's RESUME (default 15 s); the attempt then fails, not the session. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** What a completed resume exchange did. */
export interface ResumeInfo {
  /** The generation of this side's RESUME that completed the exchange. */
  readonly generation: number;
  /** The generation of the peer's RESUME this side accepted. */
  readonly peerGeneration: number;
  /** Records handed to the carrier again, from the first the peer lacked. */
  readonly retransmitted: number;
  /** True when the peer opened the exchange on our carrier (its own carrier had died). */
  readonly initiatedByPeer: boolean;
  /**
   * Milliseconds this side was without a live carrier: from the suspension (its carrier closed,
   * or `suspend()`) to the completed exchange; 0 when this side's carrier never dropped (the peer
   * resumed on it). Measured with a monotonic clock, for the "resumed after 4.2 s" line.
   */
  readonly outageMs: number;
}

/** Counters for tests and metrics. */
export interface ChannelStats {
  /** Records this side has sealed since the session began (all types). */
  readonly sealed: number;
  /** Records received (opened, or skipped on a resume) since the session began. */
  readonly received: number;
  /** Records the peer has acknowledged. */
  readonly acknowledged: number;
  /** Records and bytes kept for retransmission. */
  readonly retainedRecords: number;
  readonly retainedBytes: number;
  /**
   * Milliseconds the peer has owed an acknowledgement on the live carrier: since the oldest
   * record sent and not yet acknowledged went out, or since the last ACK that made progress,
   * whichever is later; 0 when nothing sent waits for an ACK (or no carrier is live). An
   * endpoint's acknowledgement deadline (docs/design.md §8.1 "Liveness") compares it with a bound
   * and calls `suspend()`; on an idle link it sends a CONTROL message now and then to elicit one.
   */
  readonly unacknowledgedMs: number;
  /** MUX payload bytes this side has written into the channel, and read out of it (`kubepair status`). */
  readonly muxBytesSent: number;
  readonly muxBytesReceived: number;
}

export type CarrierState = 'live' | 'suspended' | 'resuming' | 'closed';

export interface SecureChannelEvents {
  control: [message: ControlMessage];
  /** The carrier is gone (it closed, or `suspend()` was called); records are kept for `resume`. */
  suspend: [info: TransportCloseInfo];
  /** A resume exchange completed; records flow again. */
  resume: [info: ResumeInfo];
  /** Emitted once; `error` is undefined only when this side called close() without one. */
  close: [error: KubepairError | undefined];
}

interface Carrier {
  readonly transport: MessageTransport;
  detach(): void;
}

interface ResumeAttempt {
  readonly resolve: (info: ResumeInfo) => void;
  readonly reject: (err: KubepairError) => void;
}

/** WebSocket close code "going away", for a carrier this side gave up. */
const CLOSE_GOING_AWAY = 1001;

export class SecureChannel extends EventEmitter<SecureChannelEvents> {
  readonly role: ChannelRole;
  readonly peer: AssociatedData;
  /** The multiplexed byte stream. */
  readonly mux: Duplex;
  /** Resolves when the channel has closed, with the error that closed it (never rejects). */
  readonly closed: Promise<KubepairError | undefined>;

  readonly #sealer: RecordSealer;
  readonly #opener: RecordOpener;
  readonly #sessionId: Uint8Array;
  readonly #resumeKey: Uint8Array;
  /** Both sides offered `channel.resume` in the handshake (AD, bound into the keys). */
  readonly #resumption: boolean;
  readonly #resumable: boolean;
  readonly #chunkBytes: number;
  readonly #retainMaxBytes: number;
  readonly #retained = new RetainedRecords();
  readonly #acks: AckSchedule;
  /** The highest count the peer has acknowledged (by ACK or RESUME). */
  #acknowledged = 0;
  #state: CarrierState = 'live';
  #carrier: Carrier | undefined;
  /** The carrier's `send` returned false: nothing more is handed to it before its `drain`. */
  #carrierFull = false;
  #pausedForReader = false;
  #pendingWrite: ((err?: Error | null) => void) | undefined;
  /** Generation of the last RESUME this side sent, and of the last one it accepted. */
  #generation = 0;
  #peerGeneration = 0;
  /** Generation of the RESUME with which this side opened the running exchange (0: none). */
  #openedExchange = 0;
  #attempt: ResumeAttempt | undefined;
  /** performance.now() when the live carrier was lost; undefined while live. */
  #suspendedAt: number | undefined;
  /** performance.now() from which the peer owes an ACK (see ChannelStats.unacknowledgedMs). */
  #ackOwedSince: number | undefined;
  #muxBytesSent = 0;
  #muxBytesReceived = 0;
  #resolveClosed!: (err: KubepairError | undefined) => void;

  constructor(handshake: HandshakeResult, options: SecureChannelOptions = {}) {
    super();
    this.role = handshake.role;
    this.peer = handshake.peer;
    this.#sealer = new RecordSealer(handshake.send, options.records);
    this.#opener = new RecordOpener(handshake.receive, options.records);
    this.#sessionId = Uint8Array.from(handshake.sessionId);
    this.#resumeKey = Uint8Array.from(handshake.resumeKey);
    wipeSecret(handshake.send);
    wipeSecret(handshake.receive);
    wipe(handshake.resumeKey);
    this.#resumption = handshake.resumption;
    this.#resumable = options.resumable ?? false;
    this.#chunkBytes = options.muxChunkBytes ?? RECORD_MUX_CHUNK_BYTES;
    this.#retainMaxBytes = options.retransmitMaxBytes ?? CHANNEL_RETRANSMIT_MAX_BYTES;
    if (!Number.isSafeInteger(this.#retainMaxBytes) || this.#retainMaxBytes < 1) {
      throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `retransmitMaxBytes must be a positive integer`);
    }
    this.#acks = new AckSchedule(options.acks ?? {}, () => this.#sendAck());
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));

    this.mux = new Duplex({
      readableHighWaterMark: options.readHighWaterBytes ?? CHANNEL_READ_HIGH_WATER_BYTES,
      writableHighWaterMark: CHANNEL_WRITE_HIGH_WATER_BYTES,
      read: () => this.#resumeForReader(),
      write: (chunk: Buffer, _encoding, callback) => this.#writeMux(chunk, callback),
      // HTTP/2 hands over each frame header (9 bytes) and its payload as separate buffers, in
      // one corked batch: sealing the batch together makes one record of them, not one each.
      writev: (chunks: Array<{ chunk: Buffer }>, callback) => this.#writeMux(chunks, callback),
      final: (callback) => callback(),
      destroy: (err, callback) => {
        // A local consumer destroying the stream ends the channel; only our own coded errors
        // travel to the peer as a close code.
        if (this.#state !== 'closed') this.close(err instanceof KubepairError ? err : undefined);
        callback(null);
      },
    });

    this.#attachInitial(handshake.inbox);
  }

  get isClosed(): boolean {
    return this.#state === 'closed';
  }

  /** 'live' (records flow), 'suspended' (no carrier), 'resuming' (RESUME exchange running), 'closed'. */
  get state(): CarrierState {
    return this.#state;
  }

  /** Generation of the last RESUME this side sent (0 before the first resume). */
  get generation(): number {
    return this.#generation;
  }

  /** True when both sides offered `channel.resume` in the handshake: the session may resume. */
  get canResume(): boolean {
    return this.#resumption;
  }

  get stats(): ChannelStats {
    return {
      sealed: this.#sealer.sealed,
      received: this.#opener.received,
      acknowledged: this.#acknowledged,
      retainedRecords: this.#retained.length,
      retainedBytes: this.#retained.bytes,
      unacknowledgedMs:
        this.#ackOwedSince === undefined || this.#state !== 'live' ? 0 : Math.max(0, Math.round(performance.now() - this.#ackOwedSince)),
      muxBytesSent: this.#muxBytesSent,
      muxBytesReceived: this.#muxBytesReceived,
    };
  }

  /**
   * Send one control message. False means "wait before sending more": the carrier is above its
   * high-water mark, or the retained records reached their bound. While suspended the message
   * is sealed and kept, and goes out after the resume.
   */
  sendControl(message: ControlMessage): boolean {
    if (this.#state === 'closed') throw new KubepairError('KP_ERR_CHANNEL_CLOSED');
    try {
      this.#seal(InnerType.CONTROL, encodeControlMessage(message));
    } catch (err) {
      const error = toKubepairError(err, 'KP_ERR_INTERNAL');
      this.close(error);
      throw error;
    }
    this.#flush();
    return this.#acceptsWrites();
  }

  /**
   * Detach the current carrier (and close it): the channel waits for `resume`. Records keep
   * being sealed and retained; MUX writes wait once the bound is reached. A running resume
   * attempt fails with KP_ERR_ABORTED. No effect when already suspended.
   */
  suspend(): void {
    if (this.#state === 'closed') throw new KubepairError('KP_ERR_CHANNEL_CLOSED');
    if (this.#state === 'suspended') return;
    if (this.#state === 'resuming') {
      this.#dropCarrier({ code: CLOSE_GOING_AWAY, reason: 'suspended' }, true, false);
      this.#failAttempt(new KubepairError('KP_ERR_ABORTED', 'the resume attempt was suspended'));
      return;
    }
    this.#dropCarrier({ code: CLOSE_GOING_AWAY, reason: 'suspended' }, true, true);
  }

  /**
   * Continue the session on `transport`, a new carrier to the same relay session: send this
   * side's RESUME on it, wait for the peer's, verify it (fatal when it fails), then retransmit
   * every record the peer proved it lacks, unchanged, and let records flow. Resolves with what
   * happened. Rejects without ending the session (the channel is suspended again) when the
   * carrier closes, the wait times out or `signal` aborts; rejects with the fatal error when the
   * peer's RESUME is refused (the channel is then closed). Suspends a live channel first.
   */
  resume(transport: MessageTransport, options: ResumeOptions = {}): Promise<ResumeInfo> {
    if (this.#state === 'closed') return Promise.reject(new KubepairError('KP_ERR_CHANNEL_CLOSED'));
    if (this.#state === 'resuming') {
      return Promise.reject(new KubepairError('KP_ERR_INVALID_ARGUMENT', 'a resume is already running'));
    }
    if (!this.#resumption) {
      return Promise.reject(new KubepairError('KP_ERR_RESUME_UNSUPPORTED', 'the handshake did not agree on channel.resume'));
    }
    const generation = options.generation ?? this.#generation + 1;
    if (!Number.isSafeInteger(generation) || generation <= this.#generation) {
      return Promise.reject(
        new KubepairError('KP_ERR_INVALID_ARGUMENT', `generation ${generation} does not follow ${this.#generation}`),
      );
    }
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal));
    if (this.#state === 'live') this.suspend();

    return new Promise<ResumeInfo>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? RESUME_STEP_TIMEOUT_MS;
      const signal = options.signal;
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const giveUp = (error: KubepairError): void => {
        if (this.#attempt !== attempt) return;
        // The attempt fails, the session does not: back to suspended, ready for the next carrier.
        this.#dropCarrier({ code: CLOSE_GOING_AWAY, reason: error.code }, true, false);
        this.#failAttempt(error);
      };
      const onAbort = (): void => giveUp(abortError(signal!));
      const timer = setTimeout(
        () => giveUp(new KubepairError('KP_ERR_RESUME_TIMEOUT', `no RESUME from the peer within ${Math.round(timeoutMs / 1000)} s`)),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      const attempt: ResumeAttempt = {
        resolve: (info) => {
          cleanup();
          resolve(info);
        },
        reject: (err) => {
          cleanup();
          reject(err);
        },
      };
      this.#attempt = attempt;
      this.#generation = generation;
      this.#openedExchange = generation;
      this.#state = 'resuming';
      this.#attach(transport);
      // Speak first, unconditionally: with both sides doing so, neither waits on the other.
      this.#sendOnCarrier(transport, this.#resumeMessage(0));
    });
  }

  /**
   * Close the channel: wipe keys, close the carrier (with the error's close code, or 1000),
   * end `mux`. Idempotent.
   */
  close(error?: KubepairError): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#sealer.wipe();
    this.#opener.wipe();
    wipe(this.#resumeKey);
    this.#acks.dispose();
    this.#retained.clear();
    const carrier = this.#carrier;
    this.#carrier = undefined;
    if (carrier !== undefined) {
      carrier.detach();
      carrier.transport.close(error?.closeCode ?? 1000, error === undefined ? 'closed' : error.code);
    }
    this.#failAttempt(error ?? new KubepairError('KP_ERR_CHANNEL_CLOSED'));
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

  // --- carriers ---

  #attachInitial(inbox: FrameInbox): void {
    const transport = inbox.transport;
    const onDrain = (): void => this.#onDrain(transport);
    this.#carrier = {
      transport,
      detach: () => {
        transport.off('drain', onDrain);
        inbox.dispose();
      },
    };
    transport.on('drain', onDrain);
    // Hand-off delivers frames that arrived during the handshake, so the carrier is set first.
    inbox.handOff({
      onFrame: (frame) => this.#onFrame(transport, frame),
      onClose: (info) => this.#onCarrierClosed(transport, info),
    });
  }

  #attach(transport: MessageTransport): void {
    const onMessage = (frame: Uint8Array): void => this.#onFrame(transport, frame);
    const onClose = (info: TransportCloseInfo): void => this.#onCarrierClosed(transport, info);
    const onDrain = (): void => this.#onDrain(transport);
    this.#carrier = {
      transport,
      detach: () => {
        transport.off('message', onMessage);
        transport.off('close', onClose);
        transport.off('drain', onDrain);
      },
    };
    this.#carrierFull = false;
    transport.on('message', onMessage);
    transport.on('close', onClose);
    transport.on('drain', onDrain);
  }

  /**
   * Detach the carrier (closing it when asked) and wait suspended for the next one; `announce`
   * emits `suspend` (not for the carrier of a failed resume attempt: its rejection says so).
   */
  #dropCarrier(info: TransportCloseInfo, closeIt: boolean, announce: boolean): void {
    const carrier = this.#carrier;
    this.#carrier = undefined;
    this.#carrierFull = false;
    if (this.#state === 'live') this.#suspendedAt = performance.now();
    this.#ackOwedSince = undefined;
    this.#state = 'suspended';
    if (carrier !== undefined) {
      carrier.detach();
      if (closeIt) carrier.transport.close(info.code, info.reason);
    }
    if (announce) this.emit('suspend', info);
  }

  #onCarrierClosed(transport: MessageTransport, info: TransportCloseInfo): void {
    if (this.#state === 'closed' || this.#carrier?.transport !== transport) return;
    if (this.#state === 'resuming') {
      this.#dropCarrier(info, false, false);
      this.#failAttempt(new KubepairError('KP_ERR_TRANSPORT_CLOSED', `during the resume (${describeClose(info)})`, { cause: info.error }));
      return;
    }
    if (this.#resumable && this.#resumption) {
      this.#dropCarrier(info, false, true);
      return;
    }
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

  #onDrain(transport: MessageTransport): void {
    if (this.#state !== 'live' || this.#carrier?.transport !== transport) return;
    this.#carrierFull = false;
    this.#flush();
    if (this.#acks.deferred) this.#sendAck();
    this.#releasePendingWrite();
  }

  /** Send one frame on `transport`; a transport that throws has closed under us. */
  #sendOnCarrier(transport: MessageTransport, frame: OutgoingFrame): boolean {
    try {
      const hasRoom = transport.send(frame);
      if (!hasRoom) this.#carrierFull = true;
      return hasRoom;
    } catch (err) {
      // Its close event may still be queued: act on it now.
      this.#onCarrierClosed(transport, { error: toKubepairError(err, 'KP_ERR_TRANSPORT_CLOSED') });
      return false;
    }
  }

  // --- sending ---

  /** Seal one record (after the KEY_UPDATE when one is due) into the retained queue. */
  #seal(type: DataInnerType, body: Uint8Array | readonly Uint8Array[]): void {
    if (this.#sealer.keyUpdateDue) this.#retained.append(this.#sealer.sealKeyUpdate(), false);
    this.#retained.append(this.#sealer.sealParts(type, body), false);
  }

  /** Hand waiting records to a live carrier until it is full. */
  #flush(): void {
    if (this.#state !== 'live') return;
    const transport = this.#carrier!.transport;
    while (!this.#carrierFull && this.#state === 'live') {
      const frame = this.#retained.takeUnsent();
      if (frame === undefined) break;
      this.#sendOnCarrier(transport, frame);
    }
    this.#startAckClock();
  }

  /** A record that elicits an ACK is out on the carrier and none is owed yet: start the clock. */
  #startAckClock(): void {
    // Sent ACK records never lead the queue, so a sent record in front is one that elicits an ACK.
    if (this.#ackOwedSince === undefined && this.#retained.first < this.#retained.sentEnd) this.#ackOwedSince = performance.now();
  }

  /** True when a MUX write may complete now (see the class comment). */
  #acceptsWrites(): boolean {
    if (this.#retained.bytes >= this.#retainMaxBytes) return false;
    if (this.#state === 'live') return !this.#carrierFull && !this.#retained.hasUnsent;
    return this.#state !== 'closed';
  }

  /**
   * Seal `chunks` as MUX records of at most `#chunkBytes` body bytes each: consecutive chunks
   * share a record, a large chunk is split across records. Empty chunks add nothing.
   */
  #writeMux(chunks: Buffer | ReadonlyArray<{ readonly chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    if (this.#state === 'closed') {
      callback(new KubepairError('KP_ERR_CHANNEL_CLOSED'));
      return;
    }
    try {
      // One chunk that fits one record (`write`): sealed as it is. Otherwise the chunks of a
      // `writev` batch are read in place (index loop): no array of them, no iterator (issue 15).
      const single = chunks instanceof Uint8Array;
      if (single && chunks.length > 0 && chunks.length <= this.#chunkBytes) {
        this.#muxBytesSent += chunks.length;
        this.#seal(InnerType.MUX, chunks);
      } else {
        this.#sealMuxChunks(chunks);
      }
    } catch (err) {
      const error = toKubepairError(err, 'KP_ERR_INTERNAL');
      this.close(error);
      callback(error);
      return;
    }
    this.#afterWriteMux(callback);
  }

  /** `#writeMux`'s general case: chunks joined and split into records of at most `#chunkBytes`. */
  #sealMuxChunks(chunks: Buffer | ReadonlyArray<{ readonly chunk: Buffer }>): void {
    const single = chunks instanceof Uint8Array;
    const count = single ? 1 : chunks.length;
    let parts: Buffer[] = [];
    let filled = 0;
    for (let i = 0; i < count; i++) {
      const chunk = single ? chunks : chunks[i]!.chunk;
      this.#muxBytesSent += chunk.length;
      for (let offset = 0; offset < chunk.length; ) {
        const take = Math.min(chunk.length - offset, this.#chunkBytes - filled);
        parts.push(offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take));
        offset += take;
        filled += take;
        if (filled === this.#chunkBytes) {
          this.#seal(InnerType.MUX, parts);
          parts = [];
          filled = 0;
        }
      }
    }
    if (filled > 0) this.#seal(InnerType.MUX, parts);
  }

  /** The sealed records of a MUX write go out; its callback runs now or once writes are accepted again. */
  #afterWriteMux(callback: (err?: Error | null) => void): void {
    this.#flush();
    if (this.isClosed) callback(new KubepairError('KP_ERR_CHANNEL_CLOSED'));
    else if (this.#acceptsWrites()) callback();
    else this.#pendingWrite = callback;
  }

  #releasePendingWrite(): void {
    if (this.#pendingWrite === undefined || !this.#acceptsWrites()) return;
    const pending = this.#pendingWrite;
    this.#pendingWrite = undefined;
    pending();
  }

  /**
   * Acknowledge what was received: seal an ACK with the count and send it at once. Only when
   * live with nothing waiting (an ACK is never queued: the one sent later carries a newer
   * count); otherwise it stays due until the carrier drains or the channel resumes.
   */
  #sendAck(): void {
    if (this.#state !== 'live' || this.#retained.hasUnsent) {
      if (this.#state !== 'closed') this.#acks.defer();
      return;
    }
    if (this.#sealer.keyUpdateDue) {
      this.#retained.append(this.#sealer.sealKeyUpdate(), false);
      this.#flush();
      // Flushing may have lost the carrier (its send threw): the state is read afresh.
      if (this.state !== 'live' || this.#retained.hasUnsent) {
        if (!this.isClosed) this.#acks.defer();
        return;
      }
    }
    const frame = this.#sealer.sealAck(this.#opener.received);
    this.#retained.sentAck(frame);
    this.#acks.acknowledged();
    this.#sendOnCarrier(this.#carrier!.transport, frame);
  }

  // --- receiving ---

  #onFrame(transport: MessageTransport, frame: Uint8Array): void {
    if (this.#state === 'closed' || this.#carrier?.transport !== transport) return;
    if (isResumeFrame(frame, this.#sessionId)) {
      this.#onResume(frame);
      return;
    }
    // While our RESUME waits for the peer's, records on the new carrier are ones the peer sent
    // before it saw ours (the relay may forward what an old carrier left behind): the peer
    // retransmits them after its RESUME, from the count ours proves, so they are not opened.
    if (this.#state === 'resuming') return;
    this.#receiveRecord(frame);
  }

  #receiveRecord(frame: Uint8Array): void {
    let record;
    try {
      record = this.#opener.open(frame);
    } catch (err) {
      this.close(toKubepairError(err, 'KP_ERR_RECORD_INTEGRITY'));
      return;
    }
    if (record.type === InnerType.ACK) {
      this.#onAck(record.acknowledged!);
      return;
    }
    if (this.#acks.note(frame.length)) this.#sendAck();
    if (this.#state === 'closed') return;
    switch (record.type) {
      case InnerType.MUX:
        this.#muxBytesReceived += record.body.length;
        if (!this.mux.push(record.body)) {
          this.#pausedForReader = true;
          this.#carrier?.transport.pause();
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

  /**
   * The peer has received our records below `count`. A count below what is already known is
   * old news, not an error: a retransmitted ACK carries the count of when it was first sealed,
   * and the RESUME before it may have told more. A count above what we handed to a carrier is.
   */
  #onAck(count: number): void {
    if (count > this.#retained.sentEnd) {
      this.close(new KubepairError('KP_ERR_CHANNEL_PROTOCOL', `an ACK for ${count} records; ${this.#retained.sentEnd} were sent`));
      return;
    }
    if (count <= this.#acknowledged) return;
    this.#acknowledged = count;
    this.#retained.acknowledge(count);
    // Progress: what is still owed is owed from now.
    this.#ackOwedSince = undefined;
    this.#startAckClock();
    this.#releasePendingWrite();
  }

  #resumeForReader(): void {
    if (!this.#pausedForReader) return;
    this.#pausedForReader = false;
    this.#carrier?.transport.resume();
  }

  // --- the resume exchange (docs/protocol.md §7.4, §7.5) ---

  #resumeMessage(answers: number): Uint8Array {
    return encodeResume(this.#resumeKey, this.#sessionId, {
      role: this.role,
      generation: this.#generation,
      answers,
      received: this.#opener.received,
      retainedFrom: this.#retained.first,
      sealed: this.#sealer.sealed,
    });
  }

  /**
   * A RESUME from the peer (its 18-byte header matched). Verify it, refuse a generation that
   * does not increase, then:
   * - one that opens an exchange (answers 0): the peer is on a new carrier and waits for us.
   *   Answer it on our carrier and continue from its count (whether we were live or resuming).
   * - one that answers the RESUME with which we opened the running exchange: continue from it.
   * - one that answers an earlier RESUME of ours (its carrier died meanwhile): nothing to do;
   *   the peer answers our latest one separately.
   */
  #onResume(frame: Uint8Array): void {
    if (!this.#resumption) {
      this.close(new KubepairError('KP_ERR_RESUME_UNSUPPORTED', 'yet a RESUME message arrived'));
      return;
    }
    let message: ResumeMessage;
    try {
      message = openResume(frame, this.#resumeKey, this.#sessionId, this.peer.role);
    } catch (err) {
      this.close(toKubepairError(err, 'KP_ERR_RESUME_PROOF'));
      return;
    }
    if (message.generation <= this.#peerGeneration) {
      this.close(new KubepairError('KP_ERR_RESUME_STALE', `generation ${message.generation}, already at ${this.#peerGeneration}`));
      return;
    }
    this.#peerGeneration = message.generation;
    if (message.answers > this.#generation) {
      this.close(new KubepairError('KP_ERR_CHANNEL_PROTOCOL', `a RESUME answers generation ${message.answers}, never sent`));
      return;
    }
    if (message.answers === 0) {
      if (!this.#countsHold(message)) return;
      const transport = this.#carrier!.transport;
      this.#generation += 1;
      this.#sendOnCarrier(transport, this.#resumeMessage(message.generation));
      if (this.#carrier?.transport !== transport) return; // it closed while we answered
      this.#continueFrom(message, true);
      return;
    }
    if (this.#state === 'resuming' && message.answers === this.#openedExchange && this.#countsHold(message)) {
      this.#continueFrom(message, false);
    }
  }

  /**
   * The counts a verified RESUME proves must fit what was sent: the peer cannot have received
   * more of our records than we handed to a carrier, nor fewer than it acknowledged; it cannot
   * have sealed fewer than we received, nor retain records beyond its own count.
   */
  #countsHold(message: ResumeMessage): boolean {
    const sent = this.#retained.sentEnd;
    const problem =
      message.received > sent
        ? `it claims ${message.received} of our records; ${sent} were sent`
        : message.received < this.#acknowledged
          ? `it claims ${message.received} of our records after acknowledging ${this.#acknowledged}`
          : message.sealed < this.#opener.received
            ? `it claims to have sealed ${message.sealed} records; ${this.#opener.received} were received`
            : message.retainedFrom > message.sealed
              ? `it retains from record ${message.retainedFrom} of ${message.sealed}`
              : undefined;
    if (problem === undefined) return true;
    this.close(new KubepairError('KP_ERR_RESUME_COUNT', problem));
    return false;
  }

  /**
   * Both sides have proved themselves on this carrier: line up and let records flow.
   *
   * Why the receiver's key state matches what is retransmitted, key updates included: record i
   * of a direction is sealed under key epoch e(i) at sequence s(i), where e and s advance by
   * one rule — KEY_UPDATE moves to (e + 1, 0), any other record to (e, s + 1). The peer has
   * consumed slots 0..P-1 (P = its `received`) by opening them, KEY_UPDATEs included, or by
   * skipping ACK-only slots, which never change keys; so its opener is at (e(P), s(P)). We
   * retransmit records max(P, F)..end-1 byte for byte (F = our `retainedFrom`); if F > P the
   * peer first skips the ACK-only slots P..F-1, within one epoch, to (e(F), s(F)). Each frame
   * is then opened under exactly the key and nonce it was sealed with, a KEY_UPDATE sealed
   * before the cut switches the peer's key when it arrives again, and since nothing is sealed
   * twice no nonce ever carries two plaintexts. Symmetrically for the other direction.
   */
  #continueFrom(message: ResumeMessage, initiatedByPeer: boolean): void {
    const gap = message.retainedFrom - this.#opener.received;
    try {
      if (gap > 0) this.#opener.skip(gap);
    } catch (err) {
      this.close(toKubepairError(err, 'KP_ERR_RESUME_COUNT'));
      return;
    }
    this.#acknowledged = Math.max(this.#acknowledged, message.received);
    this.#retained.resumeFrom(message.received);
    this.#ackOwedSince = undefined;
    const retransmitted = this.#retained.length;
    this.#state = 'live';
    this.#openedExchange = 0;
    // Our RESUME carried our count: it acknowledged everything received so far.
    this.#acks.acknowledged();
    if (this.#pausedForReader) this.#carrier!.transport.pause();
    const outageMs = this.#suspendedAt === undefined ? 0 : Math.max(0, Math.round(performance.now() - this.#suspendedAt));
    this.#suspendedAt = undefined;
    const info: ResumeInfo = {
      generation: this.#generation,
      peerGeneration: message.generation,
      retransmitted,
      initiatedByPeer,
      outageMs,
    };
    const attempt = this.#attempt;
    this.#attempt = undefined;
    this.#flush();
    if (this.isClosed) return;
    this.emit('resume', info);
    attempt?.resolve(info);
    this.#releasePendingWrite();
  }

  #failAttempt(error: KubepairError): void {
    const attempt = this.#attempt;
    this.#attempt = undefined;
    if (this.#state !== 'closed') this.#openedExchange = 0;
    attempt?.reject(error);
  }
}

function wipeSecret(secret: TrafficSecret): void {
  secret.key.fill(0);
  secret.iv.fill(0);
}

function abortError(signal: AbortSignal): KubepairError {
  const reason: unknown = signal.reason;
  return reason instanceof KubepairError ? reason : new KubepairError('KP_ERR_ABORTED', undefined, { cause: reason });
}

function describeClose(info: TransportCloseInfo): string {
  const parts = [info.code !== undefined ? `code ${info.code}` : undefined, info.reason || undefined, info.error?.message];
  return parts.filter((part) => part !== undefined).join(', ') || 'no reason given';
}
