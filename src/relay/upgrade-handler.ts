/**
 * WebSocket upgrades (docs/design.md §3; seeds/003 "tokens only in headers, origin allowlist"):
 * `GET /ws/v1/{agent|client}/{session_id}` with `Authorization: Bearer <agent_key|client_key>`
 * and subprotocol `kubepair.v1`. Everything is checked on the raw HTTP request *before* the
 * WebSocket is accepted, in this order, and refused with a JSON error and an HTTP status:
 *
 *   relay shutting down 503 · address over its refused-upgrade budget 429 · unknown path 404 ·
 *   any query string 400 (a key in a URL is never accepted) · Origin not allowed 403 ·
 *   subprotocol missing 400 · key missing or malformed 401 · then the key:
 *
 *   - a session this relay knows: the key's digest must be the stored one for that side
 *     (constant-time comparison), else 401;
 *   - a session it does not know (docs/design.md §8.1 "relay restarts"): the key must be a valid MAC for
 *     this session id and side under the relay secret (session-keys.ts), else 401; an expired
 *     key 401; a session that ended on this process (ended-sessions.ts) 404 with the reason; a
 *     key this very process issued names a session that ended here, 404; otherwise
 *     the session was held by a previous relay process and is recreated, suspended, waiting for
 *     both sides (503 KP_ERR_RELAY_CAPACITY when the bound of recreated sessions is reached,
 *     which is not a failure of the caller and spends nothing).
 *
 * Every refusal but shutting down, the budget's own 429, capacity and an internal error is an
 * unauthenticated failure: it spends the address's failure budget, shared with the HTTP API
 * (`--rate-limit` per minute; past it the address gets 429 for the rest of the minute, even with
 * the right key), and goes to the summed refusal audit (refusal-audit.ts), so nobody can try
 * keys or fill the audit log at connection speed; nothing is allocated for a key that does not
 * verify.
 *
 * After `established`, each side may open --max-reconnects-per-minute new sockets (resumptions
 * and replacements) per minute; past it 429 KP_ERR_RELAY_RATE_LIMITED, summed in the refusal audit.
 * In a relay cluster that budget and the failure budget are counted in Redis for all nodes
 * (redis-limits.ts); a reconnect budget Redis cannot answer refuses with 503 (fail closed).
 *
 * Every 429 and 503 carries `Retry-After` (docs/protocol.md §11.4): a 429 the seconds until its
 * window ends, a 503 RELAY_RETRY_AFTER_UNAVAILABLE_MS; endpoints wait at least that long.
 *
 * Before `established`, a second socket for a role that is connected is accepted and then closed
 * with 4409 by the broker, as docs/design.md §3 specifies; after it, the newer socket replaces the
 * older.
 *
 * In a relay cluster (docs/design.md §8.2), a socket whose other side is connected on another node
 * is relayed there (cluster-link.ts). The record read here can be stale by the time the socket
 * attaches (both sides arriving at once on two nodes), so the broker decides again from the
 * store's atomic attach (session-broker.ts #moveOn) and hands back a socket that must move.
 * Untrusted input: the whole upgrade request.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import { KubepairError, isKubepairError } from '../errors/index.js';
import { RELAY_RETRY_AFTER_UNAVAILABLE_MS } from '../limits.js';
import { WS_SUBPROTOCOL } from '../version.js';
import { SESSION_ID_PATTERN, SESSION_KEY_PATTERN, WS_PATH_PREFIX } from '../protocol/relay-api.js';
import type { PeerRole } from '../protocol/relay-api.js';
import type { FailureBudget } from './address-limiter.js';
import type { ClientAddressResolver } from './client-address.js';
import { errorAnswer, refuseUpgrade, retryAfterSeconds } from './http-errors.js';
import type { OriginPolicy } from './origin-policy.js';
import { parseBearer } from './relay-auth.js';
import { describeError, pathOnly } from './relay-log.js';
import type { RelayMetrics } from './relay-metrics.js';
import type { RefusalAudit } from './refusal-audit.js';
import { digestSecret, digestsEqual } from './secrets.js';
import { endedReasonText } from './ended-sessions.js';
import type { SessionBroker } from './session-broker.js';
import type { SessionKeys } from './session-keys.js';
import { SessionLimitError } from './session-store.js';
import type { SessionRecord, SessionStore } from './session-store.js';
import { nodeOfAttachment } from './attachment-tag.js';
import { SPLICE_PATH_PREFIX, parseSplicePath } from './cluster-link.js';
import type { ClusterLink } from './cluster-link.js';
import type { NodeRequestVerifier } from './node-auth.js';

const SOCKET_PATH = new RegExp(`^${WS_PATH_PREFIX}(agent|client)/(${SESSION_ID_PATTERN.slice(1, -1)})$`);
const KEY_FORMAT = new RegExp(SESSION_KEY_PATTERN);

export interface UpgradeHandlerOptions {
  readonly wss: WebSocketServer;
  readonly store: SessionStore;
  readonly broker: SessionBroker;
  /** Verifies the keys of sessions this process does not know (docs/design.md §8.1). */
  readonly keys: SessionKeys;
  readonly origins: OriginPolicy;
  readonly addresses: ClientAddressResolver;
  /** Per-address budget of unauthenticated failures (shared with the HTTP API). */
  readonly failures: FailureBudget;
  readonly refusals: RefusalAudit;
  readonly metrics: RelayMetrics;
  readonly log: Logger;
  readonly isClosing: () => boolean;
  /** This node's part in a cluster (docs/design.md §8.2): absent on a single node. */
  readonly cluster?:
    | {
        readonly link: ClusterLink;
        readonly verifier: NodeRequestVerifier;
        /** Is node `id` alive (it holds its lease in Redis, redis-limits.ts leaseHeld)? Rejects when Redis cannot say. */
        readonly nodeAlive: (id: string) => Promise<boolean>;
      }
    | undefined;
}

