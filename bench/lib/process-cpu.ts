/**
 * CPU time used by processes and their descendants, read from Linux's /proc (user + system
 * time, `utime` and `stime` of /proc/PID/stat, in clock ticks of 10 ms). Wall time on a shared
 * 2-core machine moves with everyone else's load; the CPU a tunnel burns per byte or per
 * request moves much less, so the benchmark reports both. Returns undefined off Linux.
 */
import { readFile, readdir } from 'node:fs/promises';

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux architecture Node supports

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime, in clock ticks. */
  readonly ticks: number;
}

async function readStat(pid: number): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // the process ended between listing and reading: it used no more CPU
  }
  // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the name: state(3) ppid(4) ... utime(14) stime(15), so index = field number - 3.
  return { pid, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** Seconds of CPU (user + system) used so far by `roots` and all their live descendants. */
export async function treeCpuSeconds(roots: readonly number[]): Promise<number | undefined> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return undefined;
  }
  const stats = (await Promise.all(entries.filter((name) => /^\d+$/.test(name)).map((name) => readStat(Number(name))))).filter(
    (stat): stat is ProcStat => stat !== undefined,
  );
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const byPid = new Map(stats.map((stat) => [stat.pid, stat]));
  let ticks = 0;
  const seen = new Set<number>();
  const visit = (pid: number): void => {
    if (seen.has(pid)) return;
    seen.add(pid);
    ticks += byPid.get(pid)?.ticks ?? 0;
    for (const child of children.get(pid) ?? []) visit(child.pid);
  };
  for (const root of roots) visit(root);
  return ticks / CLOCK_TICKS_PER_SECOND;
}
