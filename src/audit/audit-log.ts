/**
 * Append-only JSON-lines audit log (docs/design.md §6, §7; docs/audit.md), shared by the agent and
 * the relay. Records come from kubepair code but carry untrusted data (paths, queries, names from
 * the remote client), so every record is redacted before it is written.
 *
 * - The file is opened O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW with mode 0600 (a looser existing
 *   file is tightened to 0600), in a directory created with mode 0700; it must be a regular
 *   file owned by this user. Nothing is ever truncated or rewritten.
 * - Records are written one per line, in call order; each line is written completely (short
 *   writes are continued) before the next starts.
 * - Fail closed by default: `append` rejects with KP_ERR_AUDIT_WRITE when the line could not be
 *   written, so the caller can refuse what it cannot audit. With `failOpen` failures are
 *   counted and reported through `onError` instead.
 * - Size-based rotation (rotation.ts) and an optional per-record hash chain (chain.ts) that
 *   continues across rotated files.
 * - Crash safety: a file that ends in a partial line (a crash or a full disk during a write) is
 *   never appended to; it is rotated away and the chain continues from its last complete record.
 * - A file deleted under the writer (its directory removed) is noticed before the next record
 *   (the open file has no link left) and the path is opened again, its writer lock taken again,
 *   so no record goes into a file nobody can read; if that fails, the write fails.
 *
 * - One writer per file: the log holds an exclusive lock next to the file (writer-lock.ts) from
 *   open to close, across rotations; a second writer, in this process or another, is refused
 *   with KP_ERR_AUDIT_LOCKED naming the other writer's pid. A lock left by a dead process is
 *   taken over.
 */
