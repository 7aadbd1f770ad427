/**
 * The client's end of the multiplexed tunnel (docs/design.md §5): an HTTP/2 client session on the
 * secure channel's byte stream. `openStream(target)` sends one CONNECT whose `:authority` is a
 * target name the agent offered and resolves with the stream once the agent answered 200;
 * `beginStream` hands the stream back at once, so that the first bytes leave with the CONNECT.
 * A refusal is reported with its own code: 404 (not offered), or a reason the agent named in the
 * `kubepair-refusal` header (stream-refusal.ts; the header's text itself is never shown).
 * HTTP/2 gives each stream its own flow control and half-close, and PING for liveness.
 */
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { connect, constants } from 'node:http2';
import type { SecureChannel } from '../channel/secure-channel.js';
import { KubepairError } from '../errors/index.js';
import { MUX_CONNECTION_WINDOW_BYTES, MUX_OPEN_TIMEOUT_MS } from '../limits.js';
import type { MuxWindowOptions } from './mux-settings.js';
import { muxSettings } from './mux-settings.js';
import { STREAM_REFUSALS, STREAM_REFUSAL_HEADER, knownRefusal } from './stream-refusal.js';
import { assertTargetName } from '../protocol/target-name.js';

export type MuxClientOptions = MuxWindowOptions;

export class MuxClient {
  readonly #session: ClientHttp2Session;
  #closedError: KubepairError | undefined;

  constructor(channel: SecureChannel, options: MuxClientOptions = {}) {
    // The authority is never dialled: createConnection hands HTTP/2 the channel's byte stream.
    this.#session = connect('http://kubepair.tunnel', {
      createConnection: () => channel.mux,
      settings: muxSettings(options),
    });
    this.#session.on('connect', () => {
      // The channel may have closed (and destroyed the session) before its connect event ran;
      // setLocalWindowSize on a destroyed session throws, outside any caller's try.
      if (this.#session.destroyed) return;
      this.#session.setLocalWindowSize(options.connectionWindowBytes ?? MUX_CONNECTION_WINDOW_BYTES);
    });
    this.#session.on('error', (err) => {
      this.#closedError ??= new KubepairError('KP_ERR_MUX_CLOSED', 'HTTP/2 session error', { cause: err });
    });
    this.#session.on('close', () => {
      this.#closedError ??= new KubepairError('KP_ERR_MUX_CLOSED');
    });
    channel.once('close', (error) => {
      this.#closedError ??= new KubepairError('KP_ERR_MUX_CLOSED', error?.message, { cause: error });
      if (!this.#session.destroyed) this.#session.destroy();
    });
  }

  get closed(): boolean {
    return this.#closedError !== undefined;
  }

  /**
   * Open a CONNECT stream to `target`; rejects with KP_ERR_MUX_TARGET_UNKNOWN when not offered,
   * KP_ERR_MUX_AUDIT_UNAVAILABLE when the agent cannot audit it (fail closed).
   */
  async openStream(target: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ClientHttp2Stream> {
    const { stream, answered } = this.beginStream(target, options);
    await answered;
    return stream;
  }

  /**
   * Send the CONNECT for `target` and hand back its stream at once, before the agent answered:
   * bytes written to it now leave right behind the CONNECT (in the same record when written in
   * the same turn), saving the open's round trip. `answered` resolves on the agent's 200 and
   * rejects as `openStream` does; the stream is then destroyed. Nothing can be read from the
   * stream before the 200 (HTTP/2 has no DATA before the response HEADERS), and a refused stream
   * is destroyed in its answer's event, before any of its bytes. The agent discards what it was
   * sent on a stream it refuses (docs/design.md §5). Throws KP_ERR_INVALID_ARGUMENT for a bad
   * name, KP_ERR_MUX_CLOSED when the tunnel is gone.
   */
  beginStream(target: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): { stream: ClientHttp2Stream; answered: Promise<void> } {
    if (this.#closedError !== undefined) throw this.#closedError;
    let stream: ClientHttp2Stream;
    try {
      assertTargetName(target);
      stream = this.#session.request(
        { [constants.HTTP2_HEADER_METHOD]: constants.HTTP2_METHOD_CONNECT, [constants.HTTP2_HEADER_AUTHORITY]: target },
        { endStream: false, ...(options.signal !== undefined && { signal: options.signal }) },
      );
    } catch (err) {
      throw err instanceof KubepairError ? err : new KubepairError('KP_ERR_MUX_CLOSED', undefined, { cause: err });
    }
    const answered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        fail(new KubepairError('KP_ERR_MUX_STREAM_FAILED', `the agent did not answer within ${options.timeoutMs ?? MUX_OPEN_TIMEOUT_MS} ms`));
      }, options.timeoutMs ?? MUX_OPEN_TIMEOUT_MS);
      const cleanup = (): void => {
        clearTimeout(timer);
        stream.off('response', onResponse);
        stream.off('error', onError);
        stream.off('close', onClose);
      };
      const fail = (err: KubepairError): void => {
        cleanup();
        // The stream is discarded; its failure is reported through `reject` below.
        stream.on('error', () => undefined);
        stream.destroy();
        reject(err);
      };
      const onResponse = (headers: Record<string, unknown>): void => {
        const status = Number(headers[constants.HTTP2_HEADER_STATUS]);
        const refusal = knownRefusal(headers[STREAM_REFUSAL_HEADER]);
        if (status === 200) {
          cleanup();
          resolve();
        } else if (status === 404) {
          fail(new KubepairError('KP_ERR_MUX_TARGET_UNKNOWN', `"${target}"`));
        } else if (refusal !== undefined && STREAM_REFUSALS[refusal].status === status) {
          fail(new KubepairError(STREAM_REFUSALS[refusal].code));
        } else {
          fail(new KubepairError('KP_ERR_MUX_STREAM_FAILED', `the agent answered ${status} for "${target}"`));
        }
      };
      const onError = (err: Error): void => fail(new KubepairError('KP_ERR_MUX_STREAM_FAILED', err.message, { cause: err }));
      const onClose = (): void => fail(this.#closedError ?? new KubepairError('KP_ERR_MUX_STREAM_FAILED', 'stream closed before the answer'));
      stream.on('response', onResponse);
      stream.on('error', onError);
      stream.on('close', onClose);
    });
    return { stream, answered };
  }

  /** Round-trip time of an HTTP/2 PING through the tunnel, in milliseconds. */
  ping(): Promise<number> {
    return new Promise((resolve, reject) => {
      const sent = this.#session.ping((err, duration) => {
        if (err !== null) reject(new KubepairError('KP_ERR_MUX_CLOSED', err.message, { cause: err }));
        else resolve(duration);
      });
      if (!sent) reject(new KubepairError('KP_ERR_MUX_CLOSED', 'too many pings in flight'));
    });
  }

  /** Close gracefully: no new streams; open streams finish. */
  close(): void {
    if (!this.#session.closed) this.#session.close();
  }
}
