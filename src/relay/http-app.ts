/**
 * The relay's HTTP API (docs/design.md §3, normative) on Fastify: routes, JSON schemas with
 * `additionalProperties: false`, authentication by scope, per-address rate limit on /api/*,
 * the per-address failure budget on every route, the Origin/CORS policy, and the one error
 * shape `{"error":{"code","message"}}`.
 *
 * | route                          | scope           | answer                                     |
 * | POST /api/v1/sessions          | agent           | 201 session_id, nameplate, agent_key, ...  |
 * | POST /api/v1/pair              | client          | 200 session_id, client_key, expires_at     |
 * | DELETE /api/v1/sessions/{id}   | admin           | 204 (operator ends a session)              |
 * | GET /healthz, GET /readyz      | none            | 200 {"status":"ok"}                        |
 * | GET /metrics                   | metrics, admin  | Prometheus text                            |
 *
 * Connections: at most --max-connections in total and --max-connections-per-ip per TCP peer
 * (connection-gate.ts), and each must bring a complete request head within --head-timeout.
 *
 * Untrusted input: every request. Order of checks on each request: failure budget (an address
 * that used it up gets 429 on every route but the probes) → query string (refused: credentials
 * never travel in URLs) → Origin → shutting down → rate limit → bearer token and scope → body
 * schema → handler. Every 4xx answered to a request that was not authenticated (whatever
 * refused it: query, Origin, token, scope, unknown route) passes one place, the response hook:
 * it spends the address's failure budget and goes to the summed refusal audit, so no flood of
 * such requests costs one audit line each. Nothing from a request is logged except method, the
 * matched route's template (never the raw path or query), status and address.
 *
 * In a relay cluster (`--store redis://`) the rate limit, the failure budget and the per-address
 * connection cap count for all nodes together (redis-limits.ts); a rate limit that Redis cannot
 * answer refuses with 503 KP_ERR_RELAY_STORE_UNAVAILABLE.
 */
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import rateLimit from '@fastify/rate-limit';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import { fastify, LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { Logger } from 'pino';
import { KubepairError } from '../errors/index.js';
import { RELAY_CONNECTION_CHECK_INTERVAL_MS, RELAY_RETRY_AFTER_UNAVAILABLE_MS } from '../limits.js';
import { API_PAIR_PATH, API_SESSIONS_PATH, HEALTHZ_PATH, METRICS_PATH, READYZ_PATH } from '../protocol/relay-api.js';
import type { CreateSessionResponse, EndSessionParams, PairRequest, PairResponse } from '../protocol/relay-api.js';
import type { FailureBudget } from './address-limiter.js';
import type { ClientAddressResolver } from './client-address.js';
import { addressLimitKey } from './client-address.js';
import { ConnectionGate } from './connection-gate.js';
import type { ConnectionGateOptions } from './connection-gate.js';
import { errorAnswer, retryAfterSeconds } from './http-errors.js';
import { OriginPolicy } from './origin-policy.js';
import { ScopeError } from './relay-auth.js';
import type { RelayAuthenticator, RelayPrincipal } from './relay-auth.js';
import type { RelayAudit } from './relay-audit.js';
import { describeError } from './relay-log.js';
import type { AuthFailureWhere, RelayMetrics } from './relay-metrics.js';
import type { RefusalAudit } from './refusal-audit.js';
import type { RelayLimits } from './relay-options.js';
import { relayRouteSchemas } from './route-schemas.js';
import { digestSecret, newSessionId } from './secrets.js';
import type { SessionBroker } from './session-broker.js';
import type { SessionKeys } from './session-keys.js';
import { SessionLimitError, sessionKeyExpiry } from './session-store.js';
import type { SessionStore } from './session-store.js';
import type { TokenScope } from './token-file.js';

/** Idle keep-alive connections are closed after this long. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000; // 5 s

export interface RelayAppOptions {
  readonly limits: RelayLimits;
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  readonly auth: RelayAuthenticator;
  readonly store: SessionStore;
  readonly broker: SessionBroker;
  /**
   * Issues `agent_key` and `client_key` (MACs a restarted relay still verifies,
   * docs/design.md §8.1).
   */
  readonly keys: SessionKeys;
  readonly metrics: RelayMetrics;
  readonly audit: RelayAudit;
  readonly log: Logger;
  readonly origins: OriginPolicy;
  readonly addresses: ClientAddressResolver;
  /** Per-address budget of unauthenticated failures, on every route (upgrades share it). */
  readonly failures: FailureBudget;
  /** Where refusals are audited, summed per address. */
  readonly refusals: RefusalAudit;
  /** Where the `/api/*` rate limit counts (a relay cluster's Redis, redis-limits.ts); default: this process. */
  readonly rateLimitStore?: FastifyRateLimitStoreCtor | undefined;
  /** The cluster-wide connection count per address (relay cluster only). */
  readonly sharedConnections?: ConnectionGateOptions['shared'];
  readonly isClosing: () => boolean;
  /** Why the relay is not ready, or undefined when it is. */
  readonly notReadyReason: () => string | undefined;
}

