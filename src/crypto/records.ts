/**
 * The record layer of the secure channel (docs/design.md §4, normative). Each binary frame after
 * the handshake is one AES-256-GCM record under one direction's key:
 *
 *   frame     = AES-256-GCM(key, nonce, aad = 0x01, plaintext) = ciphertext || tag[16]
 *   nonce     = iv XOR the 64-bit big-endian record sequence number (TLS 1.3 style, never sent)
 *   plaintext = inner_type[1] || body; 0x00 MUX, 0x01 CONTROL, 0x02 KEY_UPDATE (empty body),
 *               0x03 ACK (count[8], docs/design.md §8.1)
 *
 * Besides the per-key sequence number, each side counts records across keys: `sealed` is the
 * number of records a sealer has sealed since the session began, `received` the number of
 * record slots an opener has consumed (records opened, plus ACK-only slots it was told to skip
 * when a session resumed, `skip`). Record i of a direction is the (i+1)-th sealed; ACK records
 * carry the receiver's `received` and count like any other record (docs/protocol.md §7.1).
 *
 * Sequence numbers are implicit, so replay, reordering, dropping, truncation and reflection by
 * the relay all surface as a failed open. The sender switches keys with KEY_UPDATE before a key
 * has sealed `keyUpdateLimit` (2^24) records; the last slot under a key is reserved for that
 * KEY_UPDATE, and a receiver refuses anything else there. Any failure is fatal: an opener that
 * failed once refuses every later frame. Frames are untrusted input. No I/O.
 */
import { KubepairError } from '../errors/index.js';
import { RECORD_KEY_UPDATE_LIMIT, RECORD_MAX_FRAME_BYTES } from '../limits.js';
import { AES_GCM_NONCE_BYTES, AES_GCM_TAG_BYTES, aesGcmOpen, aesGcmSealPrefixed } from './aead.js';
import { assertBytes, wipe } from './bytes.js';
import type { TrafficSecret } from './key-schedule.js';
import { TRAFFIC_IV_BYTES, copyTrafficSecret, nextTrafficSecret } from './key-schedule.js';

/** Inner record types (docs/design.md §4). */
export const InnerType = { MUX: 0x00, CONTROL: 0x01, KEY_UPDATE: 0x02, ACK: 0x03 } as const;
export type InnerType = (typeof InnerType)[keyof typeof InnerType];
/** Inner types an application may send; KEY_UPDATE and ACK are sent by the channel itself. */
export type DataInnerType = typeof InnerType.MUX | typeof InnerType.CONTROL;

/** The additional authenticated data of every record. */
export const RECORD_AAD: Uint8Array = Uint8Array.of(0x01);
/** Smallest possible frame: one inner-type byte plus the tag. */
export const RECORD_MIN_FRAME_BYTES = 1 + AES_GCM_TAG_BYTES;
/** An ACK body: the count of records received, 64-bit big-endian. */
export const ACK_BODY_BYTES = 8;
/** Size of every ACK frame: type, count, tag. */
export const ACK_FRAME_BYTES = 1 + ACK_BODY_BYTES + AES_GCM_TAG_BYTES;

/** Encode a record count as 8 bytes, big-endian; counts are safe integers (below 2^53). */
export function encodeCount(count: number): Uint8Array {
  if (!Number.isSafeInteger(count) || count < 0) throw new KubepairError('KP_ERR_INTERNAL', `bad record count ${count}`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(count));
  return out;
}

