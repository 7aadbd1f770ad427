/**
 * Writes HTTP/1.1 responses to the client's tunnel stream (the kubectl side of the agent's
 * proxy). The agent frames every response itself: a known length as `Content-Length`, an
 * unknown one as `chunked`, no body for HEAD, 1xx, 204 and 304 — whatever framing the API
 * server used on its own connection (HTTP/2 has none) — and says `Connection: close` when it
 * will close after this response. Hop-by-hop fields of the upstream answer are never passed
 * on; field values are checked again so nothing can split a response head.
 *
 * Input: the API server's answer (trusted for content, not for syntax) and the agent's own.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HeaderField } from './message-syntax.js';
import { isFieldValue, isToken } from './message-syntax.js';

/** Fields that describe one connection (RFC 9110 §7.6.1) or its framing, never copied to the client. */
export const RESPONSE_HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
]);

/** How the body that follows a response head is delimited. */
export type ResponseBodyFraming = { readonly kind: 'none' } | { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' };

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/** True when a response with this status to this method has no body (RFC 9110 §6.4.1). */
export function responseHasNoBody(method: string, status: number): boolean {
  return method === 'HEAD' || (status >= 100 && status < 200) || status === 204 || status === 304;
}

/** The status line and fields of a response, ending in the empty line. */
export function serializeResponseHead(status: number, fields: readonly HeaderField[]): Buffer {
  let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
  for (const [name, value] of fields) {
    if (isToken(name) && isFieldValue(value)) text += `${name}: ${value}\r\n`;
  }
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/**
 * One response on the client's stream: `start` writes the head with the framing the agent
 * chose, `write` frames body bytes, `end` finishes the body. Backpressure is the caller's:
 * `write` returns what the stream's write returned.
 */
export class ResponseWriter {
  readonly #sink: Duplex;
  #framing: ResponseBodyFraming = { kind: 'none' };
  #written = 0;
  #started = false;

  constructor(sink: Duplex) {
    this.#sink = sink;
  }

  get started(): boolean {
    return this.#started;
  }

  /**
   * Write the head. `fields` are end-to-end fields (hop-by-hop ones are dropped here); the
   * framing fields come from `framing`; `close` adds `Connection: close`.
   */
  start(status: number, fields: readonly HeaderField[], framing: ResponseBodyFraming, close: boolean, headOnly = false): void {
    this.#started = true;
    this.#framing = headOnly ? { kind: 'none' } : framing;
    const out: HeaderField[] = fields.filter(([name]) => !RESPONSE_HOP_BY_HOP.has(name));
    if (framing.kind === 'length') out.push(['content-length', String(framing.length)]);
    else if (framing.kind === 'chunked' && !headOnly) out.push(['transfer-encoding', 'chunked']);
    if (close) out.push(['connection', 'close']);
    this.#sink.write(serializeResponseHead(status, out));
  }

  /** Frame and write body bytes; false when the stream wants the caller to wait for 'drain'. */
  write(data: Buffer): boolean {
    if (data.length === 0) return true;
    switch (this.#framing.kind) {
      case 'none':
        return true;
      case 'length': {
        const room = this.#framing.length - this.#written;
        if (data.length > room) throw new RangeError('the body is longer than its Content-Length');
        this.#written += data.length;
        return this.#sink.write(data);
      }
      case 'chunked': {
        this.#sink.cork();
        this.#sink.write(`${data.length.toString(16)}\r\n`, 'latin1');
        this.#sink.write(data);
        const more = this.#sink.write(CRLF);
        process.nextTick(() => this.#sink.uncork());
        return more;
      }
    }
  }

  /** True when a length-framed body got all its bytes (always true for the other framings). */
  get complete(): boolean {
    return this.#framing.kind !== 'length' || this.#written === this.#framing.length;
  }

  /** End the body (the last chunk for chunked); the stream itself stays open. */
  end(): void {
    if (this.#framing.kind === 'chunked') this.#sink.write(LAST_CHUNK);
  }
}
