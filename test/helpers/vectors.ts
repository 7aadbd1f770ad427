/** Loading published test vectors from test/vectors/<source>/ and hex helpers. */
import { readFileSync } from 'node:fs';
import { repoPath } from './paths.js';

export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`bad hex: ${text}`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Parse a vector file under test/vectors/. */
export function loadVectors<T>(relative: string): T {
  return JSON.parse(readFileSync(repoPath(`test/vectors/${relative}`), 'utf8')) as T;
}
