/**
 * The answer of the `status` control command (docs/usage.md "kubepair status"), as both `share`
 * and `connect` give it and `kubepair status` reads it: the process, and for each running
 * session its id, peer, mode, policy, bytes each way, start and end. `kubepair status --json`
 * prints exactly this object.
 *
 * Untrusted input, where it is read: the answer (checked against this schema; its text is printed
 * through inertText).
 */
import * as z from 'zod';
import { policyShapeSchema } from '../protocol/policy-shape.js';

const isoTime = z.iso.datetime({ offset: true });
const byteCount = z.number().int().min(0);

export const SessionStatusSchema = z.strictObject({
  /** The relay session id (the audit records carry it). */
  id: z.string().min(1).max(128),
  /** Who is at the other end, as far as this side knows. */
  peer: z.string().max(4096),
  mode: z.enum(['proxy', 'passthrough']),
  policy: policyShapeSchema,
  /** Payload bytes this side received from the peer, and sent to it. */
  bytes_from_peer: byteCount,
  bytes_to_peer: byteCount,
  started_at: isoTime,
  expires_at: isoTime,
  /** The latest end the sharer may set (`share` only): the start plus --max-duration. */
  latest_end: isoTime.optional(),
  /** The link: `live`, or `suspended` / `resuming` while it comes back. */
  link: z.string().max(32),
});

export const ProcessStatusSchema = z.strictObject({
  role: z.enum(['share', 'connect']),
  pid: z.number().int().min(1),
  sessions: z.array(SessionStatusSchema).max(1024),
});

export type SessionStatus = z.infer<typeof SessionStatusSchema>;
export type ProcessStatus = z.infer<typeof ProcessStatusSchema>;

/** The control commands and their names, as `share` and `connect` register them. */
export const CONTROL_COMMANDS = {
  status: 'status',
  sessionEnd: 'session.end',
  sessionPolicy: 'session.policy',
  sessionExpiry: 'session.expiry',
} as const;

/** Which session a command is about: a relay session id or an unambiguous prefix of one (at least 4 characters); optional while only one runs. */
export const SessionSelectorSchema = z.string().min(4).max(128).regex(/^[A-Za-z0-9_-]+$/, 'a session id (or the start of one)').optional();
