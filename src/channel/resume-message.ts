/**
 * RESUME, the message with which an endpoint proves on a new carrier that it holds the
 * session's keys (docs/design.md §8.1, normative where it says MUST; docs/protocol.md §7.3). A
 * binary frame in the handshake family (`0x01 | type | body`), fixed size:
 *
 *   offset size field
 *   0      1    version = 0x01
 *   1      1    type = 0x05 RESUME
 *   2      16   session id
 *   18     1    sender role: 0x01 agent, 0x02 client
 *   19     8    generation: the sender's, strictly increasing over every RESUME it sends
 *   27     8    answers: the peer generation this RESUME answers, 0 for one that opens an exchange
 *   35     8    received: records the sender has received from the peer since the session began
 *   43     8    retained from: the first record the sender still holds for retransmission
 *   51     8    sealed: records the sender has sealed towards the peer
 *   59     32   mac = HMAC-SHA256(resume key, bytes 0..58)
 *   91 in all; integers big-endian, below 2^53.
 *
 * The first 18 bytes are public and fixed for a session, so a record (AES-GCM ciphertext)
 * starts with them only with probability 2^-144: `isResumeFrame` tells the two apart without
 * opening anything. Everything else is untrusted until the MAC verifies (constant time); the
 * role byte, under the MAC, refuses a RESUME reflected back to its sender. No I/O.
 */
import { concatBytes, constantTimeEqual } from '../crypto/bytes.js';
import { RESUME_MAC_BYTES, SESSION_ID_BYTES, resumeMac } from '../crypto/key-schedule.js';
import { decodeCount, encodeCount } from '../crypto/records.js';
import { KubepairError } from '../errors/index.js';
import type { ChannelRole } from './associated-data.js';
import { HANDSHAKE_VERSION } from './handshake-messages.js';

/** Handshake-family message type of RESUME (after HELLO_A..CONFIRM_B, 0x01..0x04). */
export const RESUME_TYPE = 0x05;
/** Bytes before the MAC, and the whole frame. */
export const RESUME_SIGNED_BYTES = 2 + SESSION_ID_BYTES + 1 + 5 * 8;
export const RESUME_FRAME_BYTES = RESUME_SIGNED_BYTES + RESUME_MAC_BYTES;

const ROLE_BYTE: Readonly<Record<ChannelRole, number>> = { agent: 0x01, client: 0x02 };
const PREFIX_BYTES = 2 + SESSION_ID_BYTES;

/** The fields of one RESUME message. */
export interface ResumeMessage {
  /** The sender's role. */
  readonly role: ChannelRole;
  readonly generation: number;
  /** The peer generation answered, or 0 when this RESUME opens an exchange. */
  readonly answers: number;
  readonly received: number;
  readonly retainedFrom: number;
  readonly sealed: number;
}

/** True when `frame` carries the RESUME header for this session (18 public bytes). */
export function isResumeFrame(frame: Uint8Array, sessionId: Uint8Array): boolean {
  if (frame.length !== RESUME_FRAME_BYTES || frame[0] !== HANDSHAKE_VERSION || frame[1] !== RESUME_TYPE) return false;
  for (let i = 0; i < SESSION_ID_BYTES; i++) if (frame[2 + i] !== sessionId[i]) return false;
  return true;
}

/** Encode and MAC one RESUME message. */
export function encodeResume(resumeKey: Uint8Array, sessionId: Uint8Array, message: ResumeMessage): Uint8Array {
  if (sessionId.length !== SESSION_ID_BYTES) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'session id must be 16 bytes');
  if (message.generation < 1) throw new KubepairError('KP_ERR_INTERNAL', 'RESUME generations start at 1');
  const signed = concatBytes(
    Uint8Array.of(HANDSHAKE_VERSION, RESUME_TYPE),
    sessionId,
    Uint8Array.of(ROLE_BYTE[message.role]),
    encodeCount(message.generation),
    encodeCount(message.answers),
    encodeCount(message.received),
    encodeCount(message.retainedFrom),
    encodeCount(message.sealed),
  );
  return concatBytes(signed, resumeMac(resumeKey, signed));
}

/**
 * Verify and decode a frame for which `isResumeFrame` is true, sent by `peerRole`. Throws
 * KP_ERR_RESUME_PROOF when the MAC does not verify (forged or altered: another key, another
 * session, another generation, other counts) or when the frame is this side's own RESUME
 * reflected back, and KP_ERR_RESUME_COUNT for a field of 2^53 or more or a generation of 0.
 */
export function openResume(frame: Uint8Array, resumeKey: Uint8Array, sessionId: Uint8Array, peerRole: ChannelRole): ResumeMessage {
  if (!isResumeFrame(frame, sessionId)) throw new KubepairError('KP_ERR_INTERNAL', 'not a RESUME frame of this session');
  const signed = frame.subarray(0, RESUME_SIGNED_BYTES);
  // The MAC first: nothing else in the frame is believed until it verifies.
  if (!constantTimeEqual(frame.subarray(RESUME_SIGNED_BYTES), resumeMac(resumeKey, signed))) {
    throw new KubepairError('KP_ERR_RESUME_PROOF', 'the RESUME message does not carry a valid MAC');
  }
  const roleByte = frame[PREFIX_BYTES];
  if (roleByte !== ROLE_BYTE[peerRole]) {
    // A valid MAC with this side's own role: the relay sent our RESUME back to us.
    throw new KubepairError('KP_ERR_RESUME_PROOF', 'a RESUME message was reflected back to its sender');
  }
  const field = (index: number): number => {
    const value = decodeCount(frame, PREFIX_BYTES + 1 + 8 * index);
    if (value === undefined) throw new KubepairError('KP_ERR_RESUME_COUNT', 'a RESUME field of 2^53 or more');
    return value;
  };
  const message: ResumeMessage = {
    role: peerRole,
    generation: field(0),
    answers: field(1),
    received: field(2),
    retainedFrom: field(3),
    sealed: field(4),
  };
  if (message.generation === 0) throw new KubepairError('KP_ERR_RESUME_COUNT', 'RESUME generation 0');
  return message;
}
