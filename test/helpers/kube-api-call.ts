/**
 * One HTTPS request to the test API server fixture from a test, without kubectl: verifies the
 * serving certificate by the name `kubernetes` against the fixture CA, authenticates with the
 * admin client certificate, the admin token, a given bearer token or nothing, and collects
 * the whole answer (bounded by the 10 s timeout).
 */
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeApiServer } from '../fixtures/kube-api-server/server.js';

export interface KubeApiResponse {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export interface KubeApiCallOptions {
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
  /** `certificate` (default): admin client certificate; `token`: admin token; `none`; or `{ bearer }`. */
  readonly auth?: 'certificate' | 'token' | 'none' | { readonly bearer: string };
}

/** Request timeout, in ms. */
const CALL_TIMEOUT_MS = 10_000;

export function callKubeApi(server: KubeApiServer, method: string, path: string, options: KubeApiCallOptions = {}): Promise<KubeApiResponse> {
  const auth = options.auth ?? 'certificate';
  const authorization =
    auth === 'token' ? { Authorization: `Bearer ${server.token}` } : typeof auth === 'object' ? { Authorization: `Bearer ${auth.bearer}` } : {};
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: server.port,
        method,
        path,
        ca: server.caPem,
        servername: 'kubernetes',
        ...(auth === 'certificate' ? { cert: server.clientCertPem, key: server.clientKeyPem } : {}),
        headers: { ...authorization, ...options.headers },
        timeout: CALL_TIMEOUT_MS,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}
