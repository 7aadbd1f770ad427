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
 *      SHA-256 of the response body as streamed (watches and logs too; the agent's own answers
 *      — refusals and errors — included), duration.
 *
 * Upgrades (exec, attach, port-forward over WebSocket or SPDY) go through the same policy and
 * audit, then become a raw TLS pipe to the API server; their "body" is everything after the
 * response head, both directions counted. Every request is untrusted input, and so is the
 * API server's response head on an upgrade (bounded by UPGRADE_RESPONSE_HEAD_MAX_BYTES).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { STATUS_CODES, createServer } from 'node:http';
import type { Server } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { AuditLog } from '../audit/audit-log.js';
import { redactQuery } from '../audit/redact.js';
import type { RequestAuditRecord } from '../audit/record.js';
import { KubepairError } from '../errors/index.js';
import { UPGRADE_CLIENT_CLOSE_GRACE_MS, UPGRADE_RESPONSE_HEAD_MAX_BYTES } from '../limits.js';
import { bridgeStream } from '../mux/stream-bridge.js';
import type { PolicyDecision, RequestAttributes, RequestPolicy } from './policy/index.js';
import { forbiddenResponse, requestAttributes } from './policy/index.js';
import type { UpstreamAuth, UpstreamCluster } from './upstream-cluster.js';

/** Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1), plus the client's credentials. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'authorization']);
/** Headers kept on an upgrade request, which needs them to switch protocols. */
const UPGRADE_KEEP = new Set(['connection', 'upgrade']);
/**
 * The answer while the audit log cannot be written (the sharer sees the cause, the client does
 * not see the agent's paths). Like kube-apiserver when its audit backend refuses an event: a
 * 500 with a text/plain body. client-go puts a text body of a 5xx into its error message on
 * every code path (discovery included), whereas it drops a Status's message on discovery
 * requests and prints a fixed text for a 503.
 */
