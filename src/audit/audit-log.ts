/**
 * Append-only JSON-lines audit log (DESIGN §6, §7), shared by the agent and the relay.
 *
 * The file is opened with O_APPEND and created exclusively-or-appended with mode 0600 in a
 * directory created with mode 0700; records are redacted, serialized one per line and written
 * in call order. A failed write rejects `append` so the caller can fail closed.
 */
import { mkdir, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KubepairError } from '../errors/index.js';
import { redactValue } from './redact.js';

export interface AuditLogOptions {
  /** File to append to; its directory is created with mode 0700 when missing. */
  readonly path: string;
}

export class AuditLog {
  readonly path: string;
  #handle: FileHandle | undefined;
  #tail: Promise<void> = Promise.resolve();

  private constructor(path: string, handle: FileHandle) {
    this.path = path;
    this.#handle = handle;
  }

  static async open(options: AuditLogOptions): Promise<AuditLog> {
    try {
      await mkdir(dirname(options.path), { recursive: true, mode: 0o700 });
      const handle = await open(options.path, 'a', 0o600);
      return new AuditLog(options.path, handle);
    } catch (err) {
      throw new KubepairError('KP_ERR_AUDIT_WRITE', `cannot open ${options.path}`, { cause: err });
    }
  }

  /** Append one record (redacted) as one line; resolves once the line is written. */
  append(record: Readonly<Record<string, unknown>>): Promise<void> {
    const line = JSON.stringify(redactValue(record)) + '\n';
    const write = this.#tail.then(async () => {
      const handle = this.#handle;
      if (handle === undefined) throw new KubepairError('KP_ERR_AUDIT_WRITE', `${this.path} is closed`);
      try {
        await handle.write(line);
      } catch (err) {
        throw new KubepairError('KP_ERR_AUDIT_WRITE', `cannot write ${this.path}`, { cause: err });
      }
    });
    // Later appends wait for this one but do not inherit its failure.
    this.#tail = write.catch(() => undefined);
    return write;
  }

  /** Wait for pending writes, then close the file. */
  async close(): Promise<void> {
    await this.#tail;
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}
