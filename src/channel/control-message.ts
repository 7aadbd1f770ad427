/**
 * The codec of CONTROL records (docs/design.md §4): one JSON object per record, at most 64 KiB,
 * whose envelope (a string `type`) is protocol/channel-control.ts. This module checks only the
 * envelope; each message type (the session description and later ones) has its own schema in
 * src/protocol/, checked where it is consumed. Received JSON is untrusted.
 */
import { KubepairError } from '../errors/index.js';
import { CONTROL_MAX_BYTES } from '../limits.js';
import { ControlEnvelopeSchema } from '../protocol/channel-control.js';
import type { ControlMessage } from '../protocol/channel-control.js';

export function encodeControlMessage(message: ControlMessage): Uint8Array {
  const parsed = ControlEnvelopeSchema.safeParse(message);
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
  const parsed = ControlEnvelopeSchema.safeParse(json);
  if (!parsed.success) throw new KubepairError('KP_ERR_CHANNEL_PROTOCOL', 'control record without a valid type');
  return parsed.data;
}