import { constants, fstatSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { KubepairError, toKubepairError } from '../errors/index.js';
import {
  AUDIT_KEEP_DEFAULT_FILES,
  AUDIT_KEEP_MAX_FILES,
  AUDIT_MAX_PENDING_RECORDS,
  AUDIT_RECORD_MAX_BYTES,
  AUDIT_ROTATE_DEFAULT_BYTES,
  AUDIT_ROTATE_MIN_BYTES,
} from '../limits.js';
import type { ChainHead } from './chain.js';
import { CHAIN_FIELDS, GENESIS, classifyLine, composeChainedLine, sha256Hex } from './chain.js';
import { readFileTail } from './file-tail.js';
import { redactValue } from './redact.js';
import { rotateFiles, rotatedPath } from './rotation.js';
import type { HeldLock } from './writer-lock.js';
import { acquireWriterLock } from './writer-lock.js';

export interface AuditLogOptions {
  /** File to append to; its directory is created with mode 0700 when missing. */
  readonly path: string;
  /** Rotate before a record would make the file larger than this many bytes (default 100 MiB; Infinity: never). */
  readonly maxBytes?: number;
  /** Rotated files kept as PATH.1 (newest) .. PATH.<keep> (default 10). */
  readonly keep?: number;
  /** Add seq/prev/hash to every record (docs/audit.md "Hash chain"). */
  readonly chain?: boolean;
  /** Resolve `append` even when a record could not be written; count and report the failure instead. */
  readonly failOpen?: boolean;
  /** fdatasync after every record (slower; survives power loss up to the last acknowledged record). */
  readonly fsync?: boolean;
  /** Called with every failed append, in both modes (for logs and metrics); must not throw. */
  readonly onError?: (err: KubepairError) => void;
}

const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

export class AuditLog {
  /** Paths (resolved) open in this process: a second writer would break the chain. */
  static readonly #openPaths = new Set<string>();

  readonly path: string;
  readonly chained: boolean;
  readonly failOpen: boolean;
  readonly #resolvedPath: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  readonly #fsync: boolean;
  readonly #onError: ((err: KubepairError) => void) | undefined;
  #handle: FileHandle | undefined;
  /** The cross-process writer lock, held from open to close. */
  #lock: HeldLock | undefined;
  /** Bytes in the current file, as far as this writer knows. */
  #size = 0;
  /** The last record written (chained logs only); undefined before the genesis record. */
  #head: ChainHead | undefined;
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;
  #closed = false;
  #errorCount = 0;
  #lastError: KubepairError | undefined;

  private constructor(options: AuditLogOptions, resolvedPath: string) {
    this.path = options.path;
    this.#resolvedPath = resolvedPath;
    this.chained = options.chain === true;
    this.failOpen = options.failOpen === true;
    this.#maxBytes = options.maxBytes ?? AUDIT_ROTATE_DEFAULT_BYTES;
    this.#keep = options.keep ?? AUDIT_KEEP_DEFAULT_FILES;
    this.#fsync = options.fsync === true;
    this.#onError = options.onError;
  }

  /**
   * Take the file's writer lock, open (or create) the log and, for a chained log, find where its
   * chain stands. Fails in both modes — a log that cannot be opened is a configuration error —
   * with KP_ERR_AUDIT_LOCKED when another process writes the file, KP_ERR_AUDIT_WRITE otherwise.
   */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    validateOptions(options);
    const resolvedPath = resolve(options.path);
    if (AuditLog.#openPaths.has(resolvedPath)) {
      throw new KubepairError('KP_ERR_AUDIT_LOCKED', `${options.path} is already open in this process`);
    }
    const log = new AuditLog(options, resolvedPath);
    AuditLog.#openPaths.add(resolvedPath);
    try {
      await mkdir(dirname(resolvedPath), { recursive: true, mode: DIR_MODE });
      log.#lock = await acquireWriterLock(resolvedPath);
      await log.#openCurrent(true);
    } catch (err) {
      await log.#lock?.release().catch(() => undefined);
      AuditLog.#openPaths.delete(resolvedPath);
      throw asWriteError(err, `cannot open ${options.path}`);
    }
    return log;
  }

  /** Appends that failed since the log was opened. */
  get errorCount(): number {
    return this.#errorCount;
  }

  /** The error of the last append if it failed; undefined once an append succeeds again. */
  get lastError(): KubepairError | undefined {
    return this.#lastError;
  }

  /**
   * Append one record (redacted; a `time` field is added first when missing) as one line;
   * resolves once the line is written. Rejects with KP_ERR_AUDIT_WRITE, KP_ERR_AUDIT_BACKLOG or
   * KP_ERR_AUDIT_RECORD_INVALID unless the log is fail-open.
   */
  append(record: Readonly<Record<string, unknown>>): Promise<void> {
    let write: Promise<void>;
    if (this.#closed) {
      write = Promise.reject(new KubepairError('KP_ERR_AUDIT_WRITE', `${this.path} is closed`));
    } else if (this.#pending >= AUDIT_MAX_PENDING_RECORDS) {
      write = Promise.reject(new KubepairError('KP_ERR_AUDIT_BACKLOG', `${this.#pending} records are waiting for ${this.path}`));
    } else {
      let json: string;
      try {
        json = this.#serialize(record);
      } catch (err) {
        return this.#settle(Promise.reject(toKubepairError(err, 'KP_ERR_AUDIT_RECORD_INVALID')));
      }
      this.#pending++;
      write = this.#tail
        .then(() => this.#writeRecord(json))
        .catch((err: unknown) => {
          throw asWriteError(err, `cannot write ${this.path}`);
        })
        .finally(() => {
        this.#pending--;
      });
      // Later appends wait for this one but do not inherit its failure.
      this.#tail = write.catch(() => undefined);
    }
    return this.#settle(write);
  }

  /** Wait for pending writes, close the file, then give up the writer lock. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail;
    const handle = this.#handle;
    this.#handle = undefined;
    try {
      if (handle !== undefined) {
        try {
          await handle.datasync();
        } finally {
          await handle.close();
        }
      }
    } finally {
      // Released only after the last byte is on its way: the next writer starts after it.
      await this.#lock?.release();
      AuditLog.#openPaths.delete(this.#resolvedPath);
    }
  }

  /** Apply the fail-open/fail-closed policy to one append's outcome. */
  #settle(write: Promise<void>): Promise<void> {
    const settled = write.then(
      () => {
        this.#lastError = undefined;
      },
      (err: unknown) => {
        const kerr = toKubepairError(err, 'KP_ERR_AUDIT_WRITE');
        this.#errorCount++;
        this.#lastError = kerr;
        this.#onError?.(kerr);
        if (!this.failOpen) throw kerr;
      },
    );
    return settled;
  }

  /** Redact a record and serialize it as the JSON text of an object. */
  #serialize(record: Readonly<Record<string, unknown>>): string {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      throw new KubepairError('KP_ERR_AUDIT_RECORD_INVALID', 'a record must be a plain object');
    }
    if (this.chained) {
      const reserved = CHAIN_FIELDS.filter((field) => Object.hasOwn(record, field));
      if (reserved.length > 0) {
        throw new KubepairError('KP_ERR_AUDIT_RECORD_INVALID', `field ${reserved.join(', ')} is reserved for the hash chain`);
      }
    }
    const stamped = Object.hasOwn(record, 'time') ? record : { time: new Date().toISOString(), ...record };
    let json: string;
    try {
      json = JSON.stringify(redactValue(stamped));
    } catch (err) {
      throw new KubepairError('KP_ERR_AUDIT_RECORD_INVALID', 'the record cannot be serialized as JSON', { cause: err });
    }
    return json;
  }

  /** Write one serialized record: reopen or quarantine if needed, chain it, rotate, write. */
  async #writeRecord(json: string): Promise<void> {
    const seq = this.#head === undefined ? 0 : this.#head.seq + 1;
    const line = this.chained ? composeChainedLine(json, seq, this.#head?.lineHash ?? GENESIS) : json;
    const bytes = Buffer.from(line + '\n', 'utf8');
    if (bytes.length - 1 > AUDIT_RECORD_MAX_BYTES) {
      throw new KubepairError('KP_ERR_AUDIT_RECORD_INVALID', `the record is ${bytes.length - 1} bytes; the limit is ${AUDIT_RECORD_MAX_BYTES}`);
    }
    // fstat on the open descriptor is one system call that never waits on the disk: done
    // synchronously, it spares every record a trip through the thread pool (two event-loop turns
    // on the path of every request the agent forwards; docs/performance.md).
    if (this.#handle !== undefined && fstatSync(this.#handle.fd).nlink === 0) {
      // Security: the file was deleted (or its directory removed) under the open handle. Lines
      // written now would land in an inode nobody can read again: a request would be "recorded"
      // and served with no record anyone can see. Open the path again (its directory is created
      // again, 0700); a chained log continues its chain, so `audit verify` shows the gap. When
      // the path cannot be opened, the write fails (fail closed). The writer lock went with the
      // directory: it is taken again first, so a second writer cannot start on the new file.
      await this.#dropHandle();
      await mkdir(dirname(this.path), { recursive: true, mode: DIR_MODE });
      await this.#lock?.release().catch(() => undefined);
      this.#lock = undefined;
      this.#lock = await acquireWriterLock(this.#resolvedPath);
    }
    if (this.#handle === undefined) await this.#openCurrent(false);
    if (this.#size > 0 && this.#size + bytes.length > this.#maxBytes) await this.#rotate();
    const handle = this.#handle;
    if (handle === undefined) throw new KubepairError('KP_ERR_INTERNAL', 'audit log handle missing after open');
    try {
      await writeAll(handle, bytes);
    } catch (err) {
      // Part of the line may be on disk: drop the handle, so the next append reopens the file,
      // sees the partial line and rotates the file away instead of appending to it.
      await this.#dropHandle();
      throw new KubepairError('KP_ERR_AUDIT_WRITE', `cannot write ${this.path}`, { cause: err });
    }
    this.#size += bytes.length;
    if (this.chained) this.#head = { seq, lineHash: sha256Hex(line) };
    if (this.#fsync) {
      try {
        await handle.datasync();
      } catch (err) {
        throw new KubepairError('KP_ERR_AUDIT_WRITE', `cannot sync ${this.path} to disk`, { cause: err });
      }
    }
  }

  /**
   * Open the current file for appending. A file ending in a partial line is rotated away first
   * (quarantined, never appended to); on the first open a file of the other kind (chained vs.
   * plain) is rotated away too, so one file never mixes both, and a chained log finds its head.
   */
  async #openCurrent(initial: boolean): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: DIR_MODE });
    const tail = await readFileTail(this.path);
    let rotate = tail !== undefined && tail.partialBytes > 0;
    if (!rotate && initial && tail?.lastLine !== undefined) {
      const kind = classifyLine(tail.lastLine).kind;
      rotate = (this.chained && kind === 'plain') || (!this.chained && kind === 'chained');
    }
    if (rotate) await rotateFiles(this.path, this.#keep);
    if (initial && this.chained) this.#head = await this.#findHead();
    const handle = await open(this.path, APPEND_FLAGS, FILE_MODE);
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new KubepairError('KP_ERR_AUDIT_WRITE', `${this.path} is not a regular file`);
      const uid = process.getuid?.();
      if (uid !== undefined && stat.uid !== uid) {
        throw new KubepairError('KP_ERR_AUDIT_WRITE', `${this.path} belongs to another user (uid ${stat.uid})`);
      }
      if ((stat.mode & 0o077) !== 0) await handle.chmod(FILE_MODE);
      this.#size = stat.size;
    } catch (err) {
      await handle.close();
      throw err;
    }
    this.#handle = handle;
  }

  /**
   * Where the chain stands: the last complete line of the newest file that has one (the
   * current file, then PATH.1, PATH.2, ...). A plain (unchained) file there means a new chain
   * starts at genesis; an unreadable last record stops the log from opening (fail closed).
   */
  async #findHead(): Promise<ChainHead | undefined> {
    for (let n = 0; n <= this.#keep; n++) {
      const file = n === 0 ? this.path : rotatedPath(this.path, n);
      const tail = await readFileTail(file);
      if (tail?.lastLine === undefined) continue;
      const kind = classifyLine(tail.lastLine);
      if (kind.kind === 'chained') return kind.head;
      if (kind.kind === 'plain') return undefined;
      throw new KubepairError(
        'KP_ERR_AUDIT_WRITE',
        `the last record of ${file} is damaged (${kind.reason}); check it with \`kubepair audit verify\` and move it aside`,
      );
    }
    return undefined;
  }

  /** Close the current file durably, rotate, and open a fresh one. */
  async #rotate(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    if (handle !== undefined) {
      try {
        await handle.datasync();
      } finally {
        await handle.close();
      }
    }
    await rotateFiles(this.path, this.#keep);
    await this.#openCurrent(false);
  }

  /** Forget the current handle after a failed write; a failure to close it is reported with it. */
  async #dropHandle(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}

