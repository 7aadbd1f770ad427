/**
 * How the relay client turns what the relay says into KubepairErrors (docs/design.md §3): JSON
 * error bodies, HTTP statuses of refused upgrades, and WebSocket close codes.
 *
 * The relay is untrusted, so its words are never shown raw: the code must be one the relay is
 * allowed to send, the user reads our registry's message for it, and the relay's own detail is
 * appended only after it is reduced to at most 200 printable ASCII characters.
 */
import { ERRORS, KubepairError } from '../errors/index.js';
import type { ErrorCode } from '../errors/index.js';
import { RELAY_ERRORS } from '../errors/relay-errors.js';
import { RelayErrorBodySchema } from '../protocol/relay-api.js';

/** Codes a relay may put in an error body (its audit log refuses with 503 when it cannot write or its backlog is full). */
const RELAY_SENDABLE = new Set<string>([...Object.keys(RELAY_ERRORS), 'KP_ERR_AUDIT_WRITE', 'KP_ERR_AUDIT_BACKLOG', 'KP_ERR_INTERNAL']);

/** Close codes the relay sends, and what they mean. */
const CLOSE_CODES = new Map<number, ErrorCode>([
  [4001, 'KP_ERR_RELAY_SOCKET_REPLACED'],
  [4400, 'KP_ERR_RELAY_CONTROL_INVALID'],
  [4403, 'KP_ERR_RELAY_PAIRING_ENDED'],
  [4409, 'KP_ERR_RELAY_ROLE_CONNECTED'],
  [4410, 'KP_ERR_RELAY_SESSION_ENDED'],
  [4429, 'KP_ERR_RELAY_ATTEMPTS_EXHAUSTED'],
  [4503, 'KP_ERR_RELAY_SHUTTING_DOWN'],
  [1009, 'KP_ERR_RELAY_MESSAGE_TOO_LARGE'],
]);

/** Reduce untrusted text to printable ASCII, at most `max` characters. */
export function sanitizeRelayText(text: string, max = 200): string {
  const printable = text.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > max ? `${printable.slice(0, max)}...` : printable;
}

/** The relay's detail: its message minus our registry summary, sanitised; undefined when empty. */
function relayDetail(code: ErrorCode, message: string): string | undefined {
  const summary = ERRORS[code].message;
  const rest = message.startsWith(`${summary}: `) ? message.slice(summary.length + 2) : message === summary ? '' : message;
  return rest === '' ? undefined : sanitizeRelayText(rest);
}

/**
 * The error for a non-2xx relay answer with `status` and (possibly invalid) JSON `body`;
 * `retryAfterMs` (its parsed `Retry-After`) is kept on a 429 or 503, the answers it belongs to.
 */
export function errorFromRelayAnswer(status: number, body: unknown, retryAfterMs?: number): KubepairError {
  const retry = (status === 429 || status === 503) && retryAfterMs !== undefined ? { retryAfterMs } : {};
  const parsed = RelayErrorBodySchema.safeParse(body);
  if (parsed.success && RELAY_SENDABLE.has(parsed.data.error.code)) {
    const code = parsed.data.error.code as ErrorCode;
    return new KubepairError(code, relayDetail(code, parsed.data.error.message), retry);
  }
  return new KubepairError('KP_ERR_RELAY_BAD_RESPONSE', `HTTP ${status} without a kubepair error body`, retry);
}

/** The error a close code stands for, or undefined for a normal close (1000). */
export function errorFromCloseCode(code: number, reason: string): KubepairError | undefined {
  if (code === 1000) return undefined;
  const mapped = CLOSE_CODES.get(code);
  if (mapped !== undefined) return new KubepairError(mapped, relayDetail(mapped, reason));
  const detail = reason === '' ? `close code ${code}` : `close code ${code}: ${sanitizeRelayText(reason)}`;
  return new KubepairError('KP_ERR_TRANSPORT_CLOSED', code === 1006 ? 'the connection to the relay was lost' : detail);
}
