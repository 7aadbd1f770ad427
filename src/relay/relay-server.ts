/**
 * `kubepair relay` as a library (CONVENTIONS "each role exports a config type, a constructor,
 * start(signal) and close()"): wires the session store, authentication, audit log, metrics,
 * the HTTP API and the WebSocket upgrades into one server, and shuts it down in a bounded way.
 *
 * Start-up fails closed with a clear error: bad configuration, unreadable TLS material, a
 * missing or unsafe tokens file, an audit log that cannot be opened, or a busy address all
 * stop the relay before it listens. Shutdown (close(), or the abort signal given to start):
 * stop accepting, answer new requests 503, send `expiring` to every peer, let them go for the
 * grace period, close the rest with 4503, then release every timer, watcher and file. Endpoints
 * this node relays to other nodes wind down alongside (windDownRelayed).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { open, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createSecureContext } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { WebSocketServer } from '../ws-runtime.js';
import { KubepairError, isKubepairError } from '../errors/index.js';
import { PROTOCOL, VERSION, WS_SUBPROTOCOL } from '../version.js';
import { RELAY_STORE_PASSWORD_FILE_MAX_BYTES, RELAY_FAILURE_BUDGET_ADDRESSES, RELAY_FAILURE_BUDGET_WINDOW_MS, RELAY_REFUSAL_AUDIT_ADDRESSES, RELAY_REFUSAL_AUDIT_WINDOW_MS } from '../limits.js';
import { AddressLimiter } from './address-limiter.js';
import { ClientAddressResolver } from './client-address.js';
import { buildRelayApp } from './http-app.js';
import { MemorySessionStore } from './memory-session-store.js';
import { ephemeralRelaySecret, openRelaySecret } from './relay-secret.js';
import { NodeRequestVerifier, loadClusterKey } from './node-auth.js';
import { ClusterLink } from './cluster-link.js';
import { OriginPolicy } from './origin-policy.js';
import { AnonymousAuthenticator, TokenAuthenticator } from './relay-auth.js';
import type { RelayAuthenticator } from './relay-auth.js';
import { RelayAudit } from './relay-audit.js';
import { createRelayLogger, createStdoutLogDestination, describeError } from './relay-log.js';
import { RelayMetrics } from './relay-metrics.js';
import type { ConnectionLeases, RedisLimits } from './redis-limits.js';
import type { RedisStoreLocation } from './redis-session-store.js';
import { RefusalAudit } from './refusal-audit.js';
import { checkRelayConfig, describeStoreUrl, parseTrustedProxies } from './relay-options.js';
import type { RelayConfig, RelayStoreConfig } from './relay-options.js';
import { SessionBroker } from './session-broker.js';
import { LivenessSweep } from './liveness-sweep.js';
import { NodeSweep } from './node-sweep.js';
import { SessionKeys } from './session-keys.js';
import type { SessionPolicy, SessionStore } from './session-store.js';
import { createUpgradeHandler } from './upgrade-handler.js';

/** Where a started relay listens. */
export interface RelayAddress {
  readonly host: string;
  readonly port: number;
  /** Base URL for clients, e.g. `https://127.0.0.1:8443`. */
  readonly url: string;
}

interface Running {
  readonly log: Logger;
  readonly auth: RelayAuthenticator;
  readonly audit: RelayAudit;
  readonly refusals: RefusalAudit;
  readonly store: SessionStore;
  readonly broker: SessionBroker;
  readonly app: FastifyInstance;
  readonly wss: WebSocketServer;
  readonly clusterLink: ClusterLink | undefined;
  /** The limits shared through Redis, and this node's connection lease (--store redis:// only). */
  readonly sharedLimits: RedisLimits | undefined;
  readonly connectionLeases: () => ConnectionLeases | undefined;
  /** This node's sweep of dead nodes' sessions (a cluster node only). */
  readonly nodeSweep: NodeSweep | undefined;
}

export class RelayServer {
  readonly config: RelayConfig;
  #running: Running | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  #resolveStopped!: () => void;
  readonly #stopped: Promise<void>;

