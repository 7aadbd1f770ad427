/**
 * The relay API on the wire (docs/design.md §3, normative): paths, identifier formats, JSON bodies
 * and the text control messages. Shared by the relay (which produces them) and the relay client
 * (which consumes them) so both sides agree byte for byte.
 *
 * Untrusted input: everything parsed with these schemas comes from the network. The relay
 * client parses relay answers and control frames with them; the relay parses the agent's
 * control frames with them. Unknown fields are refused (`strict`): a peer speaking outside
 * `kubepair/1` is not guessed at.
 */
import { z } from 'zod';
import { NAMEPLATE_MAX_DIGITS, RELAY_CONTROL_MESSAGE_MAX_BYTES } from '../limits.js';

export const API_SESSIONS_PATH = '/api/v1/sessions';
export const API_PAIR_PATH = '/api/v1/pair';
export const HEALTHZ_PATH = '/healthz';
export const READYZ_PATH = '/readyz';
export const METRICS_PATH = '/metrics';
export const WS_PATH_PREFIX = '/ws/v1/';

/** The two sides of a session; also the path segment of their WebSocket. */
export type PeerRole = 'agent' | 'client';
export const PEER_ROLES: readonly PeerRole[] = ['agent', 'client'];

/** `session_id`: 16 random bytes, base64url without padding (22 characters). */
export const SESSION_ID_PATTERN = '^[A-Za-z0-9_-]{22}$';
/** `agent_key` / `client_key`: 32 random bytes, base64url without padding (43 characters). */
export const SESSION_KEY_PATTERN = '^[A-Za-z0-9_-]{43}$';
/** Nameplate: a decimal number >= 1 without leading zeros. */
export const NAMEPLATE_PATTERN = `^[1-9][0-9]{0,${NAMEPLATE_MAX_DIGITS - 1}}$`;
/** Relay bearer token: `kprt_` and 32 random bytes in base64url, so redaction can spot one. */
export const RELAY_TOKEN_PREFIX = 'kprt_';
export const RELAY_TOKEN_PATTERN = '^kprt_[A-Za-z0-9_-]{43}$';

const sessionId = z.string().regex(new RegExp(SESSION_ID_PATTERN), 'not a session id');
const sessionKey = z.string().regex(new RegExp(SESSION_KEY_PATTERN), 'not a session key');
const nameplate = z.string().regex(new RegExp(NAMEPLATE_PATTERN), 'not a nameplate');
const timestamp = z.iso.datetime({ offset: false });

/** The WebSocket path of one side of a session. */
export function relaySocketPath(role: PeerRole, id: string): string {
  return `${WS_PATH_PREFIX}${role}/${id}`;
}

// --- HTTP bodies ---

/** POST /api/v1/sessions request body. */
export interface CreateSessionRequest {
  readonly protocol: 'kubepair/1';
}
/** POST /api/v1/pair request body. */
export interface PairRequest {
  readonly nameplate: string;
}

/** 201 answer of POST /api/v1/sessions. */
export const CreateSessionResponseSchema = z.strictObject({
  session_id: sessionId,
  nameplate,
  agent_key: sessionKey,
  expires_at: timestamp,
});
export type CreateSessionResponse = z.infer<typeof CreateSessionResponseSchema>;

/** 200 answer of POST /api/v1/pair. */
export const PairResponseSchema = z.strictObject({
  session_id: sessionId,
  client_key: sessionKey,
  expires_at: timestamp,
});
export type PairResponse = z.infer<typeof PairResponseSchema>;

/** Every relay error answer: `{"error":{"code","message"}}`. */
export const RelayErrorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/),
    message: z.string().max(1024),
  }),
});
export type RelayErrorBody = z.infer<typeof RelayErrorBodySchema>;

// --- text control frames (never forwarded) ---

/** Relay → peer control messages. */
export const RelayControlMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('peer_connected') }),
  z.strictObject({ type: z.literal('peer_disconnected') }),
  z.strictObject({ type: z.literal('expiring'), at: timestamp }),
]);
export type RelayControlMessage = z.infer<typeof RelayControlMessageSchema>;

/** Agent → relay control messages. The client sends none. */
export const AgentControlMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('pake_failed') }),
  z.strictObject({ type: z.literal('established') }),
]);
export type AgentControlMessage = z.infer<typeof AgentControlMessageSchema>;

/**
 * Parse one text frame with `schema`: bounded size, JSON, then the schema. Returns the
 * message or a short reason why it was refused (never the frame itself, which is untrusted).
 */
export function parseControlFrame<T>(
  text: string,
  schema: z.ZodType<T>,
): { ok: true; message: T } | { ok: false; reason: string } {
  if (Buffer.byteLength(text, 'utf8') > RELAY_CONTROL_MESSAGE_MAX_BYTES) {
    return { ok: false, reason: `larger than ${RELAY_CONTROL_MESSAGE_MAX_BYTES} bytes` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const type = typeof json === 'object' && json !== null && 'type' in json ? json.type : undefined;
    const name = typeof type === 'string' && /^[a-z_]{1,32}$/.test(type) ? `"${type}"` : 'unknown type';
    return { ok: false, reason: `not a valid control message (${name})` };
  }
  return { ok: true, message: parsed.data };
}
