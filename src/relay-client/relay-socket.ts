/**
 * The WebSocket between an endpoint (agent or client) and the relay (docs/design.md §3), as a
 * MessageTransport for the handshake and the secure channel (src/channel/transport.ts).
 *
 * - Opens `/ws/v1/{agent|client}/{session_id}` with subprotocol `kubepair.v1`, the session key
 *   in `Authorization: Bearer` (never in the URL), no compression, 16 MiB `maxPayload`, no
 *   redirects, and refuses plaintext to a host other than this machine unless `insecure`;
 *   through the endpoint's HTTPS proxy when it has one (relay-connection.ts); straight to the
 *   relay over a connection opened ahead when the caller has one (direct-connection.ts).
 * - Binary frames are the transport's `message`s; `send` takes a message whole or in pieces (a
 *   sealed record's ciphertext parts and tag) and writes it to the socket itself, masked into one
 *   frame with a fresh random key (frame-writer.ts; large frames into buffers reused once
 *   written), while ws keeps the handshake, text frames, ping/pong and close; `send` reports
 *   false above the high-water mark and `drain` follows once the socket's queue is below it;
 *   `send` after the socket closed throws KP_ERR_TRANSPORT_CLOSED (never a silent drop);
 *   `pause`/`resume` stop and restart reading the socket (frames already parsed when pausing
 *   are held, not dropped).
 * - Text frames are relay control messages: each is schema-validated and emitted as `control`
 *   on `controlMessages` (a separate emitter, so the MessageTransport events stay exactly those);
 *   anything else ends the socket with KP_ERR_RELAY_CONTROL_INVALID (the relay speaks only
 *   `kubepair.v1`; nothing is guessed or ignored). They inform users, never security decisions.
 * - `close` carries the KubepairError a relay close code stands for (4409, 4410, 4429, 4001...).
 * - Resumption (docs/design.md §8.1): after `established`, `close()` (1000) ends the session at the
 *   relay; `abandon()` drops the carrier so that the relay suspends the session, and a new
 *   `openRelaySocket` with the same key resumes it (or replaces this socket at once, 4001 here).
 *   `reconnectVerdict` (reconnect-verdict.ts) says whether a failure is worth another socket.
 * - Liveness: the socket pings the relay every 30 s and gives up (KP_ERR_TRANSPORT_CLOSED,
 *   "the relay went silent") when nothing came back for 90 s, so a dead relay or a cut network
 *   is noticed without waiting for TCP. Time the caller keeps the socket paused is not silence.
 *
 * Untrusted input: every frame and close reason from the relay.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { Socket as NetSocket } from 'node:net';
import type { NetConnectOpts, Socket, connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { WebSocket } from '../ws-runtime.js';
import type { RawData } from 'ws';
import { outgoingFrameLength } from '../channel/transport.js';
import type { MessageTransport, MessageTransportEvents, OutgoingFrame } from '../channel/transport.js';
import { KubepairError } from '../errors/index.js';
import { nextEvent } from '../events/next-event.js';
import {
  RELAY_CLIENT_HANDSHAKE_TIMEOUT_MS,
  RELAY_CLIENT_FRAME_BUFFER_BYTES,
  RELAY_CLIENT_FRAME_BUFFER_MIN_BYTES,
  RELAY_CLIENT_PING_INTERVAL_MS,
  RELAY_CLIENT_RESPONSE_MAX_BYTES,
  RELAY_CLIENT_SILENCE_TIMEOUT_MS,
  RELAY_CLIENT_SEND_HIGH_WATER_BYTES,
  RELAY_CLIENT_SPARE_FRAME_BUFFERS,
  RELAY_CLOSE_HANDSHAKE_TIMEOUT_MS,
  WS_MAX_MESSAGE_BYTES,
} from '../limits.js';
import { WS_SUBPROTOCOL } from '../version.js';
import { connectTlsWithFrameReads, connectWithFrameReads } from './direct-connection.js';
import type { PreopenedConnection } from './direct-connection.js';
import { encodeMaskedBinaryFrame } from './frame-writer.js';
import { connectionError, relayAgent } from './relay-connection.js';
import { resolveRelay } from './relay-endpoint.js';
import type { RelayEndpoint } from './relay-endpoint.js';
import { errorFromCloseCode, errorFromRelayAnswer } from './relay-error-mapping.js';
import { parseRetryAfter } from './retry-after.js';
import { WEBSOCKET_FRAME_HEADER_MAX_BYTES } from '../protocol/websocket-frame-header.js';
import { SESSION_ID_PATTERN, SESSION_KEY_PATTERN, relaySocketPath } from '../protocol/relay-api.js';
import { RelayControlMessageSchema, parseControlFrame } from '../protocol/relay-control.js';
import type { PeerRole } from '../protocol/relay-api.js';
import type { AgentControlMessage, RelayControlMessage } from '../protocol/relay-control.js';

/** Events of `RelaySocket.controlMessages` (kept apart from the MessageTransport events). */
export interface RelayControlEvents {
  /** A validated relay control message (`peer_connected`, `peer_disconnected`, `peer_suspended`, `peer_resumed`, `expiring`). */
  control: [message: RelayControlMessage];
}

