/**
 * Error codes of the relay and of the relay client (docs/design.md §3, §7).
 *
 * `status` is the HTTP status of the relay's JSON error answer; `close` the WebSocket close
 * code the relay sends (4400-4499 mirror HTTP statuses, 4503 = shutting down, 4001 = this
 * socket was replaced by a newer one of the same side; the session goes on). The relay
 * puts the code in `{"error":{"code","message"}}`; the relay client maps it back to the same
 * KubepairError. Codes are never reused once retired; add new ones at the end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const RELAY_ERRORS = {
  KP_ERR_RELAY_INVALID_REQUEST: { message: 'the request to the relay is invalid', status: 400, exit: 2 },
  KP_ERR_RELAY_UNAUTHORIZED: { message: 'the relay refused the credentials', status: 401, exit: 2 },
  KP_ERR_RELAY_FORBIDDEN: { message: 'the relay token does not allow this', status: 403, exit: 2 },
  KP_ERR_RELAY_ORIGIN_DENIED: { message: 'the relay does not accept requests from this browser origin', status: 403, exit: 1 },
  KP_ERR_RELAY_NOT_FOUND: { message: 'the relay has no such endpoint', status: 404, exit: 1 },
  KP_ERR_RELAY_NAMEPLATE_UNKNOWN: { message: 'no session with this code', status: 404, exit: 1 },
  KP_ERR_RELAY_SESSION_NOT_FOUND: { message: 'the relay session does not exist or has ended', status: 404, exit: 1 },
  KP_ERR_RELAY_NAMEPLATE_BUSY: {
    message: 'another client is pairing with this nameplate right now; try again in a moment',
    status: 409,
    exit: 1,
  },
  KP_ERR_RELAY_ROLE_CONNECTED: { message: 'this side of the session is already connected to the relay', status: 409, close: 4409, exit: 1 },
  KP_ERR_RELAY_SESSION_ENDED: { message: 'the relay ended the session', close: 4410, exit: 1 },
  KP_ERR_RELAY_PAIRING_ENDED: { message: 'the agent ended this pairing attempt (wrong code?)', close: 4403, exit: 1 },
  KP_ERR_RELAY_ATTEMPTS_EXHAUSTED: {
    message: 'the relay destroyed the session after too many failed pairing attempts',
    close: 4429,
    exit: 1,
  },
  KP_ERR_RELAY_CONTROL_INVALID: { message: 'invalid relay control message', close: 4400, exit: 1 },
  KP_ERR_RELAY_BODY_TOO_LARGE: { message: 'the request body is larger than the relay accepts', status: 413, exit: 1 },
  KP_ERR_RELAY_MESSAGE_TOO_LARGE: { message: 'a WebSocket message was larger than the size limit (close 1009)', exit: 1 },
  KP_ERR_RELAY_RATE_LIMITED: { message: 'too many requests to the relay from this address; slow down', status: 429, exit: 1 },
  KP_ERR_RELAY_SESSION_QUOTA: { message: 'too many live sessions for this token or address', status: 429, exit: 1 },
  KP_ERR_RELAY_CAPACITY: { message: 'the relay has reached its session limit; try again later', status: 503, exit: 1 },
  KP_ERR_RELAY_SHUTTING_DOWN: { message: 'the relay is shutting down', status: 503, close: 4503, exit: 1 },
  KP_ERR_RELAY_CONFIG: { message: 'invalid relay configuration', exit: 2 },
  KP_ERR_RELAY_TLS: { message: 'cannot load the relay TLS certificate or key', exit: 2 },
  KP_ERR_RELAY_LISTEN: { message: 'the relay cannot listen on the address', exit: 1 },
  KP_ERR_RELAY_TOKENS_FILE: { message: 'the relay tokens file cannot be used', exit: 1 },
  KP_ERR_RELAY_TOKEN_EXISTS: { message: 'a relay token with this name already exists', exit: 2 },
  KP_ERR_RELAY_TOKEN_UNKNOWN: { message: 'no relay token has this name', exit: 2 },
  KP_ERR_RELAY_URL_INVALID: { message: 'the relay URL is invalid', exit: 2 },
  KP_ERR_RELAY_URL_INSECURE: {
    message: 'refusing an unencrypted connection to a relay that is not on this machine (use https://, or --insecure if you really mean it)',
    exit: 2,
  },
  KP_ERR_RELAY_UNREACHABLE: { message: 'cannot reach the relay', exit: 1 },
  KP_ERR_RELAY_BAD_RESPONSE: { message: 'the relay sent an invalid response', exit: 1 },
  KP_ERR_RELAY_NOT_READY: { message: 'the relay is not ready', status: 503, exit: 1 },
  KP_ERR_RELAY_SOCKET_REPLACED: {
    message: 'a newer connection for this side of the session replaced this one',
    close: 4001,
    exit: 1,
  },
  KP_ERR_RELAY_STATE_DIR: { message: 'the relay state directory cannot be used', exit: 1 },
  KP_ERR_RELAY_CLUSTER_KEY: { message: 'the relay cluster key file cannot be used', exit: 1 },
  KP_ERR_RELAY_NOT_CONFIGURED: {
    message: 'no relay configured: give its URL with --relay URL, the KUBEPAIR_RELAY environment variable, or once with "kubepair config set relay URL"',
    exit: 2,
  },
  KP_ERR_RELAY_NOT_TLS: { message: 'the relay address answers in plain HTTP, not TLS', exit: 2 },
  KP_ERR_RELAY_STORE_UNAVAILABLE: { message: 'the relay cannot reach its session store (Redis); try again later', status: 503, exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
