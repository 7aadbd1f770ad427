/**
 * The agent's connection to the API server for ordinary (non-upgrade) requests (docs/design.md §6,
 * issue 10). HTTP/2 when the API server offers it over ALPN, as kube-apiserver does: each
 * request is its own stream with its own framing, so no request can bleed into another and one
 * multiplexed TLS connection serves every tunnel stream. When the server (or a proxy in front
 * of it) offers only HTTP/1.1, a keep-alive pool of Node's HTTP client is used with the framing
 * the agent chose written explicitly (`Content-Length`, or `Transfer-Encoding: chunked`,
 * `Content-Length: 0` for an empty body on a method that may carry one): Node's client never
 * writes a body unframed and reuses a socket only after the request and its response ended.
 *
 * The request handed in here was parsed, judged and audited by the agent; the headers are
 * already reduced to end-to-end fields (see upstream-headers.ts). Untrusted input: the
 * response, for syntax (Node's parsers check it).
 */
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders as Http2IncomingHeaders, OutgoingHttpHeaders } from 'node:http2';
import { connect as http2Connect, constants as h2 } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { API_SERVER_CONNECT_TIMEOUT_MS, API_SERVER_H2_CONNECTION_WINDOW_BYTES, API_SERVER_H2_STREAM_WINDOW_BYTES } from '../../limits.js';
import type { HeaderField } from '../http1/message-syntax.js';
import type { BodyFraming } from '../http1/request-head.js';
import type { UpstreamAuth, UpstreamCluster } from '../upstream-cluster.js';

/** A request the agent forwards: origin-form target, end-to-end fields, and its decoded body. */
export interface ForwardRequest {
  readonly method: string;
  readonly target: string;
  readonly headers: readonly HeaderField[];
  readonly framing: BodyFraming;
  readonly body: Readable;
}

/** The API server's answer: status, end-to-end fields, body, and how to abandon it. */
export interface ForwardResponse {
  readonly status: number;
  readonly headers: readonly HeaderField[];
  /** The body length the API server announced, if any. */
  readonly contentLength: number | undefined;
  readonly body: Readable;
  readonly protocol: 'h2' | 'http/1.1';
  /** Stop the request (reset the stream, or drop the HTTP/1.1 socket). */
  abort(): void;
}

export type ApiServerProtocol = 'h2' | 'http/1.1';

export interface ApiServerClientOptions {
  /** Offer h2 over ALPN (default true); false forces HTTP/1.1. */
  readonly http2?: boolean;
}

/** Methods that may carry a body: an empty one is sent as `Content-Length: 0`, never unframed. */
const BODY_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What verifies the API server and presents the agent's client certificate. */
interface TlsOptions {
  readonly servername: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

interface Connection {
  readonly key: string;
  readonly protocol: ApiServerProtocol;
  /** The HTTP/2 session (protocol h2) or the HTTP/1.1 keep-alive pool. */
  readonly session?: ClientHttp2Session;
  readonly agent?: Agent;
}

function credentialKey(auth: UpstreamAuth): string {
  return `${auth.certPem ?? ''}\u0000${auth.keyPem ?? ''}`;
}

/** Fields from a Node header object, pseudo-headers dropped, repeated values kept apart. */
function fieldsOf(headers: Http2IncomingHeaders | IncomingMessage['headers']): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) fields.push([name, String(item)]);
  }
  return fields;
}

function contentLengthOf(headers: readonly HeaderField[]): number | undefined {
  const value = headers.find(([name]) => name === 'content-length')?.[1];
  return value !== undefined && /^\d{1,15}$/.test(value) ? Number(value) : undefined;
}

export class ApiServerClient {
  readonly #upstream: UpstreamCluster;
  readonly #offerH2: boolean;
  #connection: Promise<Connection> | undefined;
  #closed = false;

  constructor(upstream: UpstreamCluster, options: ApiServerClientOptions = {}) {
    this.#upstream = upstream;
    this.#offerH2 = options.http2 ?? true;
  }

