/**
 * CONTROL messages inside the secure channel (docs/design.md §4, normative; docs/protocol.md
 * "Record layer"): one JSON object per CONTROL record, at most CONTROL_MAX_BYTES, with a string
 * `type`. This is the envelope every CONTROL message shares; each type has its own schema, here
 * (`ping`, `bye`) or in a sibling (`session`: session-description.ts). The channel's codec
 * (channel/control-message.ts) checks the envelope; a message is checked against its own
 * schema where it is consumed.
 *
 * Untrusted input: every received CONTROL record (the peer wrote it).
 */
import { z } from 'zod';

/** `type`: lowercase, at most 64 characters, e.g. `session`. */
export const ControlEnvelopeSchema = z.looseObject({
  type: z.string().min(1).max(64).regex(/^[a-z][a-z0-9_.-]*$/),
});

export type ControlMessage = z.infer<typeof ControlEnvelopeSchema>;

/** The `type` of every CONTROL message this version sends. */
export const CONTROL_TYPES = { session: 'session', ping: 'ping', bye: 'bye' } as const;

/**
 * Why the agent ends a session it served, as it tells the client (docs/protocol.md §6 "CONTROL
 * messages"): `sharer_stopped` — the sharer stopped `share` (Ctrl-C, SIGTERM, SIGHUP, close());
 * `lifetime_reached` — the session reached its maximum lifetime.
 */
export const BYE_REASONS = ['sharer_stopped', 'lifetime_reached'] as const;
export type ByeReason = (typeof BYE_REASONS)[number];

/**
 * `bye`: the agent's last CONTROL record before it closes an established session, so the client
 * can say why it ended. It travels inside the channel: the relay can drop it (the client then
 * falls back on what it saw itself) but cannot forge or alter it. A reason this version does not
 * know fails the schema, and the client treats the message as absent.
 */
export const ByeMessageSchema = z.strictObject({
  type: z.literal(CONTROL_TYPES.bye),
  reason: z.enum(BYE_REASONS),
});

export type ByeMessage = z.infer<typeof ByeMessageSchema>;
