/**
 * The relay's HTTP API on the wire (docs/design.md §3, normative; docs/protocol.md "Relay API"):
 * paths, identifier formats, and every JSON body as a zod schema with its TypeScript type. The one
 * definition serves both sides: the relay client parses the relay's answers with these schemas,
 * and the relay's Fastify routes validate requests with JSON Schemas generated from them
 * (relay/route-schemas.ts), so the two can no longer drift apart.
 *
 * Untrusted input: everything parsed with these schemas comes from the network. Unknown fields
 * are refused (`strict`): a peer speaking outside `kubepair/1` is not guessed at.
 */
import * as z from 'zod';
import { NAMEPLATE_MAX_DIGITS } from '../limits.js';
import { PROTOCOL } from '../version.js';

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
/** An instant in UTC as the relay writes it: `2026-01-01T00:00:00.000Z`. */
export const RelayTimestampSchema = z.iso.datetime({ offset: false });
const timestamp = RelayTimestampSchema;

/** The WebSocket path of one side of a session. */
export function relaySocketPath(role: PeerRole, id: string): string {
  return `${WS_PATH_PREFIX}${role}/${id}`;
}

// --- HTTP bodies ---

/** POST /api/v1/sessions request body. */
export const CreateSessionRequestSchema = z.strictObject({ protocol: z.literal(PROTOCOL) });
export type CreateSessionRequest = z.infer<typeof CreateSessionRequestSchema>;

/** POST /api/v1/pair request body. */
export const PairRequestSchema = z.strictObject({ nameplate });
export type PairRequest = z.infer<typeof PairRequestSchema>;

/** The path parameters of DELETE /api/v1/sessions/{session_id}. */
export const EndSessionParamsSchema = z.strictObject({ session_id: sessionId });
export type EndSessionParams = z.infer<typeof EndSessionParamsSchema>;

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

/** 200 answer of GET /healthz and GET /readyz. */
export const ProbeStatusSchema = z.strictObject({ status: z.literal('ok') });
export type ProbeStatus = z.infer<typeof ProbeStatusSchema>;
