/**
 * ADa / ADb, the CPace associated data (docs/design.md §4, normative): UTF-8 JSON of at most 1 KiB,
 * `{"v":1,"role":"agent"|"client","caps":[...]}`. The peer's AD is untrusted: it is decoded
 * strictly (fatal UTF-8, schema with no extra fields, bounded sizes) and its role must be the
 * peer's, which also refuses a HELLO reflected back to its sender.
 */
import * as z from 'zod';
import { KubepairError } from '../errors/index.js';
import { HANDSHAKE_AD_MAX_BYTES, HANDSHAKE_CAP_MAX_CHARS, HANDSHAKE_CAPS_MAX_COUNT } from '../limits.js';

export type ChannelRole = 'agent' | 'client';

/**
 * The capability the channel itself offers: it can resume on a new carrier (docs/design.md §8.1).
 * The handshake adds it to every AD unless told not to, and a channel refuses to resume with a
 * peer whose AD lacks it. AD is bound into ISK, so the relay cannot strip it unnoticed.
 */
export const RESUME_CAPABILITY = 'channel.resume';

/** `caps` with the channel's own capabilities added (once, after the caller's). */
export function withChannelCapabilities(caps: readonly string[], offerResumption: boolean): string[] {
  const all = [...caps];
  if (offerResumption && !all.includes(RESUME_CAPABILITY)) all.push(RESUME_CAPABILITY);
  return all;
}

const capabilitySchema = z
  .string()
  .min(1)
  .max(HANDSHAKE_CAP_MAX_CHARS)
  .regex(/^[a-z0-9][a-z0-9._/-]*$/, 'capabilities are lowercase tokens');

export const associatedDataSchema = z.strictObject({
  v: z.literal(1),
  role: z.enum(['agent', 'client']),
  caps: z.array(capabilitySchema).max(HANDSHAKE_CAPS_MAX_COUNT),
});

export type AssociatedData = z.infer<typeof associatedDataSchema>;

/** Encode this side's AD; refuses anything the peer would refuse. */
export function encodeAssociatedData(role: ChannelRole, caps: readonly string[]): Uint8Array {
  const parsed = associatedDataSchema.safeParse({ v: 1, role, caps: [...caps] });
  if (!parsed.success) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `capabilities: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const bytes = new TextEncoder().encode(JSON.stringify(parsed.data));
  if (bytes.length > HANDSHAKE_AD_MAX_BYTES) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'associated data over 1 KiB');
  return bytes;
}

/** Decode and validate the peer's AD; `expectedRole` is the peer's role. */
export function decodeAssociatedData(bytes: Uint8Array, expectedRole: ChannelRole): AssociatedData {
  if (bytes.length === 0 || bytes.length > HANDSHAKE_AD_MAX_BYTES) {
    throw new KubepairError('KP_ERR_HANDSHAKE_PROTOCOL', `associated data of ${bytes.length} bytes (1..${HANDSHAKE_AD_MAX_BYTES})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new KubepairError('KP_ERR_HANDSHAKE_PROTOCOL', 'associated data is not UTF-8 JSON', { cause: err });
  }
  const parsed = associatedDataSchema.safeParse(json);
  if (!parsed.success) {
    throw new KubepairError('KP_ERR_HANDSHAKE_PROTOCOL', `associated data: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  if (parsed.data.role !== expectedRole) {
    throw new KubepairError('KP_ERR_HANDSHAKE_PROTOCOL', `associated data claims role "${parsed.data.role}", expected "${expectedRole}"`);
  }
  return parsed.data;
}
