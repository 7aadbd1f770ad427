/**
 * The agent's in-process Kubernetes reverse proxy (proxy mode, DESIGN §6). Each tunnel stream
 * to `kube-apiserver` is one HTTP/1.1 connection from the client's kubectl. For every request:
 *
 *   1. classify it (policy/request-attributes.ts) and decide (policy/policy.ts): a refusal is a
 *      Kubernetes Status 403 that says which rule refused what;
 *   2. refuse everything while the audit log cannot be written (fail closed), unless the
 *      operator chose --audit-fail-open;
 *   3. forward it to the API server with the agent's own credentials (the client's bearer token
 *      and, under --as, its impersonation headers are removed first), streaming both bodies;
 *   4. write one audit record when it ends: attributes, decision, status, bytes both ways, the
 *      SHA-256 of the response body as streamed (watches and logs too), duration.
 *
 * Upgrades (exec, attach, port-forward over WebSocket or SPDY) go through the same policy and
 * audit, then become a raw TLS pipe to the API server. Every request is untrusted input.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { AuditLog } from '../audit/audit-log.js';
import { redactQuery } from '../audit/redact.js';
import type { RequestAuditRecord } from '../audit/record.js';
import { KubepairError } from '../errors/index.js';
import { bridgeStream } from '../mux/stream-bridge.js';
import type { PolicyDecision, RequestAttributes, RequestPolicy } from './policy/index.js';
import { forbiddenResponse, requestAttributes } from './policy/index.js';
import type { UpstreamAuth, UpstreamCluster } from './upstream-cluster.js';

/** Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1), plus the client's credentials. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'authorization']);
/** Headers kept on an upgrade request, which needs them to switch protocols. */
const UPGRADE_KEEP = new Set(['connection', 'upgrade']);

export interface KubeProxyOptions {
  readonly upstream: UpstreamCluster;
  readonly policy: RequestPolicy;
  /** The audit log; undefined only when auditing is explicitly off. */
  readonly audit: AuditLog | undefined;
  /** Forward requests even when audit records cannot be written (`--audit-fail-open`). */
  readonly auditFailOpen?: boolean;
  /** Relay session id and client label for audit records. */
  readonly session: string;
  readonly client: string;
  /** `--as` / `--as-group`: impersonate a narrower identity on every request. */
  readonly impersonate?: { readonly user: string; readonly groups: readonly string[] };
  /** Called after each request with its audit record (logs, counters, tests). */
  readonly onRequest?: (record: RequestAuditRecord) => void;
}

interface Exchange {
  readonly id: string;
  readonly started: number;
  readonly method: string;
  readonly url: string;
  readonly attributes: RequestAttributes;
  readonly decision: PolicyDecision;
  bytesIn: number;
  bytesOut: number;
  status: number;
  readonly hash: ReturnType<typeof createHash>;
}

function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

export class KubeProxy {
  readonly #options: KubeProxyOptions;
  readonly #server: Server;
  readonly #idPrefix = randomBytes(3).toString('hex');
  #counter = 0;
  #agent: { readonly key: string; readonly agent: Agent } | undefined;
  readonly #pending = new Set<Promise<void>>();