/** Decode an 8-byte big-endian count; undefined when it is not below 2^53 (no honest peer gets there). */
export function decodeCount(bytes: Uint8Array, offset = 0): number | undefined {
  const value = new DataView(bytes.buffer, bytes.byteOffset + offset, 8).getBigUint64(0);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

export interface RecordLayerOptions {
  /** Records one key may seal, KEY_UPDATE included (default 2^24; at least 2). */
  readonly keyUpdateLimit?: number;
  /** Test hook: sequence number of the first record under the first key (default 0). */
  readonly initialSequence?: number;
  /** Largest frame accepted (default 16 MiB). */
  readonly maxFrameBytes?: number;
}

interface ResolvedOptions {
  readonly keyUpdateLimit: number;
  readonly initialSequence: number;
  readonly maxFrameBytes: number;
}

function resolveOptions(options: RecordLayerOptions): ResolvedOptions {
  const keyUpdateLimit = options.keyUpdateLimit ?? RECORD_KEY_UPDATE_LIMIT;
  const initialSequence = options.initialSequence ?? 0;
  const maxFrameBytes = options.maxFrameBytes ?? RECORD_MAX_FRAME_BYTES;
  if (!Number.isSafeInteger(keyUpdateLimit) || keyUpdateLimit < 2 || keyUpdateLimit > RECORD_KEY_UPDATE_LIMIT) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `keyUpdateLimit must be 2..2^24, got ${keyUpdateLimit}`);
  }
  if (!Number.isSafeInteger(initialSequence) || initialSequence < 0 || initialSequence >= keyUpdateLimit) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `initialSequence must be below keyUpdateLimit`);
  }
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < RECORD_MIN_FRAME_BYTES) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `maxFrameBytes must be at least ${RECORD_MIN_FRAME_BYTES}`);
  }
  return { keyUpdateLimit, initialSequence, maxFrameBytes };
}

/** nonce = iv XOR (64-bit big-endian sequence number, right-aligned in 12 bytes). */
export function recordNonce(iv: Uint8Array, sequence: number): Uint8Array {
  return writeRecordNonce(iv, sequence, new Uint8Array(AES_GCM_NONCE_BYTES));
}

/**
 * `recordNonce` written into `out` (12 bytes), which is returned: the sealer and opener each keep
 * one such buffer and write every record's nonce into it (issue 15: no allocation per record).
 * Safe because node:crypto copies the nonce into the cipher before createCipheriv returns.
 */
export function writeRecordNonce(iv: Uint8Array, sequence: number, out: Uint8Array): Uint8Array {
  assertBytes(iv, TRAFFIC_IV_BYTES, 'iv');
  assertBytes(out, TRAFFIC_IV_BYTES, 'nonce buffer');
  if (!Number.isSafeInteger(sequence) || sequence < 0) throw new RangeError(`bad sequence number ${sequence}`);
  out.set(iv);
  let rest = sequence;
  for (let i = TRAFFIC_IV_BYTES - 1; i >= TRAFFIC_IV_BYTES - 8 && rest > 0; i--) {
    out[i]! ^= rest % 256;
    rest = Math.floor(rest / 256);
  }
  return out;
}

/**
 * The one-byte inner-type prefix of each record type, made once: the cipher only reads them, and
 * they never leave this module.
 */
/** The KEY_UPDATE record's (empty) body. */
const EMPTY_BODY = new Uint8Array(0);

const INNER_TYPE_BYTES: readonly Uint8Array[] = [
  Uint8Array.of(InnerType.MUX),
  Uint8Array.of(InnerType.CONTROL),
  Uint8Array.of(InnerType.KEY_UPDATE),
  Uint8Array.of(InnerType.ACK),
];

/** Seals outgoing records for one direction. */
export class RecordSealer {
  readonly #options: ResolvedOptions;
  #secret: TrafficSecret;
  #sequence: number;
  #sealed = 0;
  #wiped = false;
  /** Scratch for each record's nonce (writeRecordNonce). */
  readonly #nonce = new Uint8Array(AES_GCM_NONCE_BYTES);

  constructor(secret: TrafficSecret, options: RecordLayerOptions = {}) {
    this.#options = resolveOptions(options);
    this.#secret = copyTrafficSecret(secret);
    this.#sequence = this.#options.initialSequence;
  }

  /** Records sealed since the session began, of every type, across key updates. */
  get sealed(): number {
    return this.#sealed;
  }

  /** True when the next record must be the KEY_UPDATE (the key's last slot). */
  get keyUpdateDue(): boolean {
    return this.#sequence >= this.#options.keyUpdateLimit - 1;
  }

  /** Sequence number the next record will use (for tests and metrics). */
  get sequence(): number {
    return this.#sequence;
  }

