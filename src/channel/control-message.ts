/**
 * CONTROL records (docs/design.md §4): one JSON object per record, at most 64 KiB, with a string
 * `type`. This module checks only the envelope; each message type (the session description
 * and later ones) has its own schema where it is consumed. Received JSON is untrusted.
 */
import { z } from 'zod';
import { KubepairError } from '../errors/index.js';
import { CONTROL_MAX_BYTES } from '../limits.js';

export const controlEnvelopeSchema = z.looseObject({
  type: z.string().min(1).max(64).regex(/^[a-z][a-z0-9_.-]*$/),
});

export type ControlMessage = z.infer<typeof controlEnvelopeSchema>;

export function encodeControlMessage(message: ControlMessage): Uint8Array {
  const parsed = controlEnvelopeSchema.safeParse(message);
  if (!parsed.success) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'control message without a valid type');
  const bytes = new TextEncoder().encode(JSON.stringify(message));
  if (bytes.length > CONTROL_MAX_BYTES) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `control message of ${bytes.length} bytes (max ${CONTROL_MAX_BYTES})`);
  }
  return bytes;
}

export function decodeControlMessage(body: Uint8Array): ControlMessage {
  if (body.length > CONTROL_MAX_BYTES) {
    throw new KubepairError('KP_ERR_CHANNEL_PROTOCOL', `control record of ${body.length} bytes (max ${CONTROL_MAX_BYTES})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (err) {
    throw new KubepairError('KP_ERR_CHANNEL_PROTOCOL', 'control record is not UTF-8 JSON', { cause: err });
  }
  const parsed = controlEnvelopeSchema.safeParse(json);
  if (!parsed.success) throw new KubepairError('KP_ERR_CHANNEL_PROTOCOL', 'control record without a valid type');
  return parsed.data;
}
