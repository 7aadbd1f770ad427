/**
 * Make a running process's file writes fail for real, and heal them again, from outside: its
 * RLIMIT_FSIZE soft limit, set with util-linux `prlimit --pid`. A write at or past the limit
 * fails with EFBIG (Node ignores SIGXFSZ), as a write to a full disk fails with ENOSPC: the
 * kernel refuses it, not a mock. Why this and not the alternatives: the tests run as root,
 * which ignores file modes (a read-only file stays writable); /dev/full is not a regular file
 * (the audit log refuses it); a small tmpfs to fill cannot be mounted here; `chattr +i` needs
 * CAP_LINUX_IMMUTABLE and an ext filesystem. Only the soft limit is lowered, so it can be raised
 * back up to the (unlimited) hard limit.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PRLIMIT_TIMEOUT_MS = 10_000;

/** From now on `pid` cannot write a byte at or beyond offset `bytes` of any file. */
export async function limitFileSize(pid: number, bytes: number): Promise<void> {
  await run('prlimit', ['--pid', String(pid), `--fsize=${bytes}:`], { timeout: PRLIMIT_TIMEOUT_MS });
}

/** Lift the limit again: writes of any size succeed. */
export async function liftFileSizeLimit(pid: number): Promise<void> {
  await run('prlimit', ['--pid', String(pid), '--fsize=unlimited:'], { timeout: PRLIMIT_TIMEOUT_MS });
}
