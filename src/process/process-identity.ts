/**
 * Which process owns a file kubepair leaves in a runtime directory, told apart from a later
 * process that happens to get the same pid (issue 10, "Kubeconfig left behind"; docs/design.md §6).
 *
 * A process is named by its pid, its start time and the boot it runs in. On Linux the start
 * time is field 22 of /proc/PID/stat (clock ticks after boot) and the boot is the first 8 hex
 * digits of /proc/sys/kernel/random/boot_id; a pid that is alive but started at another time,
 * or a file from another boot, belongs to a process that is gone. Where /proc is missing both
 * are recorded as unknown (`0`), and then a live pid is always taken for the owner: a stale
 * file may stay longer, but a live one is never taken for stale.
 *
 * Untrusted input: the identities parsed from file names (validated by the caller's pattern and
 * range-checked here before a pid is signalled) and the contents of /proc.
 */
import { readFileSync } from 'node:fs';

export interface ProcessIdentity {
  readonly pid: number;
  /** Start time in clock ticks after boot, as decimal digits; `0` when unknown. */
  readonly startTime: string;
  /** First 8 hex digits of the boot id; `00000000` when unknown. */
  readonly boot: string;
}

const UNKNOWN_START = '0';
const UNKNOWN_BOOT = '00000000';
/** Highest pid Linux hands out (PID_MAX_LIMIT, 2^22); other systems stay below it too. */
const PID_MAX = 4_194_304;

/** Start time of `pid` from /proc, or undefined when it cannot be read (no /proc, or no such process). */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // no /proc here, or the process is gone
  }
  // Field 2, the command name, is in parentheses and may itself hold spaces and ')': the
  // fields that follow start after the last ')'. Field 3 is then index 0, field 22 index 19.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = fields[19];
  return start !== undefined && /^[0-9]{1,20}$/.test(start) ? start : undefined;
}

function readBoot(): string {
  try {
    const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().toLowerCase();
    return /^[0-9a-f]{8}-/.test(id) ? id.slice(0, 8) : UNKNOWN_BOOT;
  } catch {
    return UNKNOWN_BOOT; // not Linux
  }
}

let current: ProcessIdentity | undefined;

/** This process. */
export function currentProcessIdentity(): ProcessIdentity {
  current ??= { pid: process.pid, startTime: processStartTime(process.pid) ?? UNKNOWN_START, boot: readBoot() };
  return current;
}

export function sameProcess(a: ProcessIdentity, b: ProcessIdentity): boolean {
  return a.pid === b.pid && a.startTime === b.startTime && a.boot === b.boot;
}

/** True when a pid of that number exists (ours or another user's). */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // it exists, but belongs to someone else
  }
}

/**
 * Whether the process `owner` names still runs. `gone` only when that is certain: another
 * boot, no process with that pid, or one that started at another time.
 */
export function ownerState(owner: ProcessIdentity, self: ProcessIdentity = currentProcessIdentity()): 'alive' | 'gone' {
  // pid 0 and -1 would address a process group or every process: never signal those.
  if (!Number.isSafeInteger(owner.pid) || owner.pid < 1 || owner.pid > PID_MAX) return 'alive';
  if (owner.boot !== UNKNOWN_BOOT && self.boot !== UNKNOWN_BOOT && owner.boot !== self.boot) return 'gone';
  if (!pidExists(owner.pid)) return 'gone';
  if (owner.startTime === UNKNOWN_START) return 'alive';
  const start = processStartTime(owner.pid);
  if (start === undefined) return pidExists(owner.pid) ? 'alive' : 'gone';
  return start === owner.startTime ? 'alive' : 'gone';
}
