/**
 * One recording file of an exec, attach or debug session (docs/audit.md "Recorded sessions";
 * issue 14), in asciicast v2 (asciicast.ts). The file lives in the `recordings` directory next to
 * the audit log (mode 0700, owned by this user, not a symbolic link), is created exclusively
 * (O_CREAT|O_EXCL|O_NOFOLLOW) with mode 0600, and is only ever appended to. The header is written
 * at creation, so a recording that cannot be written is known before the session starts.
 *
 * Writes are synchronous: each event is on its way to the disk before the bytes it records are
 * passed on, and a failure is known at once (fail closed). The SHA-256 and the size of exactly
 * the bytes written are kept as they go; the audit record of the session's request carries them
 * (so the audit log's hash chain covers the recording) and `kubepair audit verify` checks them.
 *
 * A recording is bounded (RECORDING_MAX_BYTES unless the caller gives less): an event that would
 * pass the bound is refused with KP_ERR_RECORDING_LIMIT; a last marker saying so always fits in a
 * reserve kept for it. Untrusted input: the event data (terminal bytes from either side), which
 * is only ever JSON-encoded into the file.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fdatasyncSync, lstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { KubepairError } from '../errors/index.js';
import { RECORDING_EVENT_MAX_CHARS, RECORDING_MAX_BYTES } from '../limits.js';
import type { AsciicastCode, AsciicastHeader } from './asciicast.js';
import { eventLine, headerLine } from './asciicast.js';

/** The directory of recordings, relative to the audit log's directory (the audit record names files under it). */
export const RECORDINGS_DIRECTORY = 'recordings';
/** What a recording's name looks like in an audit record: `recordings/<name>.cast`, nothing else. */
export const RECORDING_REFERENCE_PATTERN = /^recordings\/[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.cast$/;

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_APPEND;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Bytes kept free below the bound for the marker that says the bound was reached. */
const LIMIT_MARKER_RESERVE_BYTES = 512;

/** What the audit record says about a finished recording. */
export interface RecordingSummary {
  /** The file, relative to the audit log's directory (`recordings/NAME.cast`). */
  readonly reference: string;
  readonly sha256: string;
  readonly bytes: number;
}

function errnoCode(err: unknown): string {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : 'unknown error';
}

/** Create the recordings directory (0700) or check the one that is there: a directory of ours, not a link. */
function prepareDirectory(directory: string): void {
  mkdirSync(directory, { recursive: true, mode: DIR_MODE });
  const stat = lstatSync(directory);
  if (!stat.isDirectory()) throw new Error(`${directory} is not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) throw new Error(`${directory} belongs to another user (uid ${stat.uid})`);
}

export class SessionRecording {
  readonly path: string;
  readonly reference: string;
  readonly #maxBytes: number;
  readonly #hash = createHash('sha256');
  readonly #started = performance.now();
  #fd: number | undefined;
  #bytes = 0;
  #summary: RecordingSummary | undefined;

  private constructor(path: string, reference: string, fd: number, maxBytes: number) {
    this.path = path;
    this.reference = reference;
    this.#fd = fd;
    this.#maxBytes = maxBytes;
  }

  /**
   * Create `<logDirectory>/recordings/<name>.cast` exclusively and write its header. Throws
   * KP_ERR_RECORDING_WRITE when the directory or the file cannot be made or written.
   */
  static create(logDirectory: string, name: string, header: AsciicastHeader, maxBytes: number = RECORDING_MAX_BYTES): SessionRecording {
    const reference = `${RECORDINGS_DIRECTORY}/${name}.cast`;
    if (!RECORDING_REFERENCE_PATTERN.test(reference)) throw new KubepairError('KP_ERR_INTERNAL', `bad recording name ${name}`);
    const path = join(logDirectory, reference);
    let fd: number;
    try {
      prepareDirectory(join(logDirectory, RECORDINGS_DIRECTORY));
      fd = openSync(path, CREATE_FLAGS, FILE_MODE);
    } catch (err) {
      throw new KubepairError('KP_ERR_RECORDING_WRITE', `cannot create ${reference} (${err instanceof Error && !('code' in err) ? err.message : errnoCode(err)})`, { cause: err });
    }
    const recording = new SessionRecording(path, reference, fd, maxBytes);
    try {
      recording.#write(headerLine(header), true);
    } catch (err) {
      recording.#close();
      throw err;
    }
    return recording;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Seconds since the recording started, as its events count them. */
  #now(): number {
    return (performance.now() - this.#started) / 1000;
  }

  /**
   * Record one event now; data longer than RECORDING_EVENT_MAX_CHARS becomes several events.
   * Throws KP_ERR_RECORDING_LIMIT at the size bound, KP_ERR_RECORDING_WRITE when the disk fails.
   */
  event(code: AsciicastCode, data: string): void {
    const time = this.#now();
    let at = 0;
    // Each round moves `at` forward by at least one character.
    do {
      let end = Math.min(at + RECORDING_EVENT_MAX_CHARS, data.length);
      // Never cut a surrogate pair in two: each half would be written as a lone escape.
      const last = data.charCodeAt(end - 1);
      if (end < data.length && end - 1 > at && last >= 0xd800 && last <= 0xdbff) end -= 1;
      this.#write(eventLine(time, code, data.slice(at, end)), false);
      at = end;
    } while (at < data.length);
  }

  /** A marker event (`m`) that goes into the reserve below the bound: the last word of a stopped recording. */
  marker(text: string): void {
    this.#write(eventLine(this.#now(), 'm', text.slice(0, 200)), true);
  }

  #write(line: string, reserved: boolean): void {
    const fd = this.#fd;
    if (fd === undefined) throw new KubepairError('KP_ERR_RECORDING_WRITE', `${this.reference} is closed`);
    const bytes = Buffer.from(line, 'utf8');
    const room = this.#maxBytes - (reserved ? 0 : LIMIT_MARKER_RESERVE_BYTES);
    if (this.#bytes + bytes.length > room) {
      throw new KubepairError('KP_ERR_RECORDING_LIMIT', `${this.reference} reached ${this.#bytes} bytes; the limit is ${this.#maxBytes}`);
    }
    let offset = 0;
    try {
      // Each round writes at least one byte or throws, so at most bytes.length rounds.
      while (offset < bytes.length) {
        const written = writeSync(fd, bytes, offset, bytes.length - offset);
        if (written <= 0) throw new Error(`write made no progress at byte ${offset}`);
        offset += written;
      }
    } catch (err) {
      // What did reach the file is counted, so `audit verify` sees the file as it was left.
      this.#hash.update(bytes.subarray(0, offset));
      this.#bytes += offset;
      throw new KubepairError('KP_ERR_RECORDING_WRITE', `cannot write ${this.reference} (${errnoCode(err)})`, { cause: err });
    }
    this.#hash.update(bytes);
    this.#bytes += bytes.length;
  }

  #close(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd === undefined) return;
    try {
      fdatasyncSync(fd);
    } catch {
      // A failed sync leaves the bytes as they are; the hash still says what was written.
    }
    try {
      closeSync(fd);
    } catch {
      // Called from a stream's close handler: a failing close must not throw there.
    }
  }

  /** Close the file (idempotent) and say what it holds. */
  finish(): RecordingSummary {
    if (this.#summary === undefined) {
      this.#close();
      this.#summary = { reference: this.reference, sha256: this.#hash.digest('hex'), bytes: this.#bytes };
    }
    return this.#summary;
  }
}