  /**
   * Seal one MUX or CONTROL record whose body is `body`, or the concatenation of `body`'s parts
   * (sealed part by part, never copied into one buffer first). Callers send `sealKeyUpdate()`
   * first when `keyUpdateDue`.
   */
  seal(type: DataInnerType, body: Uint8Array | readonly Uint8Array[]): Buffer {
    return Buffer.concat(this.sealParts(type, body));
  }

  /**
   * `seal`, the frame left in pieces (the ciphertext parts, then the tag; see aesGcmSealParts):
   * for a sender that copies the frame once anyway, so it is not first copied into one buffer.
   */
  sealParts(type: DataInnerType, body: Uint8Array | readonly Uint8Array[]): Buffer[] {
    this.#assertUsable();
    if (this.keyUpdateDue) throw new KubepairError('KP_ERR_INTERNAL', 'record sealed past the key update limit');
    let length = 0;
    if (body instanceof Uint8Array) length = body.length;
    else for (let i = 0; i < body.length; i++) length += body[i]!.length;
    if (RECORD_MIN_FRAME_BYTES + length > this.#options.maxFrameBytes) {
      throw new KubepairError('KP_ERR_RECORD_TOO_LARGE', `${length} byte body`);
    }
    return this.#sealAt(type, body);
  }

