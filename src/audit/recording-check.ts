/**
 * `kubepair audit verify`'s check of session recordings (docs/audit.md "Recorded sessions",
 * "Verification"; issue 14): every recording a record names must be present, a regular file,
 * exactly `recording_bytes` long and hash to `recording_sha256`. The record is covered by the
 * hash chain, so a recording that matches it is the one the agent wrote.
 *
 * Untrusted input: the records (a tampered log may name any path) and the files. A reference
 * is resolved only when it has the one shape the agent writes (`recordings/NAME.cast`, relative to
 * the directory of the log file that names it: no `..`, no absolute path); files are streamed,
 * never read whole, and opened without following a symbolic link.
 */
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isErrnoCode } from './file-tail.js';
import { RECORDING_REFERENCE_PATTERN } from './session-recording.js';

/** A recording named by one record. */
export interface RecordingReference {
  /** The audit file and 1-based line of the record. */
  readonly logFile: string;
  readonly line: number;
  /** The `recording` field as written. */
  readonly reference: string;
  readonly sha256: unknown;
  readonly bytes: unknown;
}

/** One recording that is missing or changed, and why. */
export interface RecordingProblem {
  readonly logFile: string;
  readonly line: number;
  readonly reference: string;
  readonly reason: string;
}

/** The recording a record names, if it names one. */
export function recordingReference(fields: Readonly<Record<string, unknown>>, logFile: string, line: number): RecordingReference | undefined {
  if (!Object.hasOwn(fields, 'recording')) return undefined;
  const reference = fields['recording'];
  return { logFile, line, reference: typeof reference === 'string' ? reference : JSON.stringify(reference) ?? 'undefined', sha256: fields['recording_sha256'], bytes: fields['recording_bytes'] };
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  const stream = createReadStream(path, { highWaterMark: 64 * 1024 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
  } finally {
    stream.destroy();
  }
  return hash.digest('hex');
}

/** Why one recording fails, or undefined when it is present and unchanged. */
async function checkOne(entry: RecordingReference): Promise<string | undefined> {
  if (!RECORDING_REFERENCE_PATTERN.test(entry.reference)) return 'the record names its recording in a form the agent never writes (not recordings/NAME.cast)';
  const { sha256, bytes } = entry;
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256) || typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) {
    return 'the record has no valid recording_sha256 and recording_bytes';
  }
  const path = join(dirname(entry.logFile), entry.reference);
  try {
    const stat = await lstat(path);
    if (!stat.isFile()) return 'it is not a regular file (a link or a directory took its place)';
    if (stat.size !== bytes) return `it is ${stat.size} bytes, the log says ${bytes}: it was ${stat.size < bytes ? 'cut' : 'extended'}`;
    if ((await sha256OfFile(path)) !== sha256) return 'its SHA-256 differs from the one in the log: it was changed';
  } catch (err) {
    if (isErrnoCode(err, 'ENOENT')) return 'it is missing';
    if (isErrnoCode(err, 'EACCES')) return 'it cannot be read (permission denied)';
    return `it cannot be read (${err instanceof Error && 'code' in err ? String(err.code) : 'unknown error'})`;
  }
  return undefined;
}

/** Check every named recording, in log order; returns the ones that fail. */
export async function checkRecordings(entries: readonly RecordingReference[]): Promise<RecordingProblem[]> {
  const problems: RecordingProblem[] = [];
  for (const entry of entries) {
    const reason = await checkOne(entry);
    if (reason !== undefined) problems.push({ logFile: entry.logFile, line: entry.line, reference: entry.reference, reason });
  }
  return problems;
}

/** One line per problem, as `kubepair audit verify` prints them. */
export function describeRecordingProblem(problem: RecordingProblem): string {
  return `${problem.logFile} line ${problem.line}: recording ${problem.reference}: ${problem.reason}`;
}
