/**
 * Whether an endpoint should open its relay socket again after the current one failed to open or
 * closed (docs/design.md §8.1 "Liveness": reconnect until the window closes), decided from the
 * KubepairError the relay client produced (relay-socket.ts, relay-error-mapping.ts).
 *
 * `retry`: the carrier or the relay is down, restarting, busy or rate limiting (the session may
 * well be alive: the relay keeps it suspended for the resume window, or recreates it from its key
 * after a restart). `stop`: the relay says the session is over or this key can never work
 * (404/4410 ended, 401 key refused, 4001 a newer socket of ours took over, a relay certificate
 * that does not verify...), or the failure is ours. Every relay error code is in exactly one of the two tables (a unit test keeps it so).
 * The relay is untrusted: a lying relay can only make an endpoint stop early or retry until its
 * own window closes, which is denial of service and nothing more; the end-to-end resume proof
 * decides whether whoever answers after a reconnection is the real peer.
 */
import { KubepairError } from '../errors/index.js';
import type { ErrorCode } from '../errors/index.js';
import { isCertificateFailure } from './relay-connection.js';

export type ReconnectVerdict = 'retry' | 'stop';

/** Failures after which the session may still be there: open the socket again (with backoff). */
export const RECONNECT_RETRY_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'KP_ERR_RELAY_UNREACHABLE',
  'KP_ERR_TRANSPORT_CLOSED',
  'KP_ERR_RELAY_SHUTTING_DOWN',
  'KP_ERR_RELAY_CAPACITY',
  'KP_ERR_RELAY_RATE_LIMITED',
  'KP_ERR_RELAY_SESSION_QUOTA',
  'KP_ERR_RELAY_NOT_READY',
  'KP_ERR_RELAY_STORE_UNAVAILABLE',
  'KP_ERR_RELAY_BAD_RESPONSE',
  'KP_ERR_AUDIT_WRITE',
  'KP_ERR_AUDIT_BACKLOG',
  'KP_ERR_INTERNAL',
  'KP_ERR_PROXY_UNREACHABLE',
  'KP_ERR_PROXY_REFUSED',
]);

/** Failures after which no new socket can help: the session is over, or the key or setup is wrong. */
export const RECONNECT_STOP_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'KP_ERR_RELAY_SESSION_ENDED',
  'KP_ERR_RELAY_SESSION_NOT_FOUND',
  'KP_ERR_RELAY_UNAUTHORIZED',
  'KP_ERR_RELAY_FORBIDDEN',
  'KP_ERR_RELAY_ORIGIN_DENIED',
  'KP_ERR_RELAY_NOT_FOUND',
  'KP_ERR_RELAY_INVALID_REQUEST',
  'KP_ERR_RELAY_NAMEPLATE_UNKNOWN',
  'KP_ERR_RELAY_NAMEPLATE_BUSY',
  'KP_ERR_RELAY_ROLE_CONNECTED',
  'KP_ERR_RELAY_PAIRING_ENDED',
  'KP_ERR_RELAY_ATTEMPTS_EXHAUSTED',
  'KP_ERR_RELAY_CONTROL_INVALID',
  'KP_ERR_RELAY_BODY_TOO_LARGE',
  'KP_ERR_RELAY_MESSAGE_TOO_LARGE',
  'KP_ERR_RELAY_SOCKET_REPLACED',
  'KP_ERR_RELAY_CONFIG',
  'KP_ERR_RELAY_CLUSTER_KEY',
  'KP_ERR_RELAY_TLS',
  'KP_ERR_RELAY_LISTEN',
  'KP_ERR_RELAY_TOKENS_FILE',
  'KP_ERR_RELAY_TOKEN_EXISTS',
  'KP_ERR_RELAY_TOKEN_UNKNOWN',
  'KP_ERR_RELAY_URL_INVALID',
  'KP_ERR_RELAY_URL_INSECURE',
  'KP_ERR_RELAY_STATE_DIR',
  'KP_ERR_RELAY_NOT_CONFIGURED',
  'KP_ERR_RELAY_NOT_TLS',
  'KP_ERR_PROXY_INVALID',
  'KP_ERR_ABORTED',
  'KP_ERR_INVALID_ARGUMENT',
]);

/**
 * What to do after a relay socket of an established session failed to open (the rejection of
 * `openRelaySocket`) or closed (the `error` of its `close` event; undefined when we closed it).
 * Anything that is not a KubepairError, or a code in neither table, is a bug here: stop.
 */
export function reconnectVerdict(err: unknown): ReconnectVerdict {
  if (!(err instanceof KubepairError)) return 'stop';
  // Unreachable because the relay's certificate does not verify: a setup error, not an outage.
  if (err.code === 'KP_ERR_RELAY_UNREACHABLE' && isCertificateFailure(err.cause)) return 'stop';
  return RECONNECT_RETRY_CODES.has(err.code) ? 'retry' : 'stop';
}
