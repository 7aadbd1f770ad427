/**
 * Verify hash-chained audit files (docs/design.md §6; docs/audit.md "Verification"). Fail-closed: a
 * missing or empty file, a head that is not the genesis record (unless `segment`), any line
 * that is not a canonical chained record, a record whose hash does not match its bytes, a
 * record that does not follow the one before it (seq + 1 and prev = SHA-256 of the previous
 * line), and a partial last line all fail. The files are untrusted; they are streamed with a
 * bounded line length, never read whole.
 *
 * Several files are checked as one chain, oldest first (`PATH.3 PATH.2 PATH.1 PATH`): each
 * file's first record must link to the previous file's last line.
 *
 * Once the chain holds, every session recording a record names (`recording`, with
 * `recording_sha256` and `recording_bytes`; docs/audit.md "Recorded sessions") is checked too
 * (recording-check.ts): a missing, changed, cut or grown file fails verification, each named.
 */
import { createReadStream } from 'node:fs';
import { AUDIT_RECORD_MAX_BYTES } from '../limits.js';
import { GENESIS, readChainedLine, sha256Hex } from './chain.js';
import { isErrnoCode } from './file-tail.js';
import type { RecordingProblem, RecordingReference } from './recording-check.js';
import { checkRecordings, recordingReference } from './recording-check.js';

export interface VerifyOptions {
  /** Accept a first record that is not the genesis record (a rotated middle piece). */
  readonly segment?: boolean;
}

export interface VerifySuccess {
  readonly ok: true;
  /** Records checked, over all files. */
  readonly records: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** True when the first record is the genesis record. */
  readonly fromGenesis: boolean;
  /** SHA-256 of the last line: the next file's first record must carry it as `prev`. */
  readonly lastLineHash: string;
  /** Session recordings named in the records, all present and unchanged. */
  readonly recordings: number;
}

export interface VerifyFailure {
  readonly ok: false;
  /** Records that verified before the failure, over all files. */
  readonly records: number;
  readonly file: string;
  /** 1-based line number of the first bad line in `file`; 0 when the file itself is the problem. */
  readonly line: number;
  readonly reason: string;
  /** When the chain holds but recordings it names are missing or changed: each of them. */
  readonly recordingProblems?: readonly RecordingProblem[];
}

export type VerifyResult = VerifySuccess | VerifyFailure;

/** What the chain looks like after the last good line. */
interface ChainState {
  records: number;
  firstSeq: number;
  fromGenesis: boolean;
  last: { readonly seq: number; readonly lineHash: string } | undefined;
  /** The recordings named so far, to check once the chain holds. */
  readonly recordings: RecordingReference[];
}

const NEWLINE = 0x0a;

/** Verify `files` (oldest first) as one hash chain. Never throws for bad content; only returns. */
export async function verifyAuditFiles(files: readonly string[], options: VerifyOptions = {}): Promise<VerifyResult> {
  const state: ChainState = { records: 0, firstSeq: 0, fromGenesis: false, last: undefined, recordings: [] };
  if (files.length === 0) return { ok: false, records: 0, file: '', line: 0, reason: 'no file given' };
  for (const file of files) {
    const failure = await verifyFile(file, state, options.segment === true);
    if (failure !== undefined) return failure;
  }
  const last = state.last;
  if (last === undefined) return { ok: false, records: 0, file: files[0] ?? '', line: 0, reason: 'no records' };
  const problems = await checkRecordings(state.recordings);
  if (problems.length > 0) {
    const first = problems[0]!;
    return {
      ok: false,
      records: state.records,
      file: first.logFile,
      line: first.line,
      reason: `${problems.length} of ${state.recordings.length} session recording${state.recordings.length === 1 ? '' : 's'} named in the log ${problems.length === 1 ? 'is' : 'are'} missing or changed`,
      recordingProblems: problems,
    };
  }
  return {
    ok: true,
    records: state.records,
    firstSeq: state.firstSeq,
    lastSeq: last.seq,
    fromGenesis: state.fromGenesis,
    lastLineHash: last.lineHash,
    recordings: state.recordings.length,
  };
}

