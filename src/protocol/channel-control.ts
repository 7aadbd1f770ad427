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
import * as z from 'zod';
import { policyShapeSchema } from './policy-shape.js';

/** `type`: lowercase, at most 64 characters, e.g. `session`. */
export const ControlEnvelopeSchema = z.looseObject({
  type: z.string().min(1).max(64).regex(/^[a-z][a-z0-9_.-]*$/),
});

export type ControlMessage = z.infer<typeof ControlEnvelopeSchema>;

/** The `type` of every CONTROL message this version sends. */
export const CONTROL_TYPES = { session: 'session', ping: 'ping', bye: 'bye', sessionUpdate: 'session_update' } as const;

/**
 * Why the agent ends a session it served, as it tells the client (docs/protocol.md §6 "CONTROL
 * messages"): `sharer_stopped` — the sharer stopped `share` (Ctrl-C, SIGTERM, SIGHUP, close());
 * `lifetime_reached` — the session reached its maximum lifetime (or the end the sharer set);
 * `sharer_ended_session` — the sharer ended this one session (`kubepair session end`) and
 * `share` goes on. A client that predates a reason treats the `bye` as absent.
 */
export const BYE_REASONS = ['sharer_stopped', 'lifetime_reached', 'sharer_ended_session'] as const;
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

/**
 * `session_update`: the sharer changed a running session (`kubepair session policy`, `kubepair
 * session extend|shorten`; docs/protocol.md §6 "CONTROL messages"). It restates what the session
 * description said about the two things that can change, as they are now: the policy the agent
 * enforces from now on and when the session ends. The client replaces its view with it and tells
 * the user in one line. It travels inside the channel (the relay can drop it, not forge it); the
 * agent enforces the change whether the client hears of it or not. A client that predates it
 * ignores it (a receiver ignores a `type` it does not know); one that finds it invalid treats
 * it as absent.
 */
export const SessionUpdateMessageSchema = z.strictObject({
  type: z.literal(CONTROL_TYPES.sessionUpdate),
  policy: policyShapeSchema,
  expires_at: z.iso.datetime({ offset: true }),
});

export type SessionUpdateMessage = z.infer<typeof SessionUpdateMessageSchema>;
