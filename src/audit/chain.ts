/**
 * The canonical byte form of a hash-chained audit line (docs/design.md §6; docs/audit.md "Hash
 * chain"). Both the writer (audit-log.ts) and the verifier (verify.ts) use only this module, so
 * the two cannot drift apart. Lines read back from disk are untrusted: anyone with write
 * access to the file may have edited them.
 *
 * A chained line is, byte for byte (UTF-8, no newline):
 *
 *   {"seq":<seq>,"prev":"<prev>",<fields of the record>,"hash":"<hash>"}
 *
 * - seq: decimal record number, 0 at the genesis record, +1 per record across rotations.
 * - prev: "genesis" in the first record of a chain, else the lowercase hex SHA-256 of the
 *   previous line's bytes (without its newline), which may be the last line of the previous
 *   rotated file.
 * - hash: lowercase hex SHA-256 of this line's bytes before `,"hash":"`.
 *
 * Verification is purely on bytes: no JSON canonicalization is needed, because the hashes
 * cover the exact bytes written.
 */
import { createHash } from 'node:crypto';
import { KubepairError } from '../errors/index.js';

/** The `prev` value of the first record of a chain. */
export const GENESIS = 'genesis';

/** Field names the chain owns; a record given to a chained log must not use them. */
export const CHAIN_FIELDS: readonly string[] = ['seq', 'prev', 'hash'];

/** Where a chain stands: the next record gets `seq + 1` and `prev = lineHash`. */
export interface ChainHead {
  readonly seq: number;
  readonly lineHash: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
/** The fixed start of a chained line: seq without leading zeros, prev genesis or a hash. */
const LINE_HEAD = /^\{"seq":(0|[1-9][0-9]{0,15}),"prev":"(genesis|[0-9a-f]{64})"(?=[,])/;
/** The fixed end of a chained line; its length in bytes (all ASCII). */
const LINE_TAIL = /,"hash":"([0-9a-f]{64})"\}$/;
const LINE_TAIL_BYTES = ',"hash":"'.length + 64 + '"}'.length;

/** Lowercase hex SHA-256 of some bytes (a string counts as its UTF-8 bytes). */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Build the chained line for a record whose JSON text (an object, as JSON.stringify writes
 * it) is `recordJson`, as record number `seq` after `prev`.
 */
export function composeChainedLine(recordJson: string, seq: number, prev: string): string {
  // The writer guarantees all three; a failure here is a kubepair bug, not bad input.
  if (!recordJson.startsWith('{') || !recordJson.endsWith('}')) {
    throw new KubepairError('KP_ERR_INTERNAL', 'a chained audit record must be a JSON object');
  }
  if (!Number.isSafeInteger(seq) || seq < 0) throw new KubepairError('KP_ERR_INTERNAL', `invalid audit chain seq ${seq}`);
  if (prev !== GENESIS && !HEX64.test(prev)) throw new KubepairError('KP_ERR_INTERNAL', 'invalid audit chain prev');
  const fields = recordJson.slice(1, -1);
  const head = `{"seq":${seq},"prev":"${prev}"${fields === '' ? '' : ',' + fields}`;
  return `${head},"hash":"${sha256Hex(head)}"}`;
}

/** A chained line read back, with its own hash checked. */
export type ChainedLine =
  | { readonly ok: true; readonly seq: number; readonly prev: string; readonly hash: string; readonly fields: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly reason: string };

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Check one line (bytes without the newline) against the canonical form: valid UTF-8, a JSON
 * object, the chain fields in their fixed places and agreeing with what JSON sees, and
 * `hash` equal to the SHA-256 of the bytes before it.
 */
export function readChainedLine(line: Uint8Array): ChainedLine {
  let text: string;
  try {
    text = UTF8.decode(line);
  } catch (err) {
    if (err instanceof TypeError) return { ok: false, reason: 'not valid UTF-8' };
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    if (err instanceof SyntaxError) return { ok: false, reason: 'not valid JSON (a corrupted or partial record)' };
    throw err;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, reason: 'not a JSON object' };
  }
  const head = LINE_HEAD.exec(text);
  const tail = LINE_TAIL.exec(text);
  if (head === null || tail === null) {
    return { ok: false, reason: 'not a hash-chained record (seq, prev and hash are not in their canonical places)' };
  }
  const seq = Number(head[1]);
  const prev = head[2] ?? '';
  const hash = tail[1] ?? '';
  const fields = parsed as Record<string, unknown>;
  // JSON.parse keeps the last of duplicate keys: a second seq/prev/hash inside the record
  // would make what JSON readers see differ from what the chain covers.
  if (!Number.isSafeInteger(seq) || fields['seq'] !== seq || fields['prev'] !== prev || fields['hash'] !== hash) {
    return { ok: false, reason: 'the chain fields are duplicated or do not match what JSON readers see' };
  }
  if (sha256Hex(line.subarray(0, line.length - LINE_TAIL_BYTES)) !== hash) {
    return { ok: false, reason: 'hash mismatch: the record was changed after it was written' };
  }
  return { ok: true, seq, prev, hash, fields };
}

/** What the writer finds as the last complete line of an existing file. */
export type LineKind =
  | { readonly kind: 'chained'; readonly head: ChainHead }
  | { readonly kind: 'plain' }
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Classify a line for the writer resuming a file: a valid chained record (and the chain head
 * after it), a plain JSON object written without a chain, or anything else.
 */
export function classifyLine(line: Uint8Array): LineKind {
  const chained = readChainedLine(line);
  if (chained.ok) return { kind: 'chained', head: { seq: chained.seq, lineHash: sha256Hex(line) } };
  const text = Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('utf8');
  if (LINE_HEAD.test(text)) return { kind: 'invalid', reason: chained.reason };
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return { kind: 'plain' };
    return { kind: 'invalid', reason: 'not a JSON object' };
  } catch (err) {
    if (err instanceof SyntaxError) return { kind: 'invalid', reason: 'not valid JSON' };
    throw err;
  }
}