export interface RelaySocketOptions {
  readonly endpoint: Pick<RelayEndpoint, 'url' | 'insecure' | 'ca' | 'proxy'>;
  readonly role: PeerRole;
  readonly sessionId: string;
  /** `agent_key` or `client_key` from the relay API. */
  readonly key: string;
  readonly signal?: AbortSignal | undefined;
  /** `send` returns false above this many queued bytes (default RELAY_CLIENT_SEND_HIGH_WATER_BYTES). */
  readonly highWaterMark?: number | undefined;
  /** Deadline of the opening handshake (default RELAY_CLIENT_HANDSHAKE_TIMEOUT_MS). */
  readonly handshakeTimeoutMs?: number | undefined;
  /** Ping interval and silence limit (defaults RELAY_CLIENT_PING_INTERVAL_MS / _SILENCE_TIMEOUT_MS). */
  readonly pingIntervalMs?: number | undefined;
  readonly silenceTimeoutMs?: number | undefined;
  /**
   * A connection to the relay opened ahead for this socket (direct-connection.ts): used when it
   * matches what ws asks for and is still good, else a new one is opened as without it.
   */
  readonly preopened?: PreopenedConnection | undefined;
}

export interface RelaySocketLiveness {
  readonly pingIntervalMs: number;
  readonly silenceTimeoutMs: number;
}


type HeldEvent = { readonly kind: 'message'; readonly frame: Uint8Array } | { readonly kind: 'control'; readonly message: RelayControlMessage };

/** An open WebSocket to the relay; see the file header. */
export class RelaySocket extends EventEmitter<MessageTransportEvents> implements MessageTransport {
  readonly role: PeerRole;
  /** Relay control messages: `socket.controlMessages.on('control', (message) => ...)`. */
  readonly controlMessages = new EventEmitter<RelayControlEvents>();
  readonly #ws: WebSocket;
  /**
   * The socket ws reads and writes (the upgrade answer's): binary frames are written to it
   * straight (frame-writer.ts), in order with what ws writes itself (control frames, pings,
   * close: ws's sender writes at once, as it compresses nothing), and ws's `bufferedAmount`
   * counts them, since it reads the socket's queue.
   */
  #socket: Duplex | undefined;
  /**
   * Whether large frames go in reused buffers: only on a net.Socket (a TLSSocket is one), which
   * is done with a buffer when its write callback runs (written to the kernel, or encrypted).
   */
  #reuseBuffers = false;
  /** Frame buffers the socket has written, for the next large frames (RELAY_CLIENT_SPARE_FRAME_BUFFERS at most). */
  #spareBuffers: Buffer[] = [];
  readonly #highWater: number;
  #paused = false;
  /**
   * Events held back: everything until the opener had a turn to attach listeners (ws may
   * deliver a frame that came with the upgrade answer before `await openRelaySocket()` returns),
   * then frames parsed after `pause()` from data already read. Bounded by one socket read.
   */
  #held: HeldEvent[] = [];
  #ready = false;
  #pendingClose: { code: number; reason: string } | undefined;
  #needDrain = false;
  #closing = false;
  #closeEmitted = false;
  #failure: KubepairError | undefined;
  #closeError: KubepairError | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  readonly #liveness: RelaySocketLiveness;
  #livenessTimer: NodeJS.Timeout | undefined;
  #lastSeen = Date.now();

