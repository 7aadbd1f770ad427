/**
 * Read the end of an existing audit file: its size, its last complete line and how many bytes
 * follow that line without a newline (a partial record left by a crash, a full disk or a cut
 * file). Used by the writer to resume a chain and to quarantine a damaged file
 * (docs/audit.md "Crash safety"). The file content is untrusted.
 *
 * Only a bounded window at the end is read: a line never exceeds AUDIT_RECORD_MAX_BYTES, so two
 * such lines plus their newlines always hold the last complete line.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { KubepairError } from '../errors/index.js';
import { AUDIT_RECORD_MAX_BYTES } from '../limits.js';

/** Bytes read from the end of a file: room for a partial line and a complete line. */
const TAIL_WINDOW_BYTES = 2 * (AUDIT_RECORD_MAX_BYTES + 1);
const NEWLINE = 0x0a;

export interface FileTail {
  /** Size of the file in bytes. */
  readonly size: number;
  /** The last line that ends with a newline (without it), if the file has one. */
  readonly lastLine: Buffer | undefined;
  /** Bytes after the last newline: more than 0 means the file ends in a partial line. */
  readonly partialBytes: number;
}

/** The tail of `path`, or undefined when it does not exist. Throws KP_ERR_AUDIT_WRITE otherwise. */
export async function readFileTail(path: string): Promise<FileTail | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (isErrnoCode(err, 'ENOENT')) return undefined;
    throw new KubepairError('KP_ERR_AUDIT_WRITE', `cannot read ${path}`, { cause: err });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new KubepairError('KP_ERR_AUDIT_WRITE', `${path} is not a regular file`);
    const size = stat.size;
    const length = Math.min(size, TAIL_WINDOW_BYTES);
    const window = Buffer.alloc(length);
    const { bytesRead } = await handle.read(window, 0, length, size - length);
    if (bytesRead !== length) throw new KubepairError('KP_ERR_AUDIT_WRITE', `${path} changed while its end was read`);
    return splitTail(path, size, window);
  } catch (err) {
    if (err instanceof KubepairError) throw err;
    throw new KubepairError('KP_ERR_AUDIT_WRITE', `cannot read ${path}`, { cause: err });
  } finally {
    await handle.close();
  }
}

function splitTail(path: string, size: number, window: Buffer): FileTail {
  const windowStart = size - window.length;
  const lastNewline = window.lastIndexOf(NEWLINE);
  if (lastNewline < 0) {
    if (windowStart > 0) throw tooLong(path);
    return { size, lastLine: undefined, partialBytes: size };
  }
  const partialBytes = window.length - lastNewline - 1;
  const previousNewline = lastNewline === 0 ? -1 : window.lastIndexOf(NEWLINE, lastNewline - 1);
  if (previousNewline < 0 && windowStart > 0) throw tooLong(path);
  return { size, lastLine: window.subarray(previousNewline + 1, lastNewline), partialBytes };
}

function tooLong(path: string): KubepairError {
  return new KubepairError(
    'KP_ERR_AUDIT_WRITE',
    `the end of ${path} is not a sequence of audit records (no line end in its last ${TAIL_WINDOW_BYTES} bytes); check it with \`kubepair audit verify\` and move it aside`,
  );
}

/** True when `err` is a Node.js system error with the given errno code. */
export function isErrnoCode(err: unknown, code: string): boolean {
  return err instanceof Error && 'code' in err && err.code === code;
}
