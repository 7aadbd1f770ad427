/**
 * FrameInbox: collects a transport's messages while the handshake waits for them one at a time,
 * then hands the transport over to the secure channel without losing or reordering a frame
 * that arrived early. It bounds what it queues (a peer cannot make it buffer without limit),
 * and every wait ends: by a frame, a timeout, the transport closing, or the abort signal.
 */
import { KubepairError } from '../errors/index.js';
import type { MessageTransport, TransportCloseInfo } from './transport.js';

/** Frames the handshake may have queued at once; more means the peer is not following it. */
const MAX_QUEUED_FRAMES = 4;

export interface FrameConsumer {
  onFrame(frame: Uint8Array): void;
  onClose(info: TransportCloseInfo): void;
}

interface Waiter {
  resolve(frame: Uint8Array): void;
  reject(err: KubepairError): void;
}

function describeClose(info: TransportCloseInfo): string {
  const parts = [info.code !== undefined ? `code ${info.code}` : undefined, info.reason || undefined, info.error?.message];
  return parts.filter((part) => part !== undefined).join(', ') || 'no reason given';
}

export class FrameInbox {
  readonly transport: MessageTransport;
  readonly #queue: Uint8Array[] = [];
  #waiter: Waiter | undefined;
  #closed: TransportCloseInfo | undefined;
  #failure: KubepairError | undefined;
  #consumer: FrameConsumer | undefined;
  /** Name of the message being waited for, for error messages. */
  #pendingStep = '';
  readonly #onMessage = (frame: Uint8Array): void => this.#handleMessage(frame);
  readonly #onClose = (info: TransportCloseInfo): void => this.#handleClose(info);

  constructor(transport: MessageTransport) {
    this.transport = transport;
    transport.on('message', this.#onMessage);
    transport.on('close', this.#onClose);
    if (transport.closed) this.#closed = {};
  }

  /**
   * Wait for the next frame. Rejects with KP_ERR_HANDSHAKE_TIMEOUT after `timeoutMs`,
   * KP_ERR_TRANSPORT_CLOSED when the transport closes, the signal's reason (or KP_ERR_ABORTED)
   * on abort, and KP_ERR_HANDSHAKE_PROTOCOL when the peer flooded the inbox.
   */
  next(step: string, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#closed !== undefined) return Promise.reject(this.#closedError(step));
    if (this.#waiter !== undefined) throw new KubepairError('KP_ERR_INTERNAL', 'two concurrent waits on one inbox');
    if (signal?.aborted) return Promise.reject(abortError(signal));

    return new Promise<Uint8Array>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiter = undefined;
      };
      const onAbort = (): void => {
        cleanup();
        reject(abortError(signal!));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new KubepairError('KP_ERR_HANDSHAKE_TIMEOUT', `no ${step} from the peer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiter = {
        resolve: (frame) => {
          cleanup();
          resolve(frame);
        },
        reject: (err) => {
          cleanup();
          reject(err);
        },
      };
      this.#pendingStep = step;
    });
  }

  /** Give the transport to `consumer`: queued frames first, in order, then every later event. */
  handOff(consumer: FrameConsumer): void {
    if (this.#consumer !== undefined) throw new KubepairError('KP_ERR_INTERNAL', 'inbox handed off twice');
    this.#consumer = consumer;
    for (const frame of this.#queue.splice(0)) consumer.onFrame(frame);
    if (this.#closed !== undefined) consumer.onClose(this.#closed);
  }

  /** Stop listening to the transport (the transport itself stays open). */
  dispose(): void {
    this.transport.off('message', this.#onMessage);
    this.transport.off('close', this.#onClose);
    this.#queue.length = 0;
    this.#consumer = undefined;
  }

  #handleMessage(frame: Uint8Array): void {
    if (this.#consumer !== undefined) {
      this.#consumer.onFrame(frame);
      return;
    }
    if (this.#waiter !== undefined) {
      this.#waiter.resolve(frame);
      return;
    }
    if (this.#queue.length >= MAX_QUEUED_FRAMES) {
      this.#failure ??= new KubepairError('KP_ERR_HANDSHAKE_PROTOCOL', 'the peer sent frames the handshake did not ask for');
      return;
    }
    this.#queue.push(frame);
  }

  #handleClose(info: TransportCloseInfo): void {
    this.#closed = info;
    if (this.#consumer !== undefined) {
      this.#consumer.onClose(info);
      return;
    }
    this.#waiter?.reject(this.#closedError(this.#pendingStep));
  }

  #closedError(step: string): KubepairError {
    const info = this.#closed ?? {};
    if (info.error instanceof KubepairError) return info.error;
    return new KubepairError('KP_ERR_TRANSPORT_CLOSED', `while waiting for ${step || 'the peer'} (${describeClose(info)})`, {
      cause: info.error,
    });
  }
}

function abortError(signal: AbortSignal): KubepairError {
  const reason: unknown = signal.reason;
  return reason instanceof KubepairError ? reason : new KubepairError('KP_ERR_ABORTED', undefined, { cause: reason });
}