const AUDIT_BLOCKED_STATUS = 500;
const AUDIT_BLOCKED_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };
const AUDIT_BLOCKED_MESSAGE = 'kubepair: the agent cannot write its audit log, so it refuses every request until the sharer fixes it (fail closed)';
const HEAD_END = Buffer.from('\r\n\r\n');

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

  /**
   * True while requests must be refused because the last audit write failed (fail closed). The
   * refusal's own record is another write attempt: once one succeeds, requests pass again.
   */
  #auditBlocked(): boolean {
    const audit = this.#options.audit;
    if (audit === undefined || this.#options.auditFailOpen === true) return false;
    return audit.lastError !== undefined;
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
    if (exchange.decision.decision === 'deny') {
      const refusal = forbiddenResponse(exchange.decision, exchange.attributes);
      this.#answer(req, res, exchange, refusal.statusCode, refusal.headers, refusal.body);
      return;
    }
    if (this.#auditBlocked()) {
      this.#answer(req, res, exchange, AUDIT_BLOCKED_STATUS, AUDIT_BLOCKED_HEADERS, AUDIT_BLOCKED_MESSAGE);
      return;
    }
    this.#options.upstream
      .auth()
      .then((auth) => this.#forward(req, res, exchange, auth))
      .catch((err: unknown) => {
        const message = err instanceof KubepairError ? err.message : 'cannot authenticate to the API server';
        this.#answerStatus(req, res, exchange, 502, 'BadGateway', `kubepair agent: ${message}`);
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
      // Hash and count exactly what is passed on to the client, chunk by chunk.
      incoming.on('data', (chunk: Buffer) => {
        exchange.hash.update(chunk);
        exchange.bytesOut += chunk.length;
      });
      incoming.pipe(res);
      incoming.on('error', () => res.destroy());
    });
    outgoing.on('error', (err: NodeJS.ErrnoException) => {
      if (res.headersSent) res.destroy();
      else this.#answerStatus(req, res, exchange, 502, 'BadGateway', `kubepair agent: the API server cannot be reached (${err.code ?? err.message})`);
    });
    // The client went away (a watch or logs -f ended): stop the upstream request too.
    res.on('close', () => outgoing.destroy());
    // Count and pipe together: a 'data' listener added earlier would start the body flowing
    // while the credentials were still being fetched, and those bytes would be lost.
    req.on('data', (chunk: Buffer) => (exchange.bytesIn += chunk.length));
    req.pipe(outgoing);
  }

  /**
   * Answer a request from the agent itself (a refusal, an error): the body is hashed and counted
   * like a forwarded one, HEAD gets no body, and the request body is drained unread.
   */
  #answer(req: IncomingMessage, res: ServerResponse, exchange: Exchange, code: number, headers: Readonly<Record<string, string>>, body: string): void {
    req.resume();
    if (res.headersSent) {
      res.destroy();
      return;
    }
    exchange.status = code;
    res.writeHead(code, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const bytes = Buffer.from(body, 'utf8');
    exchange.hash.update(bytes);
    exchange.bytesOut += bytes.length;
    res.end(bytes);
  }

  #answerStatus(req: IncomingMessage, res: ServerResponse, exchange: Exchange, code: number, reason: string, message: string): void {
    const body = statusBody(code, reason, message);
    this.#answer(req, res, exchange, code, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }, body);
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const exchange = this.#begin(req);
    exchange.bytesIn += head.length;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      this.#finish(exchange);
    };
    socket.on('close', finish);
    socket.on('error', () => socket.destroy());
    const countOut = (chunk: Buffer): void => {
      exchange.hash.update(chunk);
      exchange.bytesOut += chunk.length;
    };
    /**
     * Answer without upgrading. The record is written once the answer is out (a client that
     * keeps its side open must not hold it back); anything more the client sends is discarded.
     */
    let replied = false;
    const reply = (code: number, headers: Readonly<Record<string, string>>, body: string): void => {
      if (replied || socket.destroyed) return;
      replied = true;
      exchange.status = code;
      const bytes = req.method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(body, 'utf8');
      const fields = { ...headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
      const lines = Object.entries(fields).map(([name, value]) => `${name}: ${value}`);
      countOut(bytes);
      socket.resume();
      const statusLine = `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Error'}`;
      socket.end(Buffer.concat([Buffer.from(`${statusLine}\r\n${lines.join('\r\n')}\r\n\r\n`, 'latin1'), bytes]), finish);
    };
    const replyStatus = (code: number, reason: string, message: string): void => {
      reply(code, { 'content-type': 'application/json' }, statusBody(code, reason, message));
    };
    if (exchange.decision.decision === 'deny') {
      const refusal = forbiddenResponse(exchange.decision, exchange.attributes);
      reply(refusal.statusCode, refusal.headers, refusal.body);
      return;
    }
    if (this.#auditBlocked()) {
      reply(AUDIT_BLOCKED_STATUS, AUDIT_BLOCKED_HEADERS, AUDIT_BLOCKED_MESSAGE);
      return;
    }
    this.#options.upstream
      .auth()
      .then((auth) => {
        if (socket.destroyed) return; // the client left while the credentials were fetched
        const upstream = this.#options.upstream;
        const tls = tlsConnect({ host: upstream.host, port: upstream.port, ALPNProtocols: ['http/1.1'], ...this.#tlsOptions(auth) });
        let upstreamAnswered = false;
        tls.on('secureConnect', () => {
          const headers = this.#upstreamHeaders(req.headers, auth, true);
          const lines: string[] = [];
          for (const [name, value] of Object.entries(headers)) {
            for (const item of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(item)}`);
          }
          tls.write(`${exchange.method} ${exchange.url} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
          if (head.length > 0) tls.write(head);
          // The response head (status line and headers) is not body: hash what follows it.
          let responseHead: Buffer | undefined = Buffer.alloc(0);
          tls.on('data', (chunk: Buffer) => {
            upstreamAnswered = true;
            if (responseHead === undefined) {
              countOut(chunk);
              return;
            }
            const seen = Buffer.concat([responseHead, chunk]);
            const headEnd = seen.indexOf(HEAD_END);
            if (headEnd === -1) {
              responseHead = seen;
              if (seen.length > UPGRADE_RESPONSE_HEAD_MAX_BYTES) {
                exchange.status = 502;
                tls.destroy();
                socket.destroy();
              }
              return;
            }
            responseHead = undefined;
            exchange.status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(seen.toString('latin1', 0, 13))?.[1] ?? 502);
            countOut(seen.subarray(headEnd + HEAD_END.length));
          });
          socket.on('data', (chunk: Buffer) => (exchange.bytesIn += chunk.length));
          tls.pipe(socket);
          socket.pipe(tls);
        });
        tls.on('error', (err: NodeJS.ErrnoException) => {
          if (!upstreamAnswered) replyStatus(502, 'BadGateway', `kubepair agent: the API server cannot be reached (${err.code ?? err.message})`);
          else socket.destroy();
        });
        tls.on('close', () => {
          if (!upstreamAnswered) {
            replyStatus(502, 'BadGateway', 'kubepair agent: the API server closed the connection without answering');
          } else if (!socket.writableEnded) {
            socket.destroy(); // the API server cut the stream short: so is the client's
          } else {
            // A clean end: the pipe ends the client's side once everything is written (cutting
            // it now could lose the last output, the exit status). Drain what the client still
            // sends so its end arrives, and give it a bounded time to close.
            socket.resume();
            const grace = setTimeout(() => socket.destroy(), UPGRADE_CLIENT_CLOSE_GRACE_MS).unref();
            socket.once('close', () => clearTimeout(grace));
          }
        });
        socket.on('close', () => tls.destroy());
      })
      .catch((err: unknown) => {
        const message = err instanceof KubepairError ? err.message : 'cannot authenticate to the API server';
        replyStatus(502, 'BadGateway', `kubepair agent: ${message}`);
      });
  }
}
