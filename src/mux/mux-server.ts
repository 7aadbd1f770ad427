/**
 * The agent's end of the multiplexed tunnel (docs/design.md §5): an HTTP/2 server session on the
 * secure channel's byte stream. Each CONNECT stream names a target in `:authority`; a name the
 * agent did not offer is refused with 404 before anything is dialled. A stream to an offered
 * target then passes the gate — the one place every stream to every target passes, so a rule
 * that must hold for all of them (the audit's fail-closed rule) lives there — and only an
 * admitted stream is answered 200 and handed to its target's handler as a Duplex. A refused one
 * is answered with the refusal's status and reason header (stream-refusal.ts) and never reaches
 * a handler. Every header is untrusted.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { constants, performServerHandshake } from 'node:http2';
import type { SecureChannel } from '../channel/secure-channel.js';
import { KubepairError } from '../errors/index.js';
import { MUX_CONNECTION_WINDOW_BYTES } from '../limits.js';
import type { MuxWindowOptions } from './mux-settings.js';
import { muxSettings } from './mux-settings.js';
import type { StreamRefusalReason } from './stream-refusal.js';
import { STREAM_REFUSALS, STREAM_REFUSAL_HEADER } from './stream-refusal.js';
import { isValidTargetName } from '../protocol/target-name.js';

/** Which stream: the offered target it names and its HTTP/2 stream id (unique within the session). */
export interface StreamInfo {
  readonly target: string;
  readonly streamId: number;
}

/** How a served stream ended: bytes from and to the client where the handler counted them, and its error. */
export interface StreamOutcome {
  readonly bytesIn?: number;
  readonly bytesOut?: number;
  readonly error?: Error;
}

/**
 * Serves one admitted stream; the stream is a byte pipe to the client's local connection. A
 * handler that returns a promise is done when it settles (resolving with the bytes it carried,
 * if it counted them); otherwise the stream closing ends it.
 */
export type TargetHandler = (stream: Duplex, info: StreamInfo) => Promise<StreamOutcome | void> | void;

/** The gate's answer for one stream: admitted, with `end` to call once it is over; or refused. */
export type GateVerdict =
  | { readonly admitted: true; readonly end: (outcome: StreamOutcome) => void }
  | { readonly admitted: false; readonly reason: StreamRefusalReason };

/**
 * Decides, before a stream is answered, whether it may reach its target. `admit` must not
 * throw; a rejection counts as a refusal for `audit-unavailable` (fail closed).
 */
export interface StreamGate {
  admit(info: StreamInfo): Promise<GateVerdict>;
}

export interface MuxServerOptions extends MuxWindowOptions {
  /** Offered targets by name. */
  readonly targets: ReadonlyMap<string, TargetHandler>;
  /** Passed by every stream to an offered target before it is answered; without one, all are admitted. */
  readonly gate?: StreamGate;
}

export interface MuxServerEvents {
  /** A stream was refused (not CONNECT, unknown target, or by the gate); for audit and logs. */
  refused: [info: { readonly target: string; readonly method: string; readonly status: number; readonly reason?: StreamRefusalReason }];
  /** The HTTP/2 session ended; `error` is set when it failed. */
  close: [error: KubepairError | undefined];
}

/** The verdict without a gate. */
const OPEN_GATE: StreamGate = { admit: () => Promise.resolve({ admitted: true, end: () => undefined }) };

export class MuxServer extends EventEmitter<MuxServerEvents> {
  readonly #session: ServerHttp2Session;
  readonly #targets: ReadonlyMap<string, TargetHandler>;
  readonly #gate: StreamGate;
  #closed = false;

