/**
 * One writer per audit file, across processes (docs/design.md §6; docs/audit.md "One writer per
 * file"). Two `share` processes appending to one chained file interleave two chains, which
 * `kubepair audit verify` then reports as replaced records — it reads as tampering. The writer
 * of `DIR/NAME` therefore holds the lock file `DIR/.NAME.lock` for as long as the log is open.
 *
 * Why a lock file and not flock(2): Node has no flock or fcntl lock without a native addon, and
 * a helper process holding the lock for us would outlive a SIGKILLed parent. A lock file works
 * on every platform kubepair runs on; what it needs in exchange is a safe way to recognise and
 * take over the lock of a process that died without removing it:
 *
 * - **Created whole.** The lock's content (pid, the process's start identity, host, a random
 *   nonce) is written and synced to a private temporary file first, then hard-linked to the lock
 *   name. link(2) fails with EEXIST when the name exists, exactly like O_CREAT|O_EXCL, and a
 *   reader never sees a lock without its content.
 * - **Stale only when provably dead.** A lock is stale when it names this host and its pid is
 *   not running, or is running but started at another time (the pid was reused: Linux compares
 *   the boot id and the start time from /proc/PID/stat). A lock from another host, or one whose
 *   owner may be alive, is never taken over: the second writer is refused, with the pid.
 * - **Taken over under a guard.** Removing a stale lock and creating a new one are two steps; two
 *   processes that found the same stale lock could otherwise remove each other's fresh lock.
 *   Only the holder of `DIR/.NAME.lock.takeover` (created the same exclusive way) may remove a
 *   lock, and it does so only after re-reading it under the guard and finding the very file
 *   (same inode, same nonce) it judged stale. Creating a lock never removes anything, so nobody
 *   can replace the stale lock between that check and the unlink. A guard left by a process
 *   killed inside those few system calls is not guessed about: the writer is refused with the
 *   path to remove.
 *
 * Rotation renames only `NAME` and `NAME.<n>`; the lock belongs to the name and survives it.
 * The lock file's content is untrusted (any local process of this user can write it).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubepairError } from '../errors/index.js';
import { AUDIT_LOCK_ATTEMPTS, AUDIT_LOCK_MAX_BYTES, AUDIT_LOCK_RETRY_MS } from '../limits.js';
import { isErrnoCode } from './file-tail.js';

/** What a lock file says about its writer. */
export interface LockOwner {
  readonly pid: number;
  /** Start identity of that process (`linux:<boot id>:<start time>`), '' where the platform has none. */
  readonly started: string;
  readonly host: string;
  /** Random, so a writer recognises its own lock and a taker-over the exact lock it judged. */
  readonly nonce: string;
}

/** The lock a writer holds on one audit file; `release` removes it (if it is still this writer's). */
export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

const LOCK_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const LOCK_MODE = 0o600;

/** The lock file of the audit log at `logPath`: hidden, so shippers tailing `NAME*` skip it. */
export function writerLockPath(logPath: string): string {
  return join(dirname(logPath), `.${basename(logPath)}.lock`);
}

/** The guard that serializes taking over a stale lock. */
function takeoverGuardPath(lockPath: string): string {
  return `${lockPath}.takeover`;
}

/**
 * Become the one writer of `logPath`, taking over a stale lock. Throws KP_ERR_AUDIT_LOCKED
 * naming the file and the other writer's pid when another process holds it; KP_ERR_AUDIT_WRITE
 * when the lock cannot be created at all. The directory must exist.
 */