  /** Seal an ACK record carrying `count`. Callers send `sealKeyUpdate()` first when `keyUpdateDue`. */
  sealAck(count: number): Buffer {
    this.#assertUsable();
    if (this.keyUpdateDue) throw new KubepairError('KP_ERR_INTERNAL', 'record sealed past the key update limit');
    return Buffer.concat(this.#sealAt(InnerType.ACK, encodeCount(count)));
  }

  /** Seal the KEY_UPDATE record under the current key, then switch to the next key. */
  sealKeyUpdate(): Buffer {
    this.#assertUsable();
    const frame = Buffer.concat(this.#sealAt(InnerType.KEY_UPDATE, EMPTY_BODY));
    const next = nextTrafficSecret(this.#secret);
    wipe(this.#secret.key, this.#secret.iv);
    this.#secret = next;
    this.#sequence = 0;
    return frame;
  }

  /** Overwrite the key material; the sealer cannot be used afterwards. */
  wipe(): void {
    wipe(this.#secret.key, this.#secret.iv, this.#nonce);
    this.#wiped = true;
  }

  /** Seal one record at the current sequence number, left in pieces (aesGcmSealParts). */
  #sealAt(type: InnerType, body: Uint8Array | readonly Uint8Array[]): Buffer[] {
    const prefix = INNER_TYPE_BYTES[type];
    if (prefix === undefined) throw new KubepairError('KP_ERR_INTERNAL', `bad inner record type ${String(type)}`);
    const nonce = writeRecordNonce(this.#secret.iv, this.#sequence, this.#nonce);
    const frame = aesGcmSealPrefixed(this.#secret.key, nonce, RECORD_AAD, prefix, body);
    this.#sequence += 1;
    this.#sealed += 1;
    return frame;
  }

  #assertUsable(): void {
    if (this.#wiped) throw new KubepairError('KP_ERR_CHANNEL_CLOSED', 'record keys were wiped');
  }
}

/**
 * An opened record: MUX or CONTROL with its body, a KEY_UPDATE already applied, or an ACK whose
 * `acknowledged` count has been decoded (its 8-byte body checked).
 */
export interface OpenedRecord {
  readonly type: InnerType;
  readonly body: Buffer;
  /** For ACK records: the count of records the peer has received from this side. */
  readonly acknowledged?: number;
}

/** Opens incoming records for one direction. Every failure is final. */
export class RecordOpener {
  readonly #options: ResolvedOptions;
  #secret: TrafficSecret;
  #sequence: number;
  #received = 0;
  #failed: KubepairError | undefined;
  #wiped = false;
  /** Scratch for each record's nonce (writeRecordNonce). */
  readonly #nonce = new Uint8Array(AES_GCM_NONCE_BYTES);

  constructor(secret: TrafficSecret, options: RecordLayerOptions = {}) {
    this.#options = resolveOptions(options);
    this.#secret = copyTrafficSecret(secret);
    this.#sequence = this.#options.initialSequence;
  }

  /** Sequence number the next record must carry (for tests and metrics). */
  get sequence(): number {
    return this.#sequence;
  }

  /** Record slots consumed since the session began (opened or skipped): the index of the next record. */
  get received(): number {
    return this.#received;
  }

  /**
   * Skip `count` slots under the current key without opening them: on a resume, the peer
   * declared them ACK records it no longer holds (docs/design.md §8.1, docs/protocol.md §7.5). ACKs
   * never switch keys, so the slots lie under this key; the reserved last slot (the
   * KEY_UPDATE's) is never skipped over. The skipped nonces are never opened afterwards.
   */
  skip(count: number): void {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#wiped) throw new KubepairError('KP_ERR_CHANNEL_CLOSED', 'record keys were wiped');
    if (!Number.isSafeInteger(count) || count < 0) throw new KubepairError('KP_ERR_INTERNAL', `bad skip ${count}`);
    if (this.#sequence + count > this.#options.keyUpdateLimit - 1) {
      throw new KubepairError('KP_ERR_RESUME_COUNT', `skipping ${count} records would pass the key update`);
    }
    this.#sequence += count;
    this.#received += count;
  }

  /** Open the next frame, or throw a KubepairError; after one failure every call throws it again. */
  open(frame: Uint8Array): OpenedRecord {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#wiped) throw new KubepairError('KP_ERR_CHANNEL_CLOSED', 'record keys were wiped');
    try {
      return this.#open(frame);
    } catch (err) {
      this.#failed =
        err instanceof KubepairError ? err : new KubepairError('KP_ERR_RECORD_INTEGRITY', undefined, { cause: err });
      this.wipe();
      throw this.#failed;
    }
  }

  /** Overwrite the key material. */
  wipe(): void {
    wipe(this.#secret.key, this.#secret.iv, this.#nonce);
    this.#wiped = true;
  }

  #open(frame: Uint8Array): OpenedRecord {
    if (frame.length > this.#options.maxFrameBytes) {
      throw new KubepairError('KP_ERR_RECORD_TOO_LARGE', `${frame.length} bytes`);
    }
    if (frame.length < RECORD_MIN_FRAME_BYTES) {
      throw new KubepairError('KP_ERR_RECORD_INTEGRITY', `a ${frame.length}-byte frame is shorter than any record`);
    }
    const plaintext = aesGcmOpen(this.#secret.key, writeRecordNonce(this.#secret.iv, this.#sequence, this.#nonce), RECORD_AAD, frame);
    if (plaintext === undefined) {
      throw new KubepairError('KP_ERR_RECORD_INTEGRITY', `record ${this.#sequence} did not authenticate`);
    }
    const type = plaintext[0];
    const body = plaintext.subarray(1);
    const lastSlot = this.#sequence >= this.#options.keyUpdateLimit - 1;
    switch (type) {
      case InnerType.KEY_UPDATE: {
        if (body.length !== 0) throw new KubepairError('KP_ERR_CHANNEL_PROTOCOL', 'KEY_UPDATE record with a body');
        const next = nextTrafficSecret(this.#secret);
        wipe(this.#secret.key, this.#secret.iv);
        this.#secret = next;
        this.#sequence = 0;
        this.#received += 1;
        return { type, body };
      }
      case InnerType.MUX:
      case InnerType.CONTROL:
      case InnerType.ACK: {
        if (lastSlot) {
          throw new KubepairError('KP_ERR_CHANNEL_PROTOCOL', 'the peer sealed too many records without a key update');
        }
        if (type === InnerType.MUX && body.length === 0) {
          throw new KubepairError('KP_ERR_CHANNEL_PROTOCOL', 'empty MUX record');
        }
        let acknowledged: number | undefined;
        if (type === InnerType.ACK) {
          acknowledged = body.length === ACK_BODY_BYTES ? decodeCount(body) : undefined;
          if (acknowledged === undefined) throw new KubepairError('KP_ERR_CHANNEL_PROTOCOL', 'malformed ACK record');
        }
        this.#sequence += 1;
        this.#received += 1;
        return acknowledged === undefined ? { type, body } : { type, body, acknowledged };
      }
      default:
        throw new KubepairError('KP_ERR_CHANNEL_PROTOCOL', `unknown inner record type ${String(type)}`);
    }
  }
}
