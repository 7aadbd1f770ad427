/**
 * How relay errors leave the relay (docs/design.md §3, normative): the JSON body
 * `{"error":{"code","message"}}` with the registry's HTTP status, for API answers and for
 * refused WebSocket upgrades (answered before the WebSocket is accepted).
 *
 * Framework errors (bad JSON, oversized body, wrong content type, schema violations) are
 * mapped to registry codes here so that no Fastify-specific error shape ever reaches a client.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { KubepairError, isKubepairError } from '../errors/index.js';

export interface RelayErrorAnswer {
  readonly status: number;
  readonly body: { readonly error: { readonly code: string; readonly message: string } };
  readonly error: KubepairError;
}

interface FrameworkError {
  readonly code?: string;
  readonly statusCode?: number;
  readonly validation?: unknown;
  readonly message?: string;
}

/** Turn anything thrown while answering a request into a registry error. */
export function toRelayError(err: unknown): KubepairError {
  if (isKubepairError(err)) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as FrameworkError;
  if (e.validation !== undefined) {
    return new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', (e.message ?? 'schema violation').slice(0, 200), { cause: err });
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new KubepairError('KP_ERR_RELAY_BODY_TOO_LARGE', undefined, { cause: err });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', 'the body must be application/json', { cause: err });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', 'the JSON body is empty', { cause: err });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', 'the body is not valid JSON', { cause: err });
    default:
      break;
  }
  if (e.statusCode === 413) return new KubepairError('KP_ERR_RELAY_BODY_TOO_LARGE', undefined, { cause: err });
  if (err instanceof SyntaxError) return new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', 'the body is not valid JSON', { cause: err });
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', e.code ?? `status ${e.statusCode}`, { cause: err });
  }
  return new KubepairError('KP_ERR_INTERNAL', undefined, { cause: err });
}

/** `Retry-After` in whole seconds (RFC 9110 §10.2.3 delay-seconds), rounded up so that a retry is never early. */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}

/** The status and JSON body answering `err`. */
export function errorAnswer(err: unknown): RelayErrorAnswer {
  const error = toRelayError(err);
  return { status: error.status ?? 500, body: { error: { code: error.code, message: error.message } }, error };
}

/**
 * Refuse a WebSocket upgrade with a JSON error, then close the connection. Used before the
 * WebSocket is accepted, so the client sees a plain HTTP status (401, 403, 404, 503...).
 */
export function refuseUpgrade(socket: Duplex, answer: RelayErrorAnswer, headers: Readonly<Record<string, string>> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(answer.body);
  const lines = [
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