export async function acquireWriterLock(logPath: string): Promise<HeldLock> {
  const lockPath = writerLockPath(logPath);
  const started = await processStartIdentity(process.pid);
  const me = ownerRecord(started);
  // Each round either creates the lock, refuses, or removed a stale lock (or waited for someone
  // else's takeover) since the last round; the bound only stops a pathological livelock.
  for (let attempt = 0; attempt < AUDIT_LOCK_ATTEMPTS; attempt++) {
    if (await createExclusively(lockPath, me)) {
      return { path: lockPath, release: () => releaseIfMine(lockPath, me.nonce) };
    }
    const found = await readLock(lockPath);
    if (found === undefined) continue; // removed since: try again
    const verdict = await judge(found.owner);
    if (verdict === 'alive') throw lockedError(logPath, lockPath, found.owner);
    if (!(await removeStaleLock(lockPath, found, ownerRecord(started)))) await sleep(AUDIT_LOCK_RETRY_MS);
  }
  throw new KubepairError('KP_ERR_AUDIT_LOCKED', `${logPath}: the lock ${lockPath} kept changing hands; try again`);
}

/** This process as a lock's owner, with a fresh nonce. */
function ownerRecord(started: string): LockOwner {
  return { pid: process.pid, started, host: hostname(), nonce: randomBytes(16).toString('hex') };
}

/** A lock file as read: its owner, or undefined content when it is not a kubepair lock. */
interface FoundLock {
  readonly ino: number;
  readonly owner: LockOwner | undefined;
}

/**
 * Write `owner` to a temporary file and link it to `path`; false when `path` exists. The
 * temporary file is synced first, so a crash of the machine cannot leave an empty lock.
 */
async function createExclusively(path: string, owner: LockOwner): Promise<boolean> {
  const temporary = `${path}.${owner.pid}.${owner.nonce}.tmp`;
  const handle = await open(temporary, LOCK_FLAGS, LOCK_MODE).catch((err: unknown) => {
    throw new KubepairError('KP_ERR_AUDIT_WRITE', `cannot create the lock file ${temporary}`, { cause: err });
  });
  try {
    try {
      await handle.writeFile(JSON.stringify(owner) + '\n');
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await link(temporary, path);
    return true;
  } catch (err) {
    if (isErrnoCode(err, 'EEXIST')) return false;
    throw new KubepairError('KP_ERR_AUDIT_WRITE', `cannot create the lock file ${path}`, { cause: err });
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

/** The lock at `path`, undefined when there is none. Content that is not a lock has no owner. */
async function readLock(path: string): Promise<FoundLock | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (isErrnoCode(err, 'ENOENT')) return undefined;
    throw new KubepairError('KP_ERR_AUDIT_WRITE', `cannot read the lock file ${path}`, { cause: err });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > AUDIT_LOCK_MAX_BYTES) return { ino: info.ino, owner: undefined };
    const text = await handle.readFile('utf8');
    return { ino: info.ino, owner: parseOwner(text) };
  } finally {
    await handle.close();
  }
}

function parseOwner(text: string): LockOwner | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { pid, started, host, nonce } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(pid) || (pid as number) <= 0) return undefined;
  if (typeof started !== 'string' || typeof host !== 'string' || typeof nonce !== 'string') return undefined;
  return { pid: pid as number, started, host, nonce };
}

/**
 * Whether the writer a lock names may still be running. Only a provably dead writer is stale:
 * its pid is not running on this host, or it is running but is another process (another start
 * identity). An unreadable lock, another host, or a process we cannot identify count as alive.
 */
async function judge(owner: LockOwner | undefined): Promise<'alive' | 'stale'> {
  if (owner === undefined || owner.host !== hostname()) return 'alive';
  // Our own pid: this process holds no lock on the file (AuditLog refuses a second open in one
  // process first), so the lock is a dead process's whose pid we now have.
  if (owner.pid === process.pid) return 'stale';
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if (isErrnoCode(err, 'ESRCH')) return 'stale';
    // EPERM: the pid runs under another user; it exists, so it may be the writer.
  }
  const now = await processStartIdentity(owner.pid);
  if (now === PROCESS_EXITED) return 'stale';
  if (owner.started === '' || now === '') return 'alive';
  return now === owner.started ? 'alive' : 'stale';
}