  constructor(channel: SecureChannel, options: MuxServerOptions) {
    super();
    for (const name of options.targets.keys()) {
      if (!isValidTargetName(name)) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `bad target name "${name}"`);
    }
    this.#targets = options.targets;
    this.#gate = options.gate ?? OPEN_GATE;
    this.#session = performServerHandshake(channel.mux, { settings: muxSettings(options) });
    this.#session.on('connect', () => {
      // The channel may have closed (and destroyed the session) before its connect event ran;
      // setLocalWindowSize on a destroyed session throws, outside any caller's try.
      if (this.#session.destroyed) return;
      this.#session.setLocalWindowSize(options.connectionWindowBytes ?? MUX_CONNECTION_WINDOW_BYTES);
    });
    this.#session.on('stream', (stream, headers) => this.#onStream(stream, headers));
    this.#session.on('error', (err) => this.#finish(new KubepairError('KP_ERR_MUX_STREAM_FAILED', 'HTTP/2 session error', { cause: err })));
    this.#session.on('close', () => this.#finish(undefined));
    channel.once('close', (error) => {
      this.#finish(error);
      if (!this.#session.destroyed) this.#session.destroy();
    });
  }

  /** Stop accepting streams and end the session once open streams finish. */
  close(): void {
    if (!this.#session.closed) this.#session.close();
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    // A reset by the client or a lost channel ends this stream only; the target handler sees
    // the stream close, and it must never become an uncaught exception.
    stream.on('error', () => stream.destroy());
    const method = headers[':method'] ?? '';
    const target = headers[':authority'] ?? '';
    if (method !== 'CONNECT') {
      this.#refuse(stream, target, method, constants.HTTP_STATUS_METHOD_NOT_ALLOWED);
      return;
    }
    const handler = isValidTargetName(target) ? this.#targets.get(target) : undefined;
    if (handler === undefined) {
      this.#refuse(stream, target, method, constants.HTTP_STATUS_NOT_FOUND);
      return;
    }
    // #admit handles its own failures; anything left (a bug) costs this stream, not the process.
    this.#admit(stream, { target, streamId: stream.id ?? 0 }, handler).catch(() => stream.destroy());
  }

  /**
   * Pass the gate, then answer and hand over; nothing reaches the handler before the gate
   * admitted the stream (bytes the client sent early wait in the stream, bounded by its window).
   */
  async #admit(stream: ServerHttp2Stream, info: StreamInfo, handler: TargetHandler): Promise<void> {
    let verdict: GateVerdict;
    try {
      verdict = await this.#gate.admit(info);
    } catch {
      verdict = { admitted: false, reason: 'audit-unavailable' };
    }
    if (!verdict.admitted) {
      this.#refuse(stream, info.target, 'CONNECT', STREAM_REFUSALS[verdict.reason].status, verdict.reason);
      return;
    }
    if (stream.destroyed || stream.closed) {
      verdict.end({ bytesIn: 0, bytesOut: 0, error: new Error('the client left before the stream was answered') });
      return;
    }
    try {
      stream.respond({ ':status': constants.HTTP_STATUS_OK });
    } catch (err) {
      // The session went away while the gate decided.
      stream.destroy();
      verdict.end({ bytesIn: 0, bytesOut: 0, error: err instanceof Error ? err : new Error(String(err)) });
      return;
    }
    let served: Promise<StreamOutcome | void> | void;
    try {
      served = handler(stream, info);
    } catch (err) {
      stream.destroy();
      verdict.end({ error: err instanceof Error ? err : new Error(String(err)) });
      return;
    }
    if (served === undefined) {
      stream.once('close', () => verdict.end({}));
    } else {
      served.then(
        (outcome) => verdict.end(outcome ?? {}),
        (err: unknown) => verdict.end({ error: err instanceof Error ? err : new Error(String(err)) }),
      );
    }
  }

  #refuse(stream: ServerHttp2Stream, target: string, method: string, status: number, reason?: StreamRefusalReason): void {
    this.emit('refused', { target: target.slice(0, 80), method: method.slice(0, 16), status, ...(reason !== undefined && { reason }) });
    if (stream.destroyed || stream.closed) return;
    try {
      stream.respond({ ':status': status, ...(reason !== undefined && { [STREAM_REFUSAL_HEADER]: reason }) }, { endStream: true });
      // What the client sent on the stream, or still sends, is never read: reset the stream behind
      // the answer (RST_STREAM NO_ERROR, RFC 9113 §8.1), so its bytes are dropped, not held
      // (docs/design.md §5). Node's HTTP/2 (22, 24, 26) does this by itself a turn later for an
      // answered stream nobody read; saying it here keeps it so if anything ever reads one.
      stream.close(constants.NGHTTP2_NO_ERROR);
    } catch {
      stream.destroy(); // the session went away: there is nobody to tell
    }
  }

  #finish(error: KubepairError | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('close', error);
  }
}
