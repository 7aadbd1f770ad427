/**
 * Size-based rotation of the audit log (docs/design.md §6; docs/audit.md "Rotation"). The current
 * file is `PATH`; rotated files are `PATH.1` (newest) to `PATH.<keep>` (oldest). Rotating deletes
 * `PATH.<keep>`, renames each `PATH.<n>` to `PATH.<n+1>` from the oldest down, then renames
 * `PATH` to `PATH.1`. Every step is one atomic rename, so a crash part-way leaves a gap in the
 * numbering but never loses or mixes records; files are never truncated or rewritten.
 */
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isErrnoCode } from './file-tail.js';

/** The name of rotated file number `n` (1 = newest) of the log at `path`. */
export function rotatedPath(path: string, n: number): string {
  return `${path}.${n}`;
}

/** Shift the rotated files of `path` by one and move `path` to `PATH.1`, keeping `keep` rotated files. */
export async function rotateFiles(path: string, keep: number): Promise<void> {
  await ignoreMissing(unlink(rotatedPath(path, keep)));
  for (let n = keep - 1; n >= 1; n--) {
    await ignoreMissing(rename(rotatedPath(path, n), rotatedPath(path, n + 1)));
  }
  await ignoreMissing(rename(path, rotatedPath(path, 1)));
  await syncDirectory(dirname(path));
}

/** A rotated file that does not exist is a gap left by an earlier crash, not an error. */
async function ignoreMissing(step: Promise<void>): Promise<void> {
  try {
    await step;
  } catch (err) {
    if (!isErrnoCode(err, 'ENOENT')) throw err;
  }
}

/**
 * Make the renames durable: fsync the directory. Platforms that cannot fsync a directory
 * (EISDIR, EINVAL, EPERM on some file systems) only lose durability of the rename, not data.
 */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    if (!isErrnoCode(err, 'EISDIR') && !isErrnoCode(err, 'EINVAL') && !isErrnoCode(err, 'EPERM')) throw err;
  } finally {
    await handle.close();
  }
}