  /** Which protocol the current connection speaks (undefined before the first request). */
  async protocol(auth: UpstreamAuth): Promise<ApiServerProtocol> {
    return (await this.#connectionFor(auth)).protocol;
  }

  /** Send one request; resolves when the response head arrives. */
  async send(auth: UpstreamAuth, request: ForwardRequest): Promise<ForwardResponse> {
    const connection = await this.#connectionFor(auth);
    return connection.protocol === 'h2' ? this.#sendH2(connection.session!, auth, request) : this.#sendHttp1(connection.agent!, auth, request);
  }

  /** Close every connection (streams in flight end). */
  close(): void {
    this.#closed = true;
    const current = this.#connection;
    this.#connection = undefined;
    void current?.then(
      (connection) => {
        connection.session?.destroy();
        connection.agent?.destroy();
      },
      () => undefined,
    );
  }

  /** The path on the API server: the kubeconfig's server URL may carry a path prefix. */
  #path(target: string): string {
    const prefix = this.#upstream.server.pathname.replace(/\/+$/, '');
    return `${prefix}${target}`;
  }

  #authority(): string {
    const { host, port } = this.#upstream;
    const name = host.includes(':') ? `[${host}]` : host;
    return port === 443 ? name : `${name}:${port}`;
  }

  #tlsOptions(auth: UpstreamAuth): TlsOptions {
    const upstream = this.#upstream;
    return {
      servername: upstream.serverName,
      ...(upstream.caPem !== undefined && { ca: upstream.caPem }),
      ...(auth.certPem !== undefined && { cert: auth.certPem }),
      ...(auth.keyPem !== undefined && { key: auth.keyPem }),
    };
  }

  /**
   * The connection for these credentials: reused while it lives and the client certificate is
   * the same (exec plugins may rotate it); otherwise a new TLS connection whose ALPN answer
   * decides between HTTP/2 and the HTTP/1.1 pool.
   */
  async #connectionFor(auth: UpstreamAuth): Promise<Connection> {
    const key = credentialKey(auth);
    const current = this.#connection;
    if (current !== undefined) {
      const connection = await current.catch(() => undefined);
      if (connection !== undefined && connection.key === key && this.#usable(connection)) return connection;
      if (this.#connection === current) {
        this.#connection = undefined;
        connection?.session?.destroy();
        connection?.agent?.destroy();
      }
      if (this.#connection !== undefined) return this.#connectionFor(auth);
    }
    if (this.#closed) throw new Error('the API server client is closed');
    const opening = this.#open(key, auth);
    this.#connection = opening;
    opening.catch(() => {
      if (this.#connection === opening) this.#connection = undefined;
    });
    return opening;
  }

  #usable(connection: Connection): boolean {
    if (connection.protocol === 'http/1.1') return true;
    const session = connection.session!;
    return !session.closed && !session.destroyed;
  }

  async #open(key: string, auth: UpstreamAuth): Promise<Connection> {
    const tlsOptions = this.#tlsOptions(auth);
    if (!this.#offerH2) return { key, protocol: 'http/1.1', agent: this.#pool(tlsOptions) };
    const socket = tlsConnect({ host: this.#upstream.host, port: this.#upstream.port, ALPNProtocols: ['h2', 'http/1.1'], ...tlsOptions });
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error('timed out connecting'), { code: 'ETIMEDOUT' })), API_SERVER_CONNECT_TIMEOUT_MS);
    try {
      await once(socket, 'secureConnect');
    } finally {
      clearTimeout(timer);
    }
    if (socket.alpnProtocol !== 'h2') {
      // HTTP/1.1 only (no ALPN, or http/1.1 chosen): this probe socket is not reused.
      socket.destroy();
      return { key, protocol: 'http/1.1', agent: this.#pool(tlsOptions) };
    }
    const session = http2Connect(`https://${this.#authority()}`, {
      createConnection: () => socket,
      settings: { initialWindowSize: API_SERVER_H2_STREAM_WINDOW_BYTES, enablePush: false },
    });
    session.on('error', () => session.destroy());
    session.on('goaway', () => {
      // No new streams on a session that is going away; streams in flight finish.
      void this.#connection?.then((connection) => {
        if (connection.session === session) this.#connection = undefined;
      });
    });
    session.on('connect', () => session.setLocalWindowSize(API_SERVER_H2_CONNECTION_WINDOW_BYTES));
    session.unref();
    return { key, protocol: 'h2', session };
  }

  #pool(tlsOptions: TlsOptions): Agent {
    return new Agent({ keepAlive: true, maxSockets: 64, ...tlsOptions });
  }

  #sendH2(session: ClientHttp2Session, auth: UpstreamAuth, request: ForwardRequest): Promise<ForwardResponse> {
    const headers: OutgoingHttpHeaders = {
      [h2.HTTP2_HEADER_METHOD]: request.method,
      [h2.HTTP2_HEADER_PATH]: this.#path(request.target),
    };
    for (const [name, value] of [...request.headers, ...Object.entries(auth.headers).map(([n, v]) => [n.toLowerCase(), v] as const)]) {
      const existing = headers[name];
      headers[name] = existing === undefined ? value : Array.isArray(existing) ? [...(existing), value] : [String(existing), value];
    }
    if (request.framing.kind === 'length') headers['content-length'] = String(request.framing.length);
    else if (request.framing.kind === 'none' && BODY_METHODS.has(request.method)) headers['content-length'] = '0';
    const endStream = request.framing.kind === 'none' || (request.framing.kind === 'length' && request.framing.length === 0);
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = session.request(headers, { endStream });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const onError = (err: Error): void => reject(err);
      stream.once('error', onError);
      stream.once('close', () => reject(Object.assign(new Error('the API server reset the stream'), { code: `HTTP2_RST_${stream.rstCode ?? 0}` })));
      stream.once('response', (responseHeaders) => {
        stream.off('error', onError);
        stream.on('error', () => undefined); // reported through the body's 'close' without 'end'
        const status = Number(responseHeaders[h2.HTTP2_HEADER_STATUS] ?? 502);
        const fields = fieldsOf(responseHeaders);
        resolve({
          status,
          headers: fields,
          contentLength: contentLengthOf(fields),
          body: stream,
          protocol: 'h2',
          abort: () => {
            if (!stream.destroyed) stream.close(h2.NGHTTP2_CANCEL);
          },
        });
      });
      if (!endStream) {
        request.body.on('error', () => {
          if (!stream.destroyed) stream.close(h2.NGHTTP2_CANCEL);
        });
        request.body.pipe(stream);
      }
    });
  }

  #sendHttp1(agent: Agent, auth: UpstreamAuth, request: ForwardRequest): Promise<ForwardResponse> {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of [...request.headers, ...Object.entries(auth.headers).map(([n, v]) => [n.toLowerCase(), v] as const)]) {
      const existing = headers[name];
      headers[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
    }
    headers['host'] = this.#authority();
    if (request.framing.kind === 'length') headers['content-length'] = String(request.framing.length);
    else if (request.framing.kind === 'chunked') headers['transfer-encoding'] = 'chunked';
    else if (BODY_METHODS.has(request.method)) headers['content-length'] = '0';
    return new Promise((resolve, reject) => {
      const outgoing = httpsRequest({
        host: this.#upstream.host,
        port: this.#upstream.port,
        method: request.method,
        path: this.#path(request.target),
        headers,
        agent,
        // Never let a response be read as anything but HTTP/1.1 the strict way.
        insecureHTTPParser: false,
      });
      outgoing.once('error', reject);
      outgoing.once('response', (incoming: IncomingMessage) => {
        const fields: HeaderField[] = [];
        for (let i = 0; i + 1 < incoming.rawHeaders.length; i += 2) fields.push([incoming.rawHeaders[i]!.toLowerCase(), incoming.rawHeaders[i + 1]!]);
        resolve({
          status: incoming.statusCode ?? 502,
          headers: fields,
          contentLength: contentLengthOf(fields),
          body: incoming,
          protocol: 'http/1.1',
          abort: () => outgoing.destroy(),
        });
      });
      request.body.on('error', (err) => outgoing.destroy(err));
      request.body.pipe(outgoing);
    });
  }
}
