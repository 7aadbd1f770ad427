/**
 * CONTROL messages inside the secure channel (docs/design.md §4, normative; docs/protocol.md
 * "Record layer"): one JSON object per CONTROL record, at most CONTROL_MAX_BYTES, with a string
 * `type`. This is the envelope every CONTROL message shares; each type has its own schema in this
 * module's siblings (`session`: session-description.ts). The channel's codec
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
export const CONTROL_TYPES = { session: 'session', ping: 'ping' } as const;