async function verifyFile(file: string, state: ChainState, segment: boolean): Promise<VerifyFailure | undefined> {
  const fail = (line: number, reason: string): VerifyFailure => ({ ok: false, records: state.records, file, line, reason });
  let carry: Buffer = Buffer.alloc(0);
  let lineNumber = 0;
  let sawBytes = false;
  const stream = createReadStream(file, { highWaterMark: 64 * 1024 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      sawBytes ||= chunk.length > 0;
      let data = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
      let newline = data.indexOf(NEWLINE);
      // Each round consumes one line, so the loop ends within the chunk.
      while (newline >= 0) {
        lineNumber++;
        const reason = checkLine(data.subarray(0, newline), state, segment, file, lineNumber);
        if (reason !== undefined) return fail(lineNumber, reason);
        data = data.subarray(newline + 1);
        newline = data.indexOf(NEWLINE);
      }
      if (data.length > AUDIT_RECORD_MAX_BYTES) {
        return fail(lineNumber + 1, `longer than the ${AUDIT_RECORD_MAX_BYTES}-byte record limit`);
      }
      carry = Buffer.from(data);
    }
  } catch (err) {
    return fail(0, describeReadError(err));
  } finally {
    stream.destroy();
  }
  if (!sawBytes) return fail(0, 'the file is empty: an empty log proves nothing');
  if (carry.length > 0) {
    return fail(lineNumber + 1, 'partial record: no line end at the end of the file (an interrupted write or a cut file)');
  }
  return undefined;
}

/** Check one line against the chain so far and advance it; returns why the line is bad. */
function checkLine(line: Buffer, state: ChainState, segment: boolean, file: string, lineNumber: number): string | undefined {
  if (line.length === 0) return 'empty line';
  if (line.length > AUDIT_RECORD_MAX_BYTES) return `longer than the ${AUDIT_RECORD_MAX_BYTES}-byte record limit`;
  const record = readChainedLine(line);
  if (!record.ok) return record.reason;
  const last = state.last;
  if (last === undefined) {
    if (record.prev === GENESIS && record.seq !== 0) return `a genesis record must have seq 0, not ${record.seq}`;
    if (record.prev !== GENESIS && !segment) {
      return `the first record (seq ${record.seq}) does not start the chain: the head of the log is missing (use --segment for a rotated piece)`;
    }
    state.firstSeq = record.seq;
    state.fromGenesis = record.prev === GENESIS;
  } else {
    if (record.prev === GENESIS) return `a new chain starts here (prev is genesis) after seq ${last.seq}: earlier records were replaced`;
    if (record.seq <= last.seq) return `seq ${record.seq} after seq ${last.seq}: records were reordered or duplicated`;
    if (record.seq > last.seq + 1) {
      const missing = record.seq - last.seq - 1;
      return `seq ${record.seq} after seq ${last.seq}: ${missing} record${missing === 1 ? ' is' : 's are'} missing (deleted)`;
    }
    if (record.prev !== last.lineHash) {
      return `prev does not match the previous line: a record was inserted, replaced or deleted before seq ${record.seq}`;
    }
  }
  state.records++;
  state.last = { seq: record.seq, lineHash: sha256Hex(line) };
  const reference = recordingReference(record.fields, file, lineNumber);
  if (reference !== undefined) state.recordings.push(reference);
  return undefined;
}

function describeReadError(err: unknown): string {
  if (isErrnoCode(err, 'ENOENT')) return 'the file does not exist';
  if (isErrnoCode(err, 'EISDIR')) return 'it is a directory, not an audit file';
  if (isErrnoCode(err, 'EACCES')) return 'permission denied';
  const code = err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : 'unknown error';
  return `cannot read it (${code})`;
}

/** The one-line verdict for a result, as `kubepair audit verify` prints it. */
export function describeVerifyResult(result: VerifyResult, files: readonly string[]): string {
  if (result.ok) {
    const origin = result.fromGenesis ? 'from genesis' : 'a segment: records before it were not checked';
    const where = files.length === 1 ? (files[0] ?? '') : `${files.length} files`;
    return (
      `OK: ${result.records} record${result.records === 1 ? '' : 's'} verified in ${where} ` +
      `(seq ${result.firstSeq}-${result.lastSeq}, ${origin}); last line SHA-256 ${result.lastLineHash}` +
      (result.recordings > 0 ? `; ${result.recordings} session recording${result.recordings === 1 ? '' : 's'} present and unchanged` : '')
    );
  }
  const where = result.line > 0 ? `${result.file} line ${result.line}` : result.file;
  return `${where}: ${result.reason} (${result.records} record${result.records === 1 ? '' : 's'} verified before it)`;
}