  /** Use openRelaySocket(); the constructor only wraps a socket that is being opened. */
  constructor(ws: WebSocket, role: PeerRole, highWaterMark: number, liveness: RelaySocketLiveness) {
    super();
    this.#ws = ws;
    this.role = role;
    this.#highWater = highWaterMark;
    this.#liveness = liveness;
    const seen = (): void => {
      this.#lastSeen = Date.now();
    };
    ws.on('pong', seen);
    ws.on('ping', seen);
    ws.once('upgrade', (res: IncomingMessage) => {
      this.#socket = res.socket;
      this.#reuseBuffers = res.socket instanceof NetSocket;
    });
    ws.on('open', () => {
      seen();
      this.#armLiveness(liveness.pingIntervalMs);
    });
    ws.on('message', (data, isBinary) => {
      seen();
      this.#onMessage(data, isBinary);
    });
    ws.on('close', (code, reason) => this.#onClose(code, reason.toString('utf8')));
    ws.on('error', (err) => {
      this.#failure ??=
        (err as NodeJS.ErrnoException).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
          ? new KubepairError('KP_ERR_RELAY_MESSAGE_TOO_LARGE', `the relay sent more than ${WS_MAX_MESSAGE_BYTES} bytes in one message`, { cause: err })
          : new KubepairError('KP_ERR_TRANSPORT_CLOSED', `relay socket error: ${err.message}`, { cause: err });
    });
  }

  get closed(): boolean {
    return this.#closing || this.#closeEmitted;
  }

  /** The error the `close` event carried (undefined before it, and when we closed the socket ourselves). */
  get closeError(): KubepairError | undefined {
    return this.#closeError;
  }

  /**
   * The next relay control message of one of `types`; undefined once the socket closes — at
   * once when it is already closed or closing, since no `close` event may be left to wait for
   * (the agent asks again after a failed pairing, when the relay may have closed it already).
   * Rejects with KP_ERR_ABORTED when `signal` aborts first.
   */
  nextControl(types: ReadonlyArray<RelayControlMessage['type']>, signal?: AbortSignal): Promise<RelayControlMessage | undefined> {
    return nextEvent<RelayControlMessage | undefined>(
      (outcome) => {
        if (this.closed) {
          outcome.resolve(undefined);
          return () => undefined;
        }
        const onControl = (message: RelayControlMessage): void => {
          if (types.includes(message.type)) outcome.resolve(message);
        };
        const onClose = (): void => outcome.resolve(undefined);
        this.controlMessages.on('control', onControl);
        this.once('close', onClose);
        return () => {
          this.controlMessages.off('control', onControl);
          this.off('close', onClose);
        };
      },
      { signal, abortError: (aborted) => new KubepairError('KP_ERR_ABORTED', undefined, { cause: aborted.reason }) },
    );
  }

  /** The subprotocol the relay accepted (always `kubepair.v1` once open). */
  get protocol(): string {
    return this.#ws.protocol;
  }

  send(frame: OutgoingFrame): boolean {
    if (!this.#sendable()) return false;
    const length = outgoingFrameLength(frame);
    if (length > WS_MAX_MESSAGE_BYTES) throw new KubepairError('KP_ERR_RELAY_MESSAGE_TOO_LARGE', `${length} bytes`);
    const socket = this.#socket;
    if (socket === undefined) throw new KubepairError('KP_ERR_INTERNAL', 'the relay socket is open without the upgrade answer');
    if (!this.#reuseBuffers || length < RELAY_CLIENT_FRAME_BUFFER_MIN_BYTES || length + WEBSOCKET_FRAME_HEADER_MAX_BYTES > RELAY_CLIENT_FRAME_BUFFER_BYTES) {
      socket.write(encodeMaskedBinaryFrame(frame, length), this.#onSent);
    } else {
      const buffer = this.#spareBuffers.pop() ?? Buffer.allocUnsafeSlow(RELAY_CLIENT_FRAME_BUFFER_BYTES);
      socket.write(encodeMaskedBinaryFrame(frame, length, { into: buffer }), (err?: Error | null) => {
        // Written: the buffer is the socket's no more (an error destroys the socket; it is not reused then).
        if (err == null && this.#reuseBuffers && this.#spareBuffers.length < RELAY_CLIENT_SPARE_FRAME_BUFFERS) this.#spareBuffers.push(buffer);
        this.#onSent(err);
      });
    }
    if (this.#ws.bufferedAmount < this.#highWater) return true;
    this.#needDrain = true;
    return false;
  }

  /** Send callback of every frame (it reached the kernel): emit `drain` once below the mark. */
  readonly #onSent = (err?: Error | null): void => {
    // A failed write closes the socket; `close` reports it. (Node passes null on success.)
    if (err != null || !this.#needDrain || this.#ws.bufferedAmount >= this.#highWater) return;
    this.#needDrain = false;
    this.emit('drain');
  };

  #armLiveness(delayMs: number): void {
    clearTimeout(this.#livenessTimer);
    this.#livenessTimer = setTimeout(this.#livenessTick, Math.max(1, delayMs));
  }

  readonly #livenessTick = (): void => {
    this.#livenessTimer = undefined;
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (this.#paused) this.#lastSeen = now; // a paused socket reads no pong: not the relay's silence
    const silentFor = now - this.#lastSeen;
    if (silentFor >= this.#liveness.silenceTimeoutMs) {
      // Decide after this turn's I/O: if our own event loop was stalled, a pong may be waiting.
      setImmediate(() => {
        if (this.#ws.readyState !== WebSocket.OPEN) return;
        if (Date.now() - this.#lastSeen < this.#liveness.silenceTimeoutMs) {
          this.#armLiveness(this.#liveness.pingIntervalMs);
          return;
        }
        this.#failure ??= new KubepairError('KP_ERR_TRANSPORT_CLOSED', `the relay went silent (nothing for ${Math.round(silentFor / 1000)} s)`);
        this.#ws.terminate();
      });
      return;
    }
    this.#ws.ping();
    this.#armLiveness(Math.min(this.#liveness.pingIntervalMs, this.#liveness.silenceTimeoutMs - silentFor));
  };

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#deliverHeld();
    if (!this.#paused && this.#ws.readyState === WebSocket.OPEN) this.#ws.resume();
  }

  /** Called by openRelaySocket one turn after it resolved: start delivering events. */
  markReady(): void {
    if (this.#ready) return;
    this.#ready = true;
    this.#deliverHeld();
    const pending = this.#pendingClose;
    if (pending !== undefined) {
      this.#pendingClose = undefined;
      this.#onClose(pending.code, pending.reason);
    }
  }

  /** Emit held events in arrival order; binary frames wait while paused (and so does what follows). */
  #deliverHeld(): void {
    while (this.#held.length > 0) {
      const next = this.#held[0] as HeldEvent;
      if (next.kind === 'message' && this.#paused) return;
      this.#held.shift();
      if (next.kind === 'message') this.emit('message', next.frame);
      else this.controlMessages.emit('control', next.message);
    }
  }

  close(code?: number, reason?: string): void {
    if (this.closed) return;
    this.#closing = true;
    const state = this.#ws.readyState;
    if (state === WebSocket.OPEN || state === WebSocket.CONNECTING) {
      if (state === WebSocket.OPEN) this.#ws.close(code ?? 1000, reason);
      else this.#ws.terminate();
    }
    // Bounded: a relay that does not answer the close frame is cut off.
    this.#closeTimer = setTimeout(() => this.#ws.terminate(), RELAY_CLOSE_HANDSHAKE_TIMEOUT_MS);
  }

  /**
   * Drop this carrier without a close frame (docs/design.md §8.1): the relay sees a transport loss
   * and keeps the session suspended for its resume window, where `close()` (1000) would end the
   * session. For an endpoint that decided the carrier is dead and will resume on a new socket.
   * The `close` event follows without an error (this side chose it).
   */
  abandon(): void {
    if (this.closed) return;
    this.#closing = true;
    this.#ws.terminate();
  }

  /** Agent only: tell the relay this pairing attempt failed (docs/design.md §3). */
  sendPakeFailed(): void {
    this.#sendControl({ type: 'pake_failed' });
  }

  /**
   * Agent only: tell the relay the secure channel is established (docs/design.md §3), with the
   * resume window the agent wants in whole seconds (docs/design.md §8.1; absent: the session ends
   * when a socket drops). Sent again after a resumption, it restates the window.
   */
  sendEstablished(resumeWindowS?: number): void {
    this.#sendControl(resumeWindowS === undefined ? { type: 'established' } : { type: 'established', resume_window_s: resumeWindowS });
  }

  #sendControl(message: AgentControlMessage): void {
    if (this.role !== 'agent') throw new KubepairError('KP_ERR_INTERNAL', `only the agent sends "${message.type}"`);
    if (this.#sendable()) this.#ws.send(JSON.stringify(message));
  }

  /**
   * Whether a frame can go out now. Throws KP_ERR_TRANSPORT_CLOSED once the socket is closed or
   * this side closed it. While the relay's close handshake runs (its close frame read, the
   * `close` event still to come), false: the frame is dropped as on a carrier lost in flight, and
   * the `close` event follows with the relay's code. A throw here would end the carrier first as a
   * plain transport loss and hide that code (a 4001 replacement, say, would be retried as a drop).
   */
  #sendable(): boolean {
    if (this.closed) throw new KubepairError('KP_ERR_TRANSPORT_CLOSED', 'the relay socket is closed');
    return this.#ws.readyState === WebSocket.OPEN;
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    const frame = data as Buffer;
    if (isBinary) {
      if (!this.#ready || this.#paused || this.#held.length > 0) this.#held.push({ kind: 'message', frame });
      else this.emit('message', frame);
      return;
    }
    const parsed = parseControlFrame(frame.toString('utf8'), RelayControlMessageSchema);
    if (!parsed.ok) {
      this.#failure = new KubepairError('KP_ERR_RELAY_CONTROL_INVALID', `from the relay: ${parsed.reason}`);
      this.#ws.close(4400, 'invalid control message');
      return;
    }
    if (!this.#ready || this.#held.length > 0) this.#held.push({ kind: 'control', message: parsed.message });
    else this.controlMessages.emit('control', parsed.message);
  }

  #onClose(code: number, reason: string): void {
    // No timer outlives the socket, whether or not the opener has seen it yet.
    clearTimeout(this.#closeTimer);
    this.#reuseBuffers = false;
    this.#spareBuffers = [];
    clearTimeout(this.#livenessTimer);
    this.#livenessTimer = undefined;
    if (!this.#ready) {
      this.#pendingClose = { code, reason };
      return;
    }
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.#held = [];
    const error = this.#failure ?? (this.#closing ? undefined : errorFromCloseCode(code, reason));
    this.#closeError = error;
    this.emit('close', error === undefined ? { code, reason } : { code, reason, error });
  }
}

/** ws's `createConnection` straight to the relay: the connection opened ahead when it can be used, else a new one. */
function directConnection(secure: boolean, preopened: PreopenedConnection | undefined): typeof netConnect {
  const connect = (options: TlsConnectionOptions): Socket => (secure ? connectTlsWithFrameReads(options) : connectWithFrameReads(options as NetConnectOpts));
  // (ws calls it with one options object; the type names all of net.connect's forms.)
  return ((options: TlsConnectionOptions) => preopened?.take(options) ?? connect(options)) as typeof netConnect;
}

/** Read at most RELAY_CLIENT_RESPONSE_MAX_BYTES of a refused upgrade's answer and map it (with its Retry-After). */
function refusedUpgradeError(res: IncomingMessage): Promise<KubepairError> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const status = res.statusCode ?? 0;
    const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
    const finish = (): void => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined; // a non-JSON answer maps to KP_ERR_RELAY_BAD_RESPONSE below
      }
      resolve(errorFromRelayAnswer(status, body, retryAfterMs));
    };
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= RELAY_CLIENT_RESPONSE_MAX_BYTES) chunks.push(chunk);
      else res.destroy();
    });
    res.on('end', finish);
    res.on('close', finish);
    res.on('error', finish);
  });
}

/**
 * Open the relay WebSocket of one side of a session. Rejects with the relay's error for a
 * refused upgrade (401 wrong key, 403 origin, 404 unknown session, 503...), with
 * KP_ERR_RELAY_UNREACHABLE when the relay cannot be reached, KP_ERR_ABORTED on `signal`.
 */
export function openRelaySocket(options: RelaySocketOptions): Promise<RelaySocket> {
  const relay = resolveRelay(options.endpoint);
  if (!new RegExp(SESSION_ID_PATTERN).test(options.sessionId)) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'malformed session id');
  if (!new RegExp(SESSION_KEY_PATTERN).test(options.key)) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `malformed ${options.role}_key`);
  if (options.signal?.aborted === true) return Promise.reject(new KubepairError('KP_ERR_ABORTED'));
  const agent = relayAgent(options.endpoint, relay);
  const ws = new WebSocket(relay.wsBase + relaySocketPath(options.role, options.sessionId), [WS_SUBPROTOCOL], {
    headers: { authorization: `Bearer ${options.key}` },
    maxPayload: WS_MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
    followRedirects: false,
    handshakeTimeout: options.handshakeTimeoutMs ?? RELAY_CLIENT_HANDSHAKE_TIMEOUT_MS,
    ca: options.endpoint.ca,
    ...(agent !== undefined && { agent }),
    // Straight to the relay, plain TCP or TLS: large reads, handed to ws frame by frame
    // (frame-reads.ts), over the connection opened ahead when there is one. Proxy tunnels keep
    // their own reads.
    ...(agent === undefined && { createConnection: directConnection(relay.secure, options.preopened) }),
  });
  const socket = new RelaySocket(ws, options.role, options.highWaterMark ?? RELAY_CLIENT_SEND_HIGH_WATER_BYTES, {
    pingIntervalMs: options.pingIntervalMs ?? RELAY_CLIENT_PING_INTERVAL_MS,
    silenceTimeoutMs: options.silenceTimeoutMs ?? RELAY_CLIENT_SILENCE_TIMEOUT_MS,
  });

  return new Promise<RelaySocket>((resolve, reject) => {
    let settled = false;
    const settle = (error: KubepairError | undefined): void => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      ws.off('open', onOpen);
      ws.off('error', onError);
      ws.off('unexpected-response', onRefused);
      if (error === undefined) {
        resolve(socket);
        // The opener's `await` continuation runs before this: its listeners are attached.
        setImmediate(() => socket.markReady());
        return;
      }
      ws.terminate();
      reject(error);
    };
    const onAbort = (): void => settle(new KubepairError('KP_ERR_ABORTED'));
    const onOpen = (): void => {
      if (ws.protocol !== WS_SUBPROTOCOL) settle(new KubepairError('KP_ERR_RELAY_BAD_RESPONSE', `the relay chose subprotocol ${JSON.stringify(ws.protocol)}`));
      else settle(undefined);
    };
    const onError = (err: Error): void => {
      settle(connectionError(err, relay.hostname, options.endpoint));
    };
    const onRefused = (_req: unknown, res: IncomingMessage): void => {
      refusedUpgradeError(res).then(settle, (err: unknown) => settle(new KubepairError('KP_ERR_RELAY_BAD_RESPONSE', undefined, { cause: err })));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    ws.on('open', onOpen);
    ws.on('error', onError);
    ws.on('unexpected-response', onRefused);
  });
}
