/**
 * Byte helpers for the crypto and channel code: named length assertions (noble style), a
 * constant-time comparison, concatenation and wiping. No I/O; inputs may be untrusted.
 */
import { timingSafeEqual } from 'node:crypto';
import { KubepairError } from '../errors/index.js';

/** Assert `value` is a Uint8Array (of exactly `length` bytes when given); name it in the error. */
export function assertBytes(value: unknown, length: number | undefined, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `${name} must be a Uint8Array`);
  }
  if (length !== undefined && value.length !== length) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `${name} must be ${length} bytes, got ${value.length}`);
  }
}

/**
 * Compare two byte strings in time that depends only on their lengths. Lengths are public
 * (tags and keys have fixed sizes), so an early return on a length mismatch leaks nothing.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** True when every byte is zero, in time independent of the contents (no early exit). */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const byte of bytes) acc |= byte;
  return acc === 0;
}

/** Concatenate byte strings into one new array. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Overwrite secrets with zeros once they are no longer needed. */
export function wipe(...secrets: ReadonlyArray<Uint8Array | undefined>): void {
  for (const secret of secrets) secret?.fill(0);
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