/** Write every byte, continuing after short writes. */
async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let offset = 0;
  // Each round writes at least one byte or throws, so at most bytes.length rounds.
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    if (bytesWritten <= 0) throw new Error(`write made no progress at byte ${offset} of ${bytes.length}`);
    offset += bytesWritten;
  }
}

function validateOptions(options: AuditLogOptions): void {
  if (typeof options.path !== 'string' || options.path.length === 0) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'the audit log path is empty');
  }
  const { maxBytes, keep } = options;
  if (
    maxBytes !== undefined &&
    maxBytes !== Number.POSITIVE_INFINITY &&
    (!Number.isSafeInteger(maxBytes) || maxBytes < AUDIT_ROTATE_MIN_BYTES)
  ) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `audit maxBytes must be an integer >= ${AUDIT_ROTATE_MIN_BYTES} (or Infinity)`);
  }
  if (keep !== undefined && (!Number.isSafeInteger(keep) || keep < 1 || keep > AUDIT_KEEP_MAX_FILES)) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `audit keep must be an integer from 1 to ${AUDIT_KEEP_MAX_FILES}`);
  }
}

function asWriteError(err: unknown, detail: string): KubepairError {
  if (err instanceof KubepairError) return err;
  return new KubepairError('KP_ERR_AUDIT_WRITE', detail, { cause: err });
}
