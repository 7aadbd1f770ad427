/**
 * One raw HTTPS request to a kubepair local listener (or any TLS server that trusts a given
 * CA), for tests that need exactly the bytes a client received, or a request kubectl would
 * not send (a bare WebSocket upgrade, a HEAD). An upgrade that succeeds (101) is reported and
 * its socket destroyed at once; the time bound covers the whole exchange.
 */
import { request } from 'node:https';

export interface TunnelResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The response body exactly as received (empty for a 101). */
  readonly body: Buffer;
}

export interface TunnelRequestOptions {
  readonly port: number;
  readonly caPem: string;
  /** Sent as `Authorization: Bearer TOKEN`. */
  readonly token: string;
  readonly method: string;
  /** Request target: path and query, sent as is. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Most body bytes kept. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export function tunnelRequest(options: TunnelRequestOptions): Promise<TunnelResponse> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: options.port,
      method: options.method,
      path: options.path,
      ca: options.caPem,
      agent: false,
      headers: { authorization: `Bearer ${options.token}`, ...options.headers },
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${options.method} ${options.path}: no answer within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`));
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('upgrade', (res, socket) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0) });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size + chunk.length > MAX_BODY_BYTES) return;
        size += chunk.length;
        chunks.push(chunk);
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    req.end(options.body);
  });
}

/** Headers of a WebSocket upgrade as kubectl 1.30+ sends it for exec (RFC 6455 §4.1). */
export const WEBSOCKET_EXEC_HEADERS: Readonly<Record<string, string>> = {
  connection: 'Upgrade',
  upgrade: 'websocket',
  'sec-websocket-version': '13',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-protocol': 'v5.channel.k8s.io',
};

/** Headers of the SPDY upgrade kubectl falls back to (a POST). */
export const SPDY_EXEC_HEADERS: Readonly<Record<string, string>> = {
  connection: 'Upgrade',
  upgrade: 'SPDY/3.1',
  'x-stream-protocol-version': 'v4.channel.k8s.io',
};