const iso = (epochMs: number): string => new Date(epochMs).toISOString();

/** The metrics label of an unauthenticated failure, from the code it was refused with. */
function failureKind(code: string): AuthFailureWhere {
  if (code === 'KP_ERR_RELAY_ORIGIN_DENIED') return 'origin';
  if (code === 'KP_ERR_RELAY_UNAUTHORIZED' || code === 'KP_ERR_RELAY_FORBIDDEN') return 'api';
  return 'request';
}

/**
 * What logs and the audit log say about a request's path: the matched route's template
 * (`/api/v1/sessions/:session_id`), never the raw path, which a user may have pasted a token into.
 */
function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? '(unknown path)';
}

export async function buildRelayApp(options: RelayAppOptions): Promise<FastifyInstance> {
  const schemas = relayRouteSchemas();
  const { limits, auth, store, broker, keys, metrics, audit, log, origins, addresses, failures, refusals } = options;
  const principals = new WeakMap<FastifyRequest, RelayPrincipal>();
  /** The error each refused request was answered with (read by the response hook). */
  const refusedWith = new WeakMap<FastifyRequest, KubepairError>();

  // Fastify's own logger type, so route hooks type-check against the default instance type.
  const baseLogger: FastifyBaseLogger = log;
  const app = fastify({
    loggerInstance: baseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    serverFactory: (handler) => {
      // Slots free themselves: a request head (HTTP or WebSocket upgrade) must be complete, and a
      // TLS handshake done, within --head-timeout, checked every second (Node checks every 30 s).
      const timing = {
        connectionsCheckingInterval: Math.min(RELAY_CONNECTION_CHECK_INTERVAL_MS, limits.headTimeoutMs),
        handshakeTimeout: limits.headTimeoutMs,
      };
      const server: Server = options.tls
        ? createHttpsServer({ ...timing, cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' }, handler)
        : createHttpServer(timing, handler);
      server.requestTimeout = limits.requestTimeoutMs;
      server.headersTimeout = limits.headTimeoutMs;
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      server.maxConnections = limits.maxConnections;
      server.on('drop', () => metrics.limitHits.labels('connections').inc());
      // No address takes every slot: a cap per TCP peer (never a header; trusted proxies exempt).
      new ConnectionGate({
        maxPerAddress: limits.maxConnectionsPerAddress,
        isExempt: addresses.isTrustedProxy,
        onRefused: (address) => {
          metrics.limitHits.labels('connections_per_address').inc();
          refusals.limitHit(address, 'connections_per_address');
        },
        shared: options.sharedConnections,
      }).attach(server);
      return server;
    },
    bodyLimit: limits.maxRequestBodyBytes,
    trustProxy: (address: string) => addresses.isTrustedProxy(address),
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    exposeHeadRoutes: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    frameworkErrors: (err, _request, reply) => {
      const answer = errorAnswer(new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', err.code, { cause: err }));
      void (reply as FastifyReply).code(answer.status).send(answer.body);
    },
  });
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err, request, reply) => {
    const answer = errorAnswer(err);
    refusedWith.set(request, answer.error);
    if (answer.status >= 500) {
      log.error({ event: 'api_error', route: routeOf(request), err: describeError(err), cause: describeError(answer.error.cause) }, answer.error.message);
    }
    if (answer.status === 401) void reply.header('www-authenticate', 'Bearer realm="kubepair-relay"');
    // Every 429 and 503 says when to come back (the rate limit and the failure budget set their own).
    if ((answer.status === 429 || answer.status === 503) && !reply.hasHeader('retry-after')) {
      void reply.header('retry-after', retryAfterSeconds(RELAY_RETRY_AFTER_UNAVAILABLE_MS));
    }
    return reply.code(answer.status).send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const answer = errorAnswer(new KubepairError('KP_ERR_RELAY_NOT_FOUND', `no ${request.method} route at this path`));
    refusedWith.set(request, answer.error);
    return reply.code(answer.status).send(answer.body);
  });

  // Global checks, before routing decisions of any kind.
  app.addHook('onRequest', async (request, reply) => {
    // Probes stay answerable (they cannot fail authentication and write nothing).
    const probe = request.url === HEALTHZ_PATH || request.url === READYZ_PATH;
    if (!probe && (await failures.exhausted(request.ip))) {
      metrics.limitHits.labels('auth_failures').inc();
      refusals.limitHit(request.ip, 'auth_failures');
      void reply.header('retry-after', retryAfterSeconds(await failures.retryAfterMs(request.ip)));
      throw new KubepairError('KP_ERR_RELAY_RATE_LIMITED', 'too many refused requests from this address; wait a minute');
    }
    if (/[?#]/.test(request.url)) {
      throw new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', 'the relay takes no query parameters; credentials go in the Authorization header');
    }
    const verdict = origins.check(request.headers.origin);
    if (verdict.kind === 'denied') throw new KubepairError('KP_ERR_RELAY_ORIGIN_DENIED', 'this Origin is not in --allow-origin');
    if (verdict.kind === 'allowed') void reply.headers(OriginPolicy.corsHeaders(verdict.origin));
    if (options.isClosing() && request.url.startsWith('/api/')) throw new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN');
  });
  app.addHook('onResponse', async (request, reply) => {
    const status = reply.statusCode;
    log.info({ event: 'api_request', method: request.method, route: routeOf(request), status, address: request.ip, ms: Math.round(reply.elapsedTime) }, 'api request');
    // Refused before the caller was known: an unauthenticated failure (429s are counted as limit hits).
    if (status >= 400 && status < 500 && status !== 429 && !principals.has(request)) {
      const error = refusedWith.get(request);
      const reason = error?.code ?? `HTTP ${status}`;
      metrics.authFailures.labels(failureKind(reason)).inc();
      refusals.authFailed(request.ip, {
        where: 'api',
        reason,
        route: routeOf(request),
        token_name: error instanceof ScopeError ? error.tokenName : null,
      });
      await failures.spend(request.ip);
    }
  });

  await app.register(rateLimit, {
    global: false,
    max: limits.apiRateLimitPerMinute,
    timeWindow: 60_000,
    hook: 'onRequest',
    keyGenerator: (request) => addressLimitKey(request.ip),
    // A shared store that cannot be reached refuses the request (503, fail closed): never unlimited.
    ...(options.rateLimitStore === undefined ? {} : { store: options.rateLimitStore }),
    errorResponseBuilder: (request, context) => {
      metrics.limitHits.labels('rate_limit').inc();
      refusals.limitHit(request.ip, 'rate_limit', { route: routeOf(request) });
      return new KubepairError('KP_ERR_RELAY_RATE_LIMITED', `${context.max} requests per minute; retry in ${context.after}`);
    },
  });
  const limited = app.rateLimit();

  /** onRequest hook: the bearer token must have one of `scopes` (a refusal is counted by the response hook). */
  function requireScope(...scopes: TokenScope[]): onRequestHookHandler {
    return (request, _reply, done) => {
      try {
        principals.set(request, auth.authenticate(request.headers.authorization, scopes));
        done();
      } catch (err) {
        done(err instanceof KubepairError ? err : new KubepairError('KP_ERR_INTERNAL', undefined, { cause: err }));
      }
    };
  }
  const principalOf = (request: FastifyRequest): RelayPrincipal => {
    const principal = principals.get(request);
    if (principal === undefined) throw new KubepairError('KP_ERR_INTERNAL', 'request reached a handler unauthenticated');
    return principal;
  };

  /** Record a refused session bound and pass the error on. */
  const limitHit = (err: unknown, request: FastifyRequest, tokenName: string | null): unknown => {
    if (err instanceof SessionLimitError) {
      metrics.limitHits.labels(err.limit).inc();
      audit.note('limit_hit', { limit: err.limit, address: request.ip, token_name: tokenName });
    }
    return err;
  };

  app.post(API_SESSIONS_PATH, { schema: schemas.createSession, onRequest: [limited, requireScope('agent')] }, async (request, reply): Promise<CreateSessionResponse> => {
    const { tokenName } = principalOf(request);
    const id = newSessionId();
    const keyExpiresAt = sessionKeyExpiry(Date.now(), limits);
    const agentKey = keys.issue(id, 'agent', keyExpiresAt);
    const creator = { tokenName, address: request.ip };
    const session = await store.create({ id, agentKeyDigest: digestSecret(agentKey), keyExpiresAt, creator }).catch((err: unknown) => {
      throw limitHit(err, request, tokenName);
    });
    try {
      await audit.record('session_created', { session: session.id, nameplate: session.nameplate ?? null, token_name: tokenName, address: request.ip });
    } catch (err) {
      // No unrecorded session: undo it and refuse.
      await store.destroy(session.id);
      throw err;
    }
    metrics.sessionsCreated.inc();
    log.info({ event: 'session_created', session: session.id, nameplate: session.nameplate, token_name: tokenName }, 'session created');
    void reply.code(201);
    return { session_id: session.id, nameplate: session.nameplate ?? '', agent_key: agentKey, expires_at: iso(session.expiresAt) };
  });

  app.post<{ Body: PairRequest }>(API_PAIR_PATH, { schema: schemas.pair, onRequest: [limited, requireScope('client')] }, async (request): Promise<PairResponse> => {
    const { tokenName } = principalOf(request);
    // The key is a MAC over the claimed session's id, so it is made once the store found it.
    let clientKey = '';
    let clientKeyDigest: Uint8Array = new Uint8Array(0);
    const issueClientKey = (claimed: { id: string; keyExpiresAt: number }): Uint8Array => {
      clientKey = keys.issue(claimed.id, 'client', claimed.keyExpiresAt);
      clientKeyDigest = digestSecret(clientKey);
      return clientKeyDigest;
    };
    const session = await store.claim(request.body.nameplate, { clientKeyDigest: issueClientKey, actor: { tokenName, address: request.ip } });
    try {
      await audit.record('session_claimed', { session: session.id, nameplate: request.body.nameplate, token_name: tokenName, address: request.ip, attempts: session.attempts });
    } catch (err) {
      // No unrecorded pairing: void the claim (it counts as an attempt: fail closed) and refuse.
      await store.endAttempt(session.id, clientKeyDigest, 'connect_timeout');
      throw err;
    }
    metrics.pairings.labels('claimed').inc();
    log.info({ event: 'session_claimed', session: session.id, token_name: tokenName }, 'nameplate claimed');
    return { session_id: session.id, client_key: clientKey, expires_at: iso(session.expiresAt) };
  });

  app.delete<{ Params: EndSessionParams }>(
    `${API_SESSIONS_PATH}/:session_id`,
    { schema: schemas.endSession, onRequest: [limited, requireScope('admin')] },
    async (request, reply) => {
      const { tokenName } = principalOf(request);
      if (auth.mode === 'none') throw new KubepairError('KP_ERR_RELAY_FORBIDDEN', 'the admin API is off under --auth none');
      const id = request.params.session_id;
      await audit.record('admin_action', { action: 'end_session', session: id, token_name: tokenName, address: request.ip });
      if (!(await broker.endSession(id))) throw new KubepairError('KP_ERR_RELAY_SESSION_NOT_FOUND');
      return reply.code(204).send();
    },
  );

  app.get(HEALTHZ_PATH, { schema: schemas.probe }, () => ({ status: 'ok' }));
  app.get(READYZ_PATH, { schema: schemas.probe }, () => {
    const reason = options.notReadyReason();
    if (reason !== undefined) throw new KubepairError('KP_ERR_RELAY_NOT_READY', reason);
    return { status: 'ok' };
  });
  app.get(METRICS_PATH, { onRequest: [requireScope('metrics', 'admin')] }, async (_request, reply: FastifyReply) => {
    const text = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(text);
  });
  // CORS preflight: only reached by allowed origins (the global hook refused the others).
  app.options('/*', async (request, reply) => {
    if (request.headers.origin === undefined) throw new KubepairError('KP_ERR_RELAY_NOT_FOUND', 'OPTIONS without Origin');
    return reply.code(204).headers(OriginPolicy.preflightHeaders()).send();
  });

  return app;
}