  constructor(options: KubeProxyOptions) {
    this.#options = options;
    this.#server = createServer({ headersTimeout: 60_000, requestTimeout: 0 }, (req, res) => this.#onRequest(req, res));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
    this.#server.on('clientError', (_err, socket: Duplex) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Serve one tunnel stream (one kubectl connection). */
  handle(stream: Duplex): void {
    this.#server.emit('connection', bridgeStream(stream));
  }

  /** Wait for outstanding audit writes, then release upstream connections. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    this.#agent?.agent.destroy();
    this.#server.close();
  }

  #begin(req: IncomingMessage): Exchange {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const attributes = requestAttributes(method, url);
    const decision = this.#options.policy.decide(attributes, req.headersDistinct);
    this.#counter += 1;
    return {
      id: `${this.#idPrefix}-${this.#counter}`,
      started: Date.now(),
      method,
      url,
      attributes,
      decision,
      bytesIn: 0,
      bytesOut: 0,
      status: 0,
      hash: createHash('sha256'),
    };
  }

  /** Why requests must be refused now (the audit log is failing and we fail closed), or undefined. */
  #auditBlocked(): string | undefined {
    const audit = this.#options.audit;
    if (audit === undefined || this.#options.auditFailOpen === true) return undefined;
    return audit.lastError === undefined ? undefined : `the agent cannot write its audit log (${audit.lastError.message}); requests are refused until it is fixed`;
  }

  #finish(exchange: Exchange): void {
    const a = exchange.attributes;
    const [path = '/', query] = exchange.url.split(/\?(.*)/s, 2);
    const record: RequestAuditRecord = {
      event: 'request',
      time: new Date(exchange.started).toISOString(),
      session: this.#options.session,
      client: this.#options.client,
      request_id: exchange.id,
      method: exchange.method,
      verb: a.kind === 'resource' ? a.verb : a.kind === 'non-resource' ? a.verb : 'unknown',
      ...(a.kind === 'resource' && {
        group: a.group,
        version: a.version,
        resource: a.resource,
        ...(a.subresource !== '' && { subresource: a.subresource }),
        ...(a.namespace !== '' && { namespace: a.namespace }),
        ...(a.name !== '' && { name: a.name }),
      }),
      path,
      ...(query !== undefined && query !== '' && { query: redactQuery(query) }),
      tier: exchange.decision.tier,
      decision: exchange.decision.decision,
      ...(exchange.decision.rule !== undefined && { rule: exchange.decision.rule }),
      reason: exchange.decision.reason,
      status: exchange.status,
      bytes_in: exchange.bytesIn,
      bytes_out: exchange.bytesOut,
      response_sha256: exchange.hash.digest('hex'),
      duration_ms: Date.now() - exchange.started,
    };
    this.#options.onRequest?.(record);
    const audit = this.#options.audit;
    if (audit !== undefined) {
      // A failed write sets audit.lastError, which refuses later requests (fail closed).
      const write = audit.append(record).catch(() => undefined);
      this.#pending.add(write);
      void write.finally(() => this.#pending.delete(write));
    }
  }

  #upstreamHeaders(headers: IncomingHttpHeaders, auth: UpstreamAuth, upgrade: boolean): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    const impersonate = this.#options.impersonate;
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      if (HOP_BY_HOP.has(name) && !(upgrade && UPGRADE_KEEP.has(name))) continue;
      if (impersonate !== undefined && name.startsWith('impersonate-')) continue;
      out[name] = value;
    }
    out['host'] = this.#options.upstream.port === 443 ? this.#options.upstream.host : `${this.#options.upstream.host}:${this.#options.upstream.port}`;
    Object.assign(out, auth.headers);
    if (impersonate !== undefined) {
      out['impersonate-user'] = impersonate.user;
      if (impersonate.groups.length > 0) out['impersonate-group'] = [...impersonate.groups];
    }
    return out;
  }

  #tlsOptions(auth: UpstreamAuth): { ca?: string; cert?: string; key?: string; servername: string } {
    const upstream = this.#options.upstream;
    return {
      servername: upstream.serverName,
      ...(upstream.caPem !== undefined && { ca: upstream.caPem }),
      ...(auth.certPem !== undefined && { cert: auth.certPem }),
      ...(auth.keyPem !== undefined && { key: auth.keyPem }),
    };
  }

  /** A keep-alive agent for the current client certificate (exec plugins may rotate it). */
  #agentFor(auth: UpstreamAuth): Agent {
    const key = `${auth.certPem ?? ''}\u0000${auth.keyPem ?? ''}`;
    if (this.#agent?.key !== key) {
      this.#agent?.agent.destroy();
      this.#agent = { key, agent: new Agent({ keepAlive: true, maxSockets: 64, ...this.#tlsOptions(auth) }) };
    }
    return this.#agent.agent;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const exchange = this.#begin(req);
    res.on('close', () => this.#finish(exchange));
    const write = res.write.bind(res);
    res.write = ((chunk: Buffer | string, ...rest: unknown[]) => {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      exchange.hash.update(data);
      exchange.bytesOut += data.length;
      return (write as (c: Buffer, ...r: unknown[]) => boolean)(data, ...rest);
    }) as typeof res.write;

    if (exchange.decision.decision === 'deny') {
      const refusal = forbiddenResponse(exchange.decision, exchange.attributes);
      exchange.status = refusal.statusCode;
      res.writeHead(refusal.statusCode, refusal.headers);
      res.end(req.method === 'HEAD' ? undefined : refusal.body);
      req.resume();
      return;
    }
    const blocked = this.#auditBlocked();
    if (blocked !== undefined) {
      this.#respondStatus(res, exchange, 503, 'ServiceUnavailable', `kubepair: ${blocked}`);
      req.resume();
      return;
    }
    this.#options.upstream
      .auth()
      .then((auth) => this.#forward(req, res, exchange, auth))
      .catch((err: unknown) => {
        const message = err instanceof KubepairError ? err.message : 'cannot authenticate to the API server';
        this.#respondStatus(res, exchange, 502, 'BadGateway', `kubepair agent: ${message}`);
      });
  }

  #forward(req: IncomingMessage, res: ServerResponse, exchange: Exchange, auth: UpstreamAuth): void {
    const upstream = this.#options.upstream;
    const outgoing = httpsRequest({
      host: upstream.host,
      port: upstream.port,
      method: exchange.method,
      path: exchange.url,
      headers: this.#upstreamHeaders(req.headers, auth, false),
      agent: this.#agentFor(auth),
    });
    outgoing.on('response', (incoming) => {
      exchange.status = incoming.statusCode ?? 502;
      if (exchange.status === 401) upstream.invalidateAuth();
      const headers: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(incoming.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
      }
      res.writeHead(exchange.status, headers);
      incoming.pipe(res);
      incoming.on('error', () => res.destroy());
    });
    outgoing.on('error', (err: NodeJS.ErrnoException) => {
      if (res.headersSent) res.destroy();
      else this.#respondStatus(res, exchange, 502, 'BadGateway', `kubepair agent: the API server cannot be reached (${err.code ?? err.message})`);
    });
    // The client went away (a watch or logs -f ended): stop the upstream request too.
    res.on('close', () => outgoing.destroy());
    // Count and pipe together: a 'data' listener added earlier would start the body flowing
    // while the credentials were still being fetched, and those bytes would be lost.
    req.on('data', (chunk: Buffer) => (exchange.bytesIn += chunk.length));
    req.pipe(outgoing);
  }

  #respondStatus(res: ServerResponse, exchange: Exchange, code: number, reason: string, message: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    exchange.status = code;
    const body = statusBody(code, reason, message);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const exchange = this.#begin(req);
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      this.#finish(exchange);
    };
    socket.on('close', finish);
    socket.on('error', () => socket.destroy());
    const reply = (code: number, reason: string, headers: Record<string, string>, body: string): void => {
      exchange.status = code;
      const lines = Object.entries({ ...headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' }).map(([k, v]) => `${k}: ${v}`);
      const text = `HTTP/1.1 ${code} ${reason}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
      exchange.hash.update(body);
      exchange.bytesOut += Buffer.byteLength(text);
      socket.end(text);
    };
    if (exchange.decision.decision === 'deny') {
      const refusal = forbiddenResponse(exchange.decision, exchange.attributes);
      reply(refusal.statusCode, 'Forbidden', refusal.headers, refusal.body);
      return;
    }
    const blocked = this.#auditBlocked();
    if (blocked !== undefined) {
      reply(503, 'Service Unavailable', { 'content-type': 'application/json' }, statusBody(503, 'ServiceUnavailable', `kubepair: ${blocked}`));
      return;
    }
    this.#options.upstream
      .auth()
      .then((auth) => {
        const upstream = this.#options.upstream;
        const tls = tlsConnect({ host: upstream.host, port: upstream.port, ALPNProtocols: ['http/1.1'], ...this.#tlsOptions(auth) });
        tls.on('secureConnect', () => {
          const headers = this.#upstreamHeaders(req.headers, auth, true);
          const lines: string[] = [];
          for (const [name, value] of Object.entries(headers)) {
            for (const item of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(item)}`);
          }
          tls.write(`${exchange.method} ${exchange.url} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
          if (head.length > 0) tls.write(head);
          let statusSeen = false;
          tls.on('data', (chunk: Buffer) => {
            if (!statusSeen) {
              statusSeen = true;
              exchange.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString('latin1', 0, 16))?.[1] ?? 0);
            }
            exchange.hash.update(chunk);
            exchange.bytesOut += chunk.length;
          });
          socket.on('data', (chunk: Buffer) => (exchange.bytesIn += chunk.length));
          tls.pipe(socket);
          socket.pipe(tls);
        });
        tls.on('error', (err: NodeJS.ErrnoException) => {
          if (exchange.status === 0) {
            reply(502, 'Bad Gateway', { 'content-type': 'application/json' }, statusBody(502, 'BadGateway', `kubepair agent: the API server cannot be reached (${err.code ?? err.message})`));
          } else socket.destroy();
        });
        tls.on('close', () => socket.destroy());
        socket.on('close', () => tls.destroy());
      })
      .catch((err: unknown) => {
        const message = err instanceof KubepairError ? err.message : 'cannot authenticate to the API server';
        reply(502, 'Bad Gateway', { 'content-type': 'application/json' }, statusBody(502, 'BadGateway', `kubepair agent: ${message}`));
      });
  }
}
