/**
 * WebSocket upgrades (DESIGN §3; seeds/003 "tokens only in headers, origin allowlist"):
 * `GET /ws/v1/{agent|client}/{session_id}` with `Authorization: Bearer <agent_key|client_key>`
 * and subprotocol `kubepair.v1`. Everything is checked on the raw HTTP request *before* the
 * WebSocket is accepted, in this order, and refused with a JSON error and an HTTP status:
 *
 *   relay shutting down 503 · address over its refused-upgrade budget 429 · unknown path 404 ·
 *   any query string 400 (a key in a URL is never accepted) · Origin not allowed 403 ·
 *   subprotocol missing 400 · key missing or malformed 401 · unknown session 404 · wrong key
 *   401 (constant-time digest comparison).
 *
 * Refusals of the kinds marked as authentication failures count against the address like API
 * requests do (`--rate-limit` per minute): past the budget the address gets 429 for the rest of
 * the minute, and only the first 429 is audited, so nobody can try keys or fill the audit log at
 * connection speed.
 *
 * A second socket for a role that is connected is accepted and then closed with 4409 by the
 * broker, as DESIGN §3 specifies. Untrusted input: the whole upgrade request.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocketServer } from 'ws';
import { KubepairError } from '../errors/index.js';
import { WS_SUBPROTOCOL } from '../version.js';
import { SESSION_ID_PATTERN, SESSION_KEY_PATTERN, WS_PATH_PREFIX } from '../relay-client/wire.js';
import type { PeerRole } from '../relay-client/wire.js';
import type { AddressLimiter } from './address-limiter.js';
import type { ClientAddressResolver } from './client-address.js';
import { errorAnswer, refuseUpgrade } from './http-errors.js';
import type { OriginPolicy } from './origin-policy.js';
import { parseBearer } from './relay-auth.js';
import type { RelayAudit } from './relay-audit.js';
import { describeError, pathOnly } from './relay-log.js';
import type { RelayMetrics } from './relay-metrics.js';
import { digestSecret, digestsEqual } from './secrets.js';
import type { SessionBroker } from './session-broker.js';
import type { SessionStore } from './session-store.js';

const SOCKET_PATH = new RegExp(`^${WS_PATH_PREFIX}(agent|client)/(${SESSION_ID_PATTERN.slice(1, -1)})$`);
const KEY_FORMAT = new RegExp(SESSION_KEY_PATTERN);

export interface UpgradeHandlerOptions {
  readonly wss: WebSocketServer;
  readonly store: SessionStore;
  readonly broker: SessionBroker;
  readonly origins: OriginPolicy;
  readonly addresses: ClientAddressResolver;
  /** Budget of refused upgrades per address. */
  readonly failures: AddressLimiter;
  readonly audit: RelayAudit;
  readonly metrics: RelayMetrics;
  readonly log: Logger;
  readonly isClosing: () => boolean;
}

/** The offered subprotocols of an upgrade request. */
function offeredProtocols(header: string | undefined): string[] {
  return (header ?? '').split(',').map((protocol) => protocol.trim()).filter((protocol) => protocol !== '');
}

export function createUpgradeHandler(options: UpgradeHandlerOptions): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { wss, store, broker, origins, addresses, failures, audit, metrics, log } = options;

  return (req, socket, head) => {
    // A reset during the checks below must not become an unhandled 'error' event.
    const onEarlyError = (err: Error): void => {
      log.debug({ event: 'upgrade_socket_error', err: describeError(err) }, 'socket error during upgrade');
    };
    socket.on('error', onEarlyError);
    const address = addresses.resolve(req.socket.remoteAddress, req.headers['x-forwarded-for']);
    const refuse = (error: KubepairError, auditFailure: boolean, role?: PeerRole, sessionId?: string): void => {
      if (auditFailure) {
        failures.hit(address);
        metrics.authFailures.labels('upgrade').inc();
        audit.note('auth_failed', { where: 'upgrade', reason: error.code, detail: error.message, address, role, session: sessionId });
      }
      log.info({ event: 'upgrade_refused', code: error.code, address, role, session: sessionId }, error.message);
      refuseUpgrade(socket, errorAnswer(error), error.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="kubepair-relay"' } : {});
    };

    if (options.isClosing()) {
      refuse(new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN'), false);
      return;
    }
    if (failures.limited(address)) {
      metrics.limitHits.labels('auth_failures').inc();
      if (failures.firstRefusal(address)) audit.note('limit_hit', { limit: 'auth_failures', address });
      refuse(new KubepairError('KP_ERR_RELAY_RATE_LIMITED', 'too many refused WebSocket upgrades from this address'), false);
      return;
    }
    const url = req.url ?? '';
    const match = SOCKET_PATH.exec(pathOnly(url));
    if (!match) {
      // The raw path is neither echoed nor logged: it may hold anything a user pasted.
      refuse(new KubepairError('KP_ERR_RELAY_NOT_FOUND', 'no WebSocket endpoint at this path'), false);
      return;
    }
    const role = match[1] as PeerRole;
    const sessionId = match[2] as string;
    if (/[?#]/.test(url)) {
      refuse(new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', 'the relay takes no query parameters; keys go in the Authorization header'), true, role, sessionId);
      return;
    }
    const verdict = origins.check(req.headers.origin);
    if (verdict.kind === 'denied') {
      refuse(new KubepairError('KP_ERR_RELAY_ORIGIN_DENIED', 'this Origin is not in --allow-origin'), true, role, sessionId);
      return;
    }
    if (!offeredProtocols(req.headers['sec-websocket-protocol']).includes(WS_SUBPROTOCOL)) {
      refuse(new KubepairError('KP_ERR_RELAY_INVALID_REQUEST', `the WebSocket subprotocol must be ${WS_SUBPROTOCOL}`), false, role, sessionId);
      return;
    }
    let key: string;
    try {
      key = parseBearer(req.headers.authorization, KEY_FORMAT, `${role}_key`);
    } catch (err) {
      refuse(err as KubepairError, true, role, sessionId);
      return;
    }
    const digest = digestSecret(key);

    store
      .get(sessionId)
      .then((session) => {
        if (session === undefined) {
          refuse(new KubepairError('KP_ERR_RELAY_SESSION_NOT_FOUND'), true, role, sessionId);
          return;
        }
        const expected = role === 'agent' ? session.agentKeyDigest : session.claim?.clientKeyDigest;
        if (expected === undefined || !digestsEqual(expected, digest)) {
          refuse(new KubepairError('KP_ERR_RELAY_UNAUTHORIZED', `the ${role}_key is wrong for this session (or its pairing attempt ended)`), true, role, sessionId);
          return;
        }
        if (options.isClosing()) {
          refuse(new KubepairError('KP_ERR_RELAY_SHUTTING_DOWN'), false, role, sessionId);
          return;
        }
        const tokenName = role === 'agent' ? session.creator.tokenName : (session.claim?.actor.tokenName ?? null);
        wss.handleUpgrade(req, socket, head, (ws) => {
          socket.off('error', onEarlyError);
          broker
            .admit(ws, { role, session, address, tokenName, clientKeyDigest: role === 'client' ? digest : undefined })
            .catch((err: unknown) => {
              log.error({ event: 'relay_error', session: sessionId, err: describeError(err) }, 'cannot admit socket');
              ws.terminate();
            });
        });
      })
      .catch((err: unknown) => {
        log.error({ event: 'relay_error', session: sessionId, err: describeError(err) }, 'upgrade failed');
        refuse(new KubepairError('KP_ERR_INTERNAL', undefined, { cause: err }), false, role, sessionId);
      });
  };
}
