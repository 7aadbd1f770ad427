/**
 * The agent's end of the multiplexed tunnel (DESIGN §5): an HTTP/2 server session on the
 * secure channel's byte stream. Each CONNECT stream names a target in `:authority`; a name the
 * agent did not offer is refused with 404 before anything is dialled; an accepted stream is
 * answered 200 and handed to that target's handler as a Duplex. Every header is untrusted.
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
import { isValidTargetName } from './target-name.js';

/** Serves one accepted stream; the stream is a byte pipe to the client's local connection. */
export type TargetHandler = (stream: Duplex, info: { readonly target: string; readonly streamId: number }) => void;

export interface MuxServerOptions extends MuxWindowOptions {
  /** Offered targets by name. */
  readonly targets: ReadonlyMap<string, TargetHandler>;
}

export interface MuxServerEvents {
  /** A stream was refused (unknown target or not CONNECT); for audit and logs. */
  refused: [info: { readonly target: string; readonly method: string; readonly status: number }];
  /** The HTTP/2 session ended; `error` is set when it failed. */
  close: [error: KubepairError | undefined];
}

export class MuxServer extends EventEmitter<MuxServerEvents> {
  readonly #session: ServerHttp2Session;
  readonly #targets: ReadonlyMap<string, TargetHandler>;
  #closed = false;

  constructor(channel: SecureChannel, options: MuxServerOptions) {
    super();
    for (const name of options.targets.keys()) {
      if (!isValidTargetName(name)) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `bad target name "${name}"`);
    }
    this.#targets = options.targets;
    this.#session = performServerHandshake(channel.mux, { settings: muxSettings(options) });
    this.#session.on('connect', () => {
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
    stream.respond({ ':status': constants.HTTP_STATUS_OK });
    handler(stream, { target, streamId: stream.id ?? 0 });
  }

  #refuse(stream: ServerHttp2Stream, target: string, method: string, status: number): void {
    this.emit('refused', { target: target.slice(0, 80), method: method.slice(0, 16), status });
    stream.respond({ ':status': status }, { endStream: true });
  }

  #finish(error: KubepairError | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('close', error);
  }
}