  constructor(config: RelayConfig) {
    checkRelayConfig(config);
    this.config = config;
    this.#stopped = new Promise((resolve) => {
      this.#resolveStopped = resolve;
    });
  }

  /** Start listening; resolves with the bound address. `signal` stops the relay when aborted. */
  async start(signal?: AbortSignal): Promise<RelayAddress> {
    if (this.#running !== undefined || this.#closing) throw new KubepairError('KP_ERR_INTERNAL', 'a relay starts once');
    const config = this.config;
    const destination = config.logDestination ?? createStdoutLogDestination();
    const log = createRelayLogger(config.logLevel, destination);
    const cleanup: Array<() => Promise<void>> = [];
    try {
      const tls = config.tls === undefined ? undefined : await loadTls(config.tls.certFile, config.tls.keyFile);
      const auth: RelayAuthenticator =
        config.auth.mode === 'none' ? new AnonymousAuthenticator() : await TokenAuthenticator.open(config.auth.tokensFile, log);
      cleanup.push(() => auth.close());
      const limits = config.limits;
      const audit = await RelayAudit.open({ path: config.auditLogPath, logger: log, backlog: limits.auditBacklog });
      cleanup.push(() => audit.close());
      const refusals = new RefusalAudit({ sink: audit, windowMs: RELAY_REFUSAL_AUDIT_WINDOW_MS, capacity: RELAY_REFUSAL_AUDIT_ADDRESSES });
      cleanup.push(() => Promise.resolve(refusals.close()));
      // Session keys are MACs under this secret, so a restarted relay still verifies them (§8.1).
      const secret = config.stateDir === undefined ? ephemeralRelaySecret() : await openRelaySecret(config.stateDir);
      const keys = new SessionKeys(secret.value);
      // Checked at start-up so that a missing or unsafe key stops the node before it takes sessions.
      const clusterKey = config.cluster === undefined ? undefined : await loadClusterKey(config.cluster.keyFile);
      // The metrics read the store, broker and links at scrape time, which is after they exist.
      const metrics = new RelayMetrics(
        {
          sessionCounts: () => store.counts(),
          // Endpoints this node relays to another node count as this node's open sockets.
          openSockets: () => {
            const own = broker.openSockets();
            const relayed = clusterLink?.openSockets() ?? { agent: 0, client: 0 };
            return { agent: own.agent + relayed.agent, client: own.client + relayed.client };
          },
          queuedBytes: () => broker.queuedBytes() + (clusterLink?.queuedBytes ?? 0),
          clusterLinks: () => ({ out: clusterLink?.linksOut ?? 0, in: broker.linksIn() }),
        },
        { node: config.cluster?.advertise },
      );
      const location = config.store?.kind === 'redis' ? await redisLocation(config.store) : undefined;
      const store = await openSessionStore(location, {
        unpairedTtlMs: limits.unpairedTtlMs,
        establishedLifetimeMs: limits.establishedLifetimeMs,
        claimConnectTimeoutMs: limits.claimConnectTimeoutMs,
        maxPairingAttempts: limits.maxPairingAttempts,
        maxSessions: limits.maxSessions,
        maxSessionsPerToken: limits.maxSessionsPerToken,
        maxSessionsPerAddress: limits.maxSessionsPerAddress,
        nameplateQuarantineMs: limits.nameplateQuarantineMs,
        maxResumeWindowMs: limits.maxResumeWindowMs,
        maxRecreatedWaiting: limits.maxRecreatedWaiting,
      }, log, () => metrics.storeErrors.labels('sessions').inc());
      cleanup.push(() => store.close());
      // With Redis, the per-address and per-session limits hold for every node together (redis-limits.ts).
      const sharedLimits = location === undefined ? undefined : await openSharedLimits(location, log, () => metrics.storeErrors.labels('limits').inc());
      if (sharedLimits !== undefined) cleanup.push(() => sharedLimits.close());
      let connectionLeases: ConnectionLeases | undefined;
      cleanup.push(async () => connectionLeases?.close());
      // One timer pings and watches every socket of this node, its own and those it relays.
      const liveness = new LivenessSweep({ pingIntervalMs: limits.pingIntervalMs, silenceMs: limits.peerSilenceTimeoutMs });
      // Sockets relayed to the node holding their session's other side (docs/design.md §8.2).
      const clusterLink: ClusterLink | undefined =
        config.cluster === undefined || clusterKey === undefined
          ? undefined
          : new ClusterLink({
              nodeId: config.cluster.advertise,
              key: clusterKey,
              maxMessageBytes: limits.maxMessageBytes,
              highWaterBytes: limits.maxBufferedBytes,
              log,
              onQueued: (bytes) => metrics.observeQueued(bytes),
              onPause: () => metrics.backpressurePauses.inc(),
              onRelayed: (direction, bytes) => {
                const tally = metrics.relayTally(direction);
                tally.bytes += bytes;
                tally.frames++;
              },
              liveness,
              onSilent: () => metrics.limitHits.labels('peer_silent').inc(),
            });
      const broker: SessionBroker = new SessionBroker({
        store,
        metrics,
        audit,
        log,
        limits,
        durableKeys: secret.origin !== 'ephemeral',
        nodeId: config.cluster?.advertise,
        reconnects: sharedLimits?.reconnectLimit(limits.maxReconnectsPerMinute),
        liveness,
      });
      if (destination instanceof EventEmitter) destination.on('drop', () => metrics.logLinesDropped.inc());
      const addresses = new ClientAddressResolver(config.trustProxy.length > 0 ? parseTrustedProxies(config.trustProxy) : undefined);
      const origins = new OriginPolicy(config.allowOrigins);
      const isClosing = (): boolean => this.#closing;
      // Unauthenticated failures on every route and upgrade share one per-address budget.
      const nodeFailures = new AddressLimiter(limits.apiRateLimitPerMinute, RELAY_FAILURE_BUDGET_WINDOW_MS, RELAY_FAILURE_BUDGET_ADDRESSES);
      const failures = sharedLimits?.failureBudget(limits.apiRateLimitPerMinute, RELAY_FAILURE_BUDGET_WINDOW_MS, nodeFailures) ?? nodeFailures;
      // A node's share of the per-address connection counts is its lease; its id is its --advertise URL.
      const leaseHolder = config.cluster?.advertise ?? `${hostname()}/${process.pid}/${randomBytes(6).toString('base64url')}`;
      const app = await buildRelayApp({
        limits,
        tls,
        auth,
        store,
        broker,
        keys,
        metrics,
        audit,
        log,
        origins,
        addresses,
        failures,
        refusals,
        rateLimitStore: sharedLimits?.rateLimitStore(),
        sharedConnections:
          sharedLimits === undefined
            ? undefined
            : (table) => {
                connectionLeases = sharedLimits.connectionLeases(leaseHolder, limits.maxConnectionsPerAddress, table, limits.nodeLeaseMs);
                return connectionLeases;
              },
        isClosing,
        notReadyReason: () => {
          if (this.#closing) return 'shutting down';
          if (!auth.healthy) return 'the tokens file is unusable';
          if (!audit.healthy) return 'the audit log cannot be written';
          if (!store.healthy) return 'the session store (Redis) cannot be reached';
          return undefined;
        },
      });
      cleanup.push(() => app.close());
      const wss = new WebSocketServer({
        noServer: true,
        clientTracking: false,
        maxPayload: limits.maxMessageBytes,
        perMessageDeflate: false,
        handleProtocols: (protocols) => (protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
      });
      app.server.on('upgrade', createUpgradeHandler({
        wss, store, broker, keys, origins, addresses, failures, refusals, metrics, log, isClosing,
        cluster:
          clusterLink === undefined || clusterKey === undefined || sharedLimits === undefined
            ? undefined
            : { link: clusterLink, verifier: new NodeRequestVerifier(clusterKey), nodeAlive: (id) => sharedLimits.leaseHeld(id) },
      }));
      // The lease is written before any socket can attach, so no node takes this one for dead meanwhile.
      await connectionLeases?.renew().catch(() => undefined);
      // The sessions of nodes whose lease ended (docs/design.md §8.2 "Dead nodes"): swept by every live node.
      const nodeSweep =
        config.cluster === undefined || sharedLimits === undefined
          ? undefined
          : new NodeSweep({
              nodeId: config.cluster.advertise,
              store,
              leaseMs: limits.nodeLeaseMs,
              log,
              metrics,
              onEnded: (id, reason) => broker.recordSweptEnd(id, reason),
            });
      if (nodeSweep !== undefined) cleanup.push(() => nodeSweep.stop());
      try {
        await app.listen({ host: config.listen.host, port: config.listen.port });
      } catch (err) {
        throw new KubepairError('KP_ERR_RELAY_LISTEN', `${config.listen.host}:${config.listen.port}: ${describeError(err).message}`, { cause: err });
      }
      this.#running = { log, auth, audit, refusals, store, broker, app, wss, clusterLink, sharedLimits, connectionLeases: () => connectionLeases, nodeSweep };
      const address = this.address();
      await audit.record('relay_started', {
        version: VERSION,
        protocol: PROTOCOL,
        url: address.url,
        auth: auth.mode,
        tls: tls !== undefined,
        trust_proxy: config.trustProxy.join(',') || null,
        allow_origins: config.allowOrigins.join(',') || null,
        state_dir: config.stateDir ?? null,
        session_key_secret: secret.origin,
        max_resume_window_s: Math.floor(limits.maxResumeWindowMs / 1000),
        store: storeName(config.store),
      });
      if (secret.origin === 'created') {
        log.info({ event: 'relay_secret_created', state_dir: config.stateDir }, 'created the relay secret (session keys will survive restarts)');
      } else if (secret.origin === 'ephemeral') {
        log.info({ event: 'relay_secret_ephemeral' }, 'no state directory: established sessions will not survive a restart');
      }
      if (auth.mode === 'none') {
        log.warn({ event: 'auth_disabled' }, 'RELAY AUTHENTICATION IS OFF (--auth none): anyone who can reach this relay can create and pair sessions and read its metrics');
      }
      if (tls === undefined && config.insecureNoTls) {
        log.warn({ event: 'tls_disabled' }, 'serving plaintext HTTP on a non-loopback address (--insecure-no-tls): bearer tokens and session keys cross the network unencrypted');
      }
      const native = nativeMasking();
      if (!native) {
        log.warn({ event: 'bufferutil_missing' }, 'bufferutil is not loaded: ws masks frames in JavaScript and forwarding is several times slower');
      }
      log.info({ event: 'relay_listening', url: address.url, auth: auth.mode, tls: tls !== undefined, native_masking: native, store: storeName(config.store), advertise: config.cluster?.advertise ?? null }, 'relay listening');
      if (signal !== undefined) {
        const stop = (): void => {
          this.close().catch((err: unknown) => log.error({ event: 'shutdown_failed', err: describeError(err) }, 'shutdown failed'));
        };
        if (signal.aborted) stop();
        else signal.addEventListener('abort', stop, { once: true });
      }
      return address;
    } catch (err) {
      // Undo what started, newest first; a failure while undoing is attached, not lost.
      const undoErrors: unknown[] = [];
      for (const undo of cleanup.reverse()) await undo().catch((undoErr: unknown) => undoErrors.push(undoErr));
      this.#running = undefined;
      this.#closing = true;
      this.#resolveStopped();
      if (undoErrors.length > 0) {
        log.error({ event: 'startup_cleanup_failed', errors: undoErrors.map(describeError) }, 'cleanup after a failed start failed');
      }
      throw isKubepairError(err) ? err : new KubepairError('KP_ERR_INTERNAL', 'the relay failed to start', { cause: err });
    }
  }

  /** The bound address (after start). */
  address(): RelayAddress {
    const running = this.#running;
    const bound = running?.app.server.address();
    if (running === undefined || bound === null || bound === undefined || typeof bound === 'string') {
      throw new KubepairError('KP_ERR_INTERNAL', 'the relay is not listening');
    }
    const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
    return { host: bound.address, port: bound.port, url: `${this.config.tls ? 'https' : 'http'}://${host}:${bound.port}` };
  }

  /** Resolves once the relay has stopped (after close(), or a failed start). */
  wait(): Promise<void> {
    return this.#stopped;
  }

  /** Re-read the tokens file (SIGHUP). */
  async reloadTokens(): Promise<void> {
    await this.#running?.auth.reload();
  }

  /** Stop: bounded by the shutdown grace plus the close-handshake timeout. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#closing = true;
    const running = this.#running;
    if (running === undefined) {
      this.#resolveStopped();
      return;
    }
    const { log, auth, audit, refusals, store, broker, app, wss } = running;
    const grace = this.config.limits.shutdownGraceMs;
    log.info({ event: 'relay_stopping', grace_ms: grace, open_sockets: broker.openSockets() }, 'relay stopping');
    const errors: unknown[] = [];
    const step = async (what: string, action: () => Promise<void>): Promise<void> => {
      try {
        await action();
      } catch (err) {
        errors.push(err);
        log.error({ event: 'shutdown_step_failed', step: what, err: describeError(err) }, `shutdown: ${what} failed`);
      }
    };
    // Stop listening (in-flight requests finish; idle keep-alives close) while peers wind down.
    const appClosed = app.close();
    const shutting = new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN');
    const shutdownCode = shutting.closeCode ?? 4503;
    await step('peers', async () => {
      await Promise.all([broker.shutdown(grace), windDownRelayed(running, grace, shutdownCode, shutting.message)]);
    });
    running.clusterLink?.close(shutdownCode, shutting.message);
    await step('http', () => appClosed);
    await step('websockets', () => new Promise<void>((resolve, reject) => wss.close((err) => (err ? reject(err) : resolve()))));
    // A shared store that cannot be reached cannot say how many sessions there are; the shutdown goes on.
    const counts = await store.counts().catch((err: unknown) => {
      log.warn({ event: 'shutdown_counts_unknown', err: describeError(err) }, 'cannot count the sessions at shutdown');
      return undefined;
    });
    await step('node sweep', async () => running.nodeSweep?.stop());
    // The lease is given up, so the other nodes stop counting this node's connections at once.
    await step('connection lease', async () => running.connectionLeases()?.close());
    await step('shared limits', async () => running.sharedLimits?.close());
    await step('store', () => store.close());
    await step('tokens', () => auth.close());
    await step('audit', async () => {
      refusals.close();
      // Established sessions with a resume window live on in their keys when the secret is kept.
      if (counts === undefined) {
        await audit.record('relay_stopped', { sessions_dropped: null, sessions_resumable: null });
      } else {
        const resumable = this.config.stateDir === undefined ? 0 : counts.resumable;
        await audit.record('relay_stopped', { sessions_dropped: counts.waiting + counts.claimed + counts.established - resumable, sessions_resumable: resumable });
      }
      await audit.close();
    });
    log.info({ event: 'relay_stopped' }, 'relay stopped');
    this.#resolveStopped();
    if (errors.length > 0) throw new KubepairError('KP_ERR_INTERNAL', 'the relay did not shut down cleanly', { cause: new AggregateError(errors) });
  }
}

/**
 * The sockets this node relays to other nodes wind down with its own (docs/design.md §8.2): told
 * at once what a local socket is told, or let go at once when their session survives (cluster-link.ts
 * windDown); the rest may stay for the grace, like local ones, and are closed after it.
 */
async function windDownRelayed(running: Running, graceMs: number, code: number, reason: string): Promise<void> {
  const link = running.clusterLink;
  if (link === undefined) return;
  const deadline = Date.now() + graceMs;
  await link.windDown((id) => running.broker.survivesRestart(id), { type: 'expiring', at: new Date(deadline).toISOString() }, code, reason);
  await link.drained(Math.max(0, deadline - Date.now()));
}

/** The store as it may be logged: `memory`, or the Redis URL without credentials. */
function storeName(store: RelayStoreConfig | undefined): string {
  return store?.kind === 'redis' ? describeStoreUrl(store.url) : 'memory';
}

/**
 * The session store the configuration names (docs/design.md §8.2). A Redis that cannot be reached,
 * or a password file that cannot be read, stops the start.
 */
async function openSessionStore(location: RedisStoreLocation | undefined, policy: SessionPolicy, log: Logger, onError: () => void): Promise<SessionStore> {
  if (location === undefined) return new MemorySessionStore(policy);
  const { RedisSessionStore } = await import('./redis-session-store.js');
  const opened = await RedisSessionStore.open({ ...location, policy, log, onError });
  log.info({ event: 'store_connected', store: describeStoreUrl(location.url), key_prefix: location.keyPrefix }, 'session store: Redis');
  return opened;
}

/** Where Redis is, with the password from --store-password-file when there is one. */
async function redisLocation(store: Extract<RelayStoreConfig, { kind: 'redis' }>): Promise<RedisStoreLocation> {
  const password = store.passwordFile === undefined ? undefined : await readStorePassword(store.passwordFile);
  return { url: store.url, password, keyPrefix: store.keyPrefix };
}

/** The limits every node shares through Redis (redis-limits.ts); a Redis that cannot be reached stops the start. */
async function openSharedLimits(location: RedisStoreLocation, log: Logger, onError: () => void): Promise<RedisLimits> {
  const { RedisLimits } = await import('./redis-limits.js');
  return RedisLimits.open({ ...location, log, onError });
}

/** The Redis password from --store-password-file: the file's content without a final newline. */
async function readStorePassword(path: string): Promise<string> {
  let text: string;
  try {
    const file = await open(path, 'r');
    try {
      const { size } = await file.stat();
      if (size > RELAY_STORE_PASSWORD_FILE_MAX_BYTES) throw new KubepairError('KP_ERR_RELAY_CONFIG', `--store-password-file ${path} is larger than ${RELAY_STORE_PASSWORD_FILE_MAX_BYTES} bytes`);
      text = (await file.readFile({ encoding: 'utf8' })).replace(/\r?\n$/, '');
    } finally {
      await file.close();
    }
  } catch (err) {
    if (isKubepairError(err)) throw err;
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `cannot read --store-password-file ${path}`, { cause: err });
  }
  if (text === '') throw new KubepairError('KP_ERR_RELAY_CONFIG', `--store-password-file ${path} is empty`);
  return text;
}

/** True when ws will (un)mask frames with bufferutil's native code rather than in JavaScript. */
function nativeMasking(): boolean {
  try {
    const util = createRequire(import.meta.url)('bufferutil') as { mask?: unknown };
    return typeof util.mask === 'function' && Function.prototype.toString.call(util.mask).includes('[native code]');
  } catch {
    return false; // not installed or not loadable: ws falls back to JavaScript masking
  }
}

/** Read and check the TLS certificate and key (a bad pair fails start-up, not the first client). */
async function loadTls(certFile: string, keyFile: string): Promise<{ cert: Buffer; key: Buffer }> {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = await readFile(certFile);
  } catch (err) {
    throw new KubepairError('KP_ERR_RELAY_TLS', `cannot read --tls-cert ${certFile}`, { cause: err });
  }
  try {
    key = await readFile(keyFile);
  } catch (err) {
    throw new KubepairError('KP_ERR_RELAY_TLS', `cannot read --tls-key ${keyFile}`, { cause: err });
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new KubepairError('KP_ERR_RELAY_TLS', `${certFile} and ${keyFile} are not a matching PEM certificate and key (${describeError(err).message})`, { cause: err });
  }
  return { cert, key };
}
