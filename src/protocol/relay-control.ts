/**
 * The relay's text control frames (docs/design.md §3, normative; docs/protocol.md "Control
 * frames"): relay → peer (`peer_connected`, `peer_disconnected`, `peer_suspended`, `peer_resumed`,
 * `expiring`) and agent → relay (`pake_failed`, `established`), as zod schemas with their types,
 * and the one bounded parser both sides use. The relay never forwards them; they are advisory,
 * never part of the channel.
 *
 * Untrusted input: every frame. The relay client parses the relay's frames with these schemas,
 * the relay parses the agent's. Unknown fields and types are refused, and a refusal never
 * echoes the frame.
 */
import * as z from 'zod';
import { RELAY_CONTROL_MESSAGE_MAX_BYTES, RELAY_RESUME_WINDOW_MAX_S } from '../limits.js';
import { RelayTimestampSchema } from './relay-api.js';

const timestamp = RelayTimestampSchema;

/**
 * Relay → peer control messages. After `established` (docs/design.md §8.1): `peer_suspended` when
 * the other side's socket dropped and the relay keeps the session for the resume window (also sent
 * to a socket that resumes while its peer is away), `peer_resumed` when the other side has a socket
 * again (sent to both sides, and after a newer socket replaced an older one). Advisory only.
 */
export const RelayControlMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('peer_connected') }),
  z.strictObject({ type: z.literal('peer_disconnected') }),
  z.strictObject({ type: z.literal('peer_suspended') }),
  z.strictObject({ type: z.literal('peer_resumed') }),
  z.strictObject({ type: z.literal('expiring'), at: timestamp }),
]);
export type RelayControlMessage = z.infer<typeof RelayControlMessageSchema>;

/**
 * Agent → relay control messages. The client sends none. `established` may carry the resume
 * window the agent wants, in whole seconds (absent: 0, the session ends when a socket drops);
 * the relay grants at most its `--max-resume-window` and never past the session's end. The agent
 * may send `established` again later (after it resumed) to restate its window.
 */
export const AgentControlMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('pake_failed') }),
  z.strictObject({ type: z.literal('established'), resume_window_s: z.number().int().min(0).max(RELAY_RESUME_WINDOW_MAX_S).optional() }),
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