/**
 * Remove the stale lock `found`, under the takeover guard, if it is still the same file. True
 * when the caller may try to create the lock again at once; false when someone else is taking
 * over (the caller waits a moment).
 */
async function removeStaleLock(lockPath: string, found: FoundLock, me: LockOwner): Promise<boolean> {
  const guardPath = takeoverGuardPath(lockPath);
  if (!(await createExclusively(guardPath, me))) {
    const guard = await readLock(guardPath);
    if (guard === undefined || (await judge(guard.owner)) === 'alive') return false;
    throw new KubepairError(
      'KP_ERR_AUDIT_LOCKED',
      `a kubepair process (pid ${guard.owner?.pid ?? 'unknown'}) died while taking over ${lockPath}; if no kubepair process writes this log, remove ${guardPath}`,
    );
  }
  try {
    // Under the guard nobody else removes the lock, and nobody can create one while it exists:
    // if it is still the file judged stale, it is that file we unlink.
    const again = await readLock(lockPath);
    if (again === undefined) return true;
    if (again.ino !== found.ino || again.owner?.nonce !== found.owner?.nonce) return true;
    await unlink(lockPath).catch((err: unknown) => {
      if (!isErrnoCode(err, 'ENOENT')) throw new KubepairError('KP_ERR_AUDIT_WRITE', `cannot remove the stale lock ${lockPath}`, { cause: err });
    });
    return true;
  } finally {
    await releaseIfMine(guardPath, me.nonce);
  }
}

/** Remove the lock at `path` if it still carries `nonce`; someone else's lock is left alone. */
async function releaseIfMine(path: string, nonce: string): Promise<void> {
  const found = await readLock(path).catch(() => undefined);
  if (found?.owner?.nonce !== nonce) return;
  await unlink(path).catch((err: unknown) => {
    if (!isErrnoCode(err, 'ENOENT')) throw new KubepairError('KP_ERR_AUDIT_WRITE', `cannot remove the lock ${path}`, { cause: err });
  });
}

function lockedError(logPath: string, lockPath: string, owner: LockOwner | undefined): KubepairError {
  if (owner === undefined) {
    return new KubepairError('KP_ERR_AUDIT_LOCKED', `${logPath}: ${lockPath} is not a kubepair lock; remove it if no other process writes this log`);
  }
  const where = owner.host === hostname() ? '' : ` on host ${owner.host.slice(0, 64)}`;
  return new KubepairError('KP_ERR_AUDIT_LOCKED', `${logPath} is written by pid ${owner.pid}${where}; give each share its own --audit-log`);
}

/** What processStartIdentity says of a process that has exited (gone, or a zombie nobody reaped yet). */
const PROCESS_EXITED = 'exited';

/**
 * What identifies a running process beyond its pid, so a reused pid is not mistaken for the
 * writer: on Linux the boot id and the start time in clock ticks (field 22 of /proc/PID/stat);
 * PROCESS_EXITED for a process that is gone or a zombie; '' where the platform offers nothing.
 */
export async function processStartIdentity(pid: number): Promise<string> {
  if (process.platform !== 'linux') return '';
  let bootId: string;
  try {
    bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return ''; // no procfs: nothing to compare
  }
  let statText: string;
  try {
    statText = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    // procfs answered above, so a missing entry means the process is gone.
    return isErrnoCode(err, 'ENOENT') || isErrnoCode(err, 'ESRCH') ? PROCESS_EXITED : '';
  }
  // Field 2 (the command name, in parentheses) may hold spaces and parentheses: fields 3 on
  // start after the LAST ')'. Field 3 is the state (Z: a zombie, it has exited), field 22 the
  // start time, the 20th after the name.
  const fields = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return PROCESS_EXITED;
  const startTicks = fields[19];
  if (startTicks === undefined || !/^\d{1,20}$/.test(startTicks)) return '';
  return `linux:${bootId}:${startTicks}`;
}