/** The offered subprotocols of an upgrade request. */
function offeredProtocols(header: string | undefined): string[] {
  return (header ?? '').split(',').map((protocol) => protocol.trim()).filter((protocol) => protocol !== '');
}

/** A store that cannot be reached is 503 (endpoints retry); anything else is an internal error. */
function storeTrouble(err: unknown): KubepairError {
  return isKubepairError(err, 'KP_ERR_RELAY_STORE_UNAVAILABLE') ? err : new KubepairError('KP_ERR_INTERNAL', undefined, { cause: err });
}

export function createUpgradeHandler(options: UpgradeHandlerOptions): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { wss, store, broker, keys, origins, addresses, failures, refusals, metrics, log } = options;

  return (req, socket, head) => {
    handle(req, socket, head).catch((err: unknown) => {
      log.error({ event: 'relay_error', err: describeError(err) }, 'upgrade failed');
      const trouble = storeTrouble(err);
      // A store (Redis) that cannot be reached refuses, with when to come back: fail closed.
      refuseUpgrade(socket, errorAnswer(trouble), trouble.code === 'KP_ERR_RELAY_STORE_UNAVAILABLE' ? { 'Retry-After': retryAfterSeconds(RELAY_RETRY_AFTER_UNAVAILABLE_MS) } : {});
    });
  };

  /**
   * A side of a recreated session that has not come back yet has no stored digest: its key must
   * verify under the relay secret and carry the session's key expiry (the store then adopts it).
   */
  function keyProvesRecreated(session: SessionRecord, role: PeerRole, key: string): boolean {
    if (!session.recreated || session.state !== 'established') return false;
    const proof = keys.verify(session.id, role, key);
    return proof.valid && !proof.expired && proof.expiresAt === session.keyExpiresAt;
  }

  async function handle(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // A reset during the checks below must not become an unhandled 'error' event.
    const onEarlyError = (err: Error): void => {
      log.debug({ event: 'upgrade_socket_error', err: describeError(err) }, 'socket error during upgrade');
    };
    socket.on('error', onEarlyError);
    const address = addresses.resolve(req.socket.remoteAddress, req.headers['x-forwarded-for']);
    const answer = (error: KubepairError, role?: PeerRole, sessionId?: string, retryAfterMs?: number): void => {
      log.info({ event: 'upgrade_refused', code: error.code, address, role, session: sessionId }, error.message);
      const headers: Record<string, string> = {};
      if (error.status === 401) headers['WWW-Authenticate'] = 'Bearer realm="kubepair-relay"';
      if (retryAfterMs !== undefined) headers['Retry-After'] = retryAfterSeconds(retryAfterMs);
      refuseUpgrade(socket, errorAnswer(error), headers);
    };
    /** Refuse an upgrade that failed a check: an unauthenticated failure. */
    const refuse = async (error: KubepairError, role?: PeerRole, sessionId?: string): Promise<void> => {
      metrics.authFailures.labels('upgrade').inc();
      refusals.authFailed(address, { where: 'upgrade', reason: error.code, role, session: sessionId });
      answer(error, role, sessionId);
      await failures.spend(address);
    };

    if (options.isClosing()) {
      answer(new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN'), undefined, undefined, RELAY_RETRY_AFTER_UNAVAILABLE_MS);
      return;
    }
    if (await failures.exhausted(address)) {
      metrics.limitHits.labels('auth_failures').inc();
      refusals.limitHit(address, 'auth_failures');
      answer(new KubepairError('KP_ERR_RELAY_RATE_LIMITED', 'too many refused requests from this address; wait a minute'), undefined, undefined, await failures.retryAfterMs(address));
      return;
    }
    const url = req.url ?? '';
    if (options.cluster !== undefined && pathOnly(url).startsWith(SPLICE_PATH_PREFIX)) {
      await spliceFromNode(req, socket, head, url, options.cluster.verifier, refuse, onEarlyError);
      return;
    }
    const match = SOCKET_PATH.exec(pathOnly(url));
    if (!match) {
      // The raw path is neither echoed nor logged: it may hold anything a user pasted.
      await refuse(new KubepairError('KP_ERR_RELAY_NOT_FOUND', 'no WebSocket endpoint at this path'));
      return;
    }
    const role = match[1] as PeerRole;
    const sessionId = match[2] as string;
    if (/[?#]/.test(url)) {
      await refuse(new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', 'the relay takes no query parameters; keys go in the Authorization header'), role, sessionId);
      return;
    }
    const verdict = origins.check(req.headers.origin);
    if (verdict.kind === 'denied') {
      await refuse(new KubepairError('KP_ERR_RELAY_ORIGIN_DENIED', 'this Origin is not in --allow-origin'), role, sessionId);
      return;
    }
    if (!offeredProtocols(req.headers['sec-websocket-protocol']).includes(WS_SUBPROTOCOL)) {
      await refuse(new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', `the WebSocket subprotocol must be ${WS_SUBPROTOCOL}`), role, sessionId);
      return;
    }
    let key: string;
    try {
      key = parseBearer(req.headers.authorization, KEY_FORMAT, `${role}_key`);
    } catch (err) {
      await refuse(err as KubepairError, role, sessionId);
      return;
    }
    const digest = digestSecret(key);

    let session: SessionRecord | undefined;
    try {
      session = await store.get(sessionId);
    } catch (err) {
      log.error({ event: 'relay_error', session: sessionId, err: describeError(err) }, 'upgrade failed');
      const trouble = storeTrouble(err);
      answer(trouble, role, sessionId, trouble.code === 'KP_ERR_RELAY_STORE_UNAVAILABLE' ? RELAY_RETRY_AFTER_UNAVAILABLE_MS : undefined);
      return;
    }
    if (session === undefined) {
      // Not known here: only a key made under the relay secret can prove a session (§8.1).
      const proof = keys.verify(sessionId, role, key);
      if (!proof.valid) {
        await refuse(new KubepairError('KP_ERR_RELAY_UNAUTHORIZED', `the ${role}_key does not prove a session of this relay`), role, sessionId);
        return;
      }
      if (proof.expired) {
        await refuse(new KubepairError('KP_ERR_RELAY_UNAUTHORIZED', `the ${role}_key has expired`), role, sessionId);
        return;
      }
      const ended = broker.endedReason(sessionId);
      if (ended !== undefined) {
        // It ended here (perhaps after being recreated here): say why, and never recreate it again.
        await refuse(new KubepairError('KP_ERR_RELAY_SESSION_NOT_FOUND', endedReasonText(ended)), role, sessionId);
        return;
      }
      // A key this process issued for a session its own store no longer has: the session ended
      // (a memory store forgets nothing else). A shared store may have lost it (Redis restarted
      // empty), and a session ended on another node was announced and is remembered above.
      if ((proof.ownIssue && !store.outlivesProcess) || !broker.resumes) {
        await refuse(new KubepairError('KP_ERR_RELAY_SESSION_NOT_FOUND', 'the session has ended'), role, sessionId);
        return;
      }
      try {
        session = await broker.recreate({ id: sessionId, role, keyExpiresAt: proof.expiresAt, keyDigest: digest, address });
      } catch (err) {
        if (err instanceof SessionLimitError) {
          answer(err, role, sessionId, RELAY_RETRY_AFTER_UNAVAILABLE_MS); // counted and audited by the broker; not the caller's failure
          return;
        }
        throw err;
      }
    }
    const expected = role === 'agent' ? session.agentKeyDigest : session.claim?.clientKeyDigest;
    if (expected === undefined ? !keyProvesRecreated(session, role, key) : !digestsEqual(expected, digest)) {
      await refuse(new KubepairError('KP_ERR_RELAY_UNAUTHORIZED', `the ${role}_key is wrong for this session (or its pairing attempt ended)`), role, sessionId);
      return;
    }
    if (options.isClosing()) {
      answer(new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN'), role, sessionId, RELAY_RETRY_AFTER_UNAVAILABLE_MS);
      return;
    }
    const reconnect = session.state === 'established' ? await broker.spendReconnect(sessionId, role) : undefined;
    if (reconnect?.allowed === false) {
      // Authenticated, so not a failure of the budget: a resumption loop or a leaked key (§8.1).
      metrics.limitHits.labels('reconnects').inc();
      refusals.limitHit(address, 'reconnects', { session: sessionId, role });
      answer(
        new KubepairError('KP_ERR_RELAY_RATE_LIMITED', 'too many new sockets for this side of the session; wait a minute'),
        role,
        sessionId,
        reconnect.retryAfterMs,
      );
      return;
    }
    const admitted = session;
    const tokenName = role === 'agent' ? admitted.creator.tokenName : (admitted.claim?.actor.tokenName ?? null);
    // The other side is on another node: relay this socket there (cluster-link.ts).
    const otherTag = admitted.attachments[role === 'agent' ? 'client' : 'agent'];
    const otherNode = admitted.connected[role === 'agent' ? 'client' : 'agent'] ? nodeOfAttachment(otherTag) : undefined;
    const cluster = options.cluster;
    const splice = { role, sessionId, keyDigest: digest, address, tokenName };
    /**
     * Relay `ws` to `node`, which holds the other side's socket tagged `tag` (cluster-link.ts).
     * A node that never answers took that socket with it: the store must stop saying that side
     * is connected there (its tag, so a newer socket is left alone), or the endpoints would be
     * relayed to the dead node on every reconnection. Suspended, so the session waits for that
     * side's resumption (it reconnects to a live node). A node that refused the connection is
     * gone; one that merely did not answer in time is dead only once its lease in Redis has ended
     * (at most RELAY_CONNECTION_LEASE_MS after its last renewal): a live but slow node keeps its
     * socket, and the endpoint, closed with 1012, tries again. When Redis cannot say, the socket
     * is left too (Redis could not clear it anyway). Before `established` there is nothing to
     * suspend: a pairing client's socket on the dead node is then marked disconnected with its
     * claim's connect deadline running again, unchanged (`detach` with `handOver`, as when a socket
     * moves on, session-store.ts), so the claim is timed out and its attempt counted once
     * (`connect_timeout`) unless a socket of it attaches first, instead of holding the offer until
     * `--session-ttl`. A pairing agent's socket there is left to the sweep (node-sweep.ts), which
     * ends its session once the dead node's lease has ended, as when a pairing agent leaves.
     */
    const relay = (ws: WebSocket, node: string, tag: string): void => {
      if (cluster === undefined) {
        ws.close(1012, 'the other side of the session is on another relay node; reconnect');
        return;
      }
      cluster.link.relay(ws, node, splice, async (silence) => {
        if (silence === 'no_answer' && (await cluster.nodeAlive(node).catch(() => true))) return false;
        const other = role === 'agent' ? 'client' : 'agent';
        const suspended = await store.suspend(sessionId, other, tag);
        if (suspended === undefined && other === 'client' && admitted.state === 'claimed') await store.detach(sessionId, other, tag, true);
        return true;
      });
    };
    // The other side is on another node: relay this socket there at once.
    if (cluster !== undefined && otherNode !== undefined && otherNode !== cluster.link.nodeId) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        socket.off('error', onEarlyError);
        relay(ws, otherNode, otherTag);
      });
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', onEarlyError);
      broker
        .admit(ws, { role, session: admitted, address, tokenName, keyDigest: digest })
        .then((moved) => {
          // The other side attached on another node at the same moment (the record read above
          // predates it): session-broker.ts #moveOn.
          if (moved !== undefined) relay(ws, moved.node, moved.otherTag);
        })
        .catch((err: unknown) => {
          log.error({ event: 'relay_error', session: sessionId, err: describeError(err) }, 'cannot admit socket');
          ws.terminate();
        });
    });
  }

  /**
   * An internal splice link from another node (cluster-link.ts): its proof must verify under the
   * cluster key (node-auth.ts), else 401 like a wrong key (and the failure budget is spent); the
   * session must still exist here; then the link is admitted as the endpoint's socket.
   */
  async function spliceFromNode(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    url: string,
    verifier: NodeRequestVerifier,
    refuse: (error: KubepairError) => Promise<void>,
    onEarlyError: (err: Error) => void,
  ): Promise<void> {
    const verdict = verifier.verify({ method: req.method ?? 'GET', path: url }, req.headers);
    if (!verdict.ok) {
      log.warn({ event: 'splice_link_refused', reason: verdict.reason }, 'refused an internal splice link');
      await refuse(new KubepairError('KP_ERR_RELAY_UNAUTHORIZED', 'not a node of this relay cluster'));
      return;
    }
    const admission = parseSplicePath(url);
    if (admission === undefined) {
      await refuse(new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', 'malformed splice link'));
      return;
    }
    const session = await store.get(admission.sessionId);
    if (session === undefined) {
      refuseUpgrade(socket, errorAnswer(new KubepairError('KP_ERR_RELAY_SESSION_NOT_FOUND', 'the session has ended')));
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', onEarlyError);
      broker
        .admit(ws, { role: admission.role, session, address: admission.address, tokenName: admission.tokenName, keyDigest: admission.keyDigest, viaNode: verdict.nodeId })
        .catch((err: unknown) => {
          log.error({ event: 'relay_error', session: admission.sessionId, err: describeError(err) }, 'cannot admit a splice link');
          ws.terminate();
        });
    });
    log.info({ event: 'splice_accepted', session: admission.sessionId, role: admission.role, node: verdict.nodeId }, 'accepted a splice link from another relay node');
  }
}
