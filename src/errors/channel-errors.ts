/**
 * Error codes of the pairing handshake and the secure channel (docs/design.md §4).
 * WebSocket close codes 4100-4199 are reserved for end-to-end channel failures.
 * Codes are never reused once retired; add new ones at the end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const CHANNEL_ERRORS = {
  KP_ERR_PAIRING_CODE_MALFORMED: { message: 'the pairing code is malformed', exit: 2 },
  KP_ERR_PAIRING_FAILED: {
    message: 'pairing failed: wrong code or the relay tampered with the handshake',
    close: 4102,
    exit: 1,
  },
  KP_ERR_HANDSHAKE_PROTOCOL: { message: 'the peer sent an invalid handshake message', close: 4101, exit: 1 },
  KP_ERR_INVALID_PUBLIC_SHARE: {
    message: 'the peer sent an invalid public share (a low-order or non-canonical point)',
    close: 4101,
    exit: 1,
  },
  KP_ERR_HANDSHAKE_TIMEOUT: { message: 'the pairing handshake timed out', close: 4104, exit: 1 },
  KP_ERR_RECORD_INTEGRITY: {
    message: 'a record failed its integrity check: data was tampered with, replayed, reordered or dropped on the way',
    close: 4103,
    exit: 1,
  },
  KP_ERR_RECORD_TOO_LARGE: { message: 'a record is larger than the message size limit', close: 4113, exit: 1 },
  KP_ERR_CHANNEL_PROTOCOL: { message: 'the peer violated the secure channel protocol', close: 4105, exit: 1 },
  KP_ERR_CHANNEL_CLOSED: { message: 'the secure channel is closed', exit: 1 },
  KP_ERR_TRANSPORT_CLOSED: { message: 'the connection to the peer was closed', exit: 1 },
  KP_ERR_PAIRING_ATTEMPTS_EXHAUSTED: {
    message: 'too many failed pairing attempts: someone may be guessing the code; the code is discarded',
    close: 4102,
    exit: 1,
  },
  KP_ERR_RESUME_PROOF: {
    message: 'the peer could not prove it holds the session keys: the relay forged, altered or reflected a resume message',
    close: 4106,
    exit: 1,
  },
  KP_ERR_RESUME_STALE: { message: 'a resume message of an old generation was replayed', close: 4107, exit: 1 },
  KP_ERR_RESUME_COUNT: {
    message: 'a resume message counts records that were never sent or were already acknowledged',
    close: 4108,
    exit: 1,
  },
  KP_ERR_RESUME_UNSUPPORTED: { message: 'the peer did not offer session resumption', close: 4109, exit: 1 },
  KP_ERR_RESUME_TIMEOUT: { message: 'the peer did not answer the resume in time', exit: 1 },
  KP_ERR_RESUME_WINDOW_EXPIRED: { message: 'the link did not come back within the resume window; the session ended', exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
