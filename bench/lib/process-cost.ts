/**
 * What the processes of a tunnel spent while a workload ran through it: CPU time from Linux's
 * /proc (user + system, `utime` + `stime` of /proc/PID/stat, 10 ms ticks; with `precise`, the
 * live threads' schedstat in nanoseconds) and, where `perf`
 * works, retired instructions (`perf stat -e instructions`, user and kernel) counted only
 * between the workload's start and end. Wall time on a shared 2-core machine moves with
 * everyone else's load; CPU per byte moves less, and instructions per byte hardly at all, so
 * before/after comparisons use them. Everything is off Linux or without perf: undefined.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { readFile, readdir } from 'node:fs/promises';
import { within } from '../../test/helpers/relay-process.js';

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux architecture Node supports
const PERF_CONTROL_TIMEOUT_MS = 10_000;

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
    return undefined; // the process ended between listing and reading: it uses no more CPU
  }
  // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the name come state(3) ppid(4) ... utime(14) stime(15): index = field number - 3.
  return { pid, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** Every live process with its CPU ticks; undefined without /proc. */
async function allProcesses(): Promise<ProcStat[] | undefined> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return undefined;
  }
  return (await Promise.all(entries.filter((name) => /^\d+$/.test(name)).map((name) => readStat(Number(name))))).filter((stat): stat is ProcStat => stat !== undefined);
}

/**
 * Each of `roots` with its live descendants, by root, from one reading of /proc (a process
 * under two roots counts under the first); undefined without /proc.
 */
async function processTrees(roots: readonly number[]): Promise<Map<number, ProcStat[]> | undefined> {
  const stats = await allProcesses();
  if (stats === undefined) return undefined;
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const byPid = new Map(stats.map((stat) => [stat.pid, stat]));
  const seen = new Set<number>();
  const trees = new Map<number, ProcStat[]>();
  for (const root of roots) {
    const tree: ProcStat[] = [];
    const visit = (pid: number): void => {
      const stat = byPid.get(pid);
      if (stat === undefined || seen.has(pid)) return;
      seen.add(pid);
      tree.push(stat);
      for (const child of children.get(pid) ?? []) visit(child.pid);
    };
    visit(root);
    trees.set(root, tree);
  }
  return trees;
}

/** CPU seconds (user + system) one process used so far; undefined without /proc or once it ended. */
export async function processCpuSeconds(pid: number): Promise<number | undefined> {
  const stat = await readStat(pid);
  return stat === undefined ? undefined : stat.ticks / CLOCK_TICKS_PER_SECOND;
}

/** CPU seconds each of `roots` used so far with its live descendants, by root. */
async function cpuSecondsByRoot(roots: readonly number[], precise = false): Promise<Map<number, number> | undefined> {
  const trees = await processTrees(roots);
  if (trees === undefined) return undefined;
  if (!precise) return new Map([...trees].map(([root, tree]) => [root, tree.reduce((sum, stat) => sum + stat.ticks, 0) / CLOCK_TICKS_PER_SECOND]));
  const byRoot = new Map<number, number>();
  for (const [root, tree] of trees) {
    const seconds = await Promise.all(tree.map((stat) => threadRunSeconds(stat.pid)));
    byRoot.set(root, seconds.reduce((sum, value) => sum + value, 0));
  }
  return byRoot;
}

/**
 * The time on a CPU of one process's live threads so far, in seconds, to the nanosecond: the
 * first field of each /proc/PID/task/TID/schedstat. Threads that ended are not counted (a
 * Node.js process keeps its threads), which suits short measurements where 10 ms ticks are too
 * coarse: a kubectl run costs a tunnel 5-60 ms. 0 for a process that ended.
 */
async function threadRunSeconds(pid: number): Promise<number> {
  let threads: string[];
  try {
    threads = await readdir(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  const nanoseconds = await Promise.all(threads.map((tid) => readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').then((text) => Number(text.split(' ')[0]), () => 0)));
  return nanoseconds.reduce((sum, value) => sum + value, 0) / 1e9;
}

/** Why instruction counts cannot be taken here, or undefined when `perf stat` works. */
export function perfUnavailableReason(): string | undefined {
  const probe = spawnSync('perf', ['stat', '-x,', '-e', 'instructions', 'true'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error !== undefined) return `perf not runnable (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message}); apt-get install linux-perf`;
  if (!/^\d+,[^,]*,instructions/m.test(probe.stderr)) return `perf cannot count instructions here: ${probe.stderr.trim().split('\n')[0] ?? ''}`;
  return undefined;
}

/** `perf stat` attached to `pids`, counting only between enable() and stop(). */
class InstructionCounter {
  readonly #child;
  readonly #control: Writable;
  readonly #ack: Readable;
  readonly #exited: Promise<string>;

  constructor(pids: readonly number[]) {
    // -D -1: attach with the counter disabled; --control fd:3,4: enable/disable on command, acknowledged.
    this.#child = spawn('perf', ['stat', '-x,', '-e', 'instructions', '-D', '-1', '--control', 'fd:3,4', '-p', pids.join(',')], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    });
    this.#control = this.#child.stdio[3] as Writable;
    this.#ack = this.#child.stdio[4] as Readable;
    let stderr = '';
    (this.#child.stderr as Readable).setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 64 * 1024) stderr += chunk;
    });
    this.#exited = new Promise((resolve, reject) => {
      this.#child.once('error', reject);
      this.#child.once('close', () => resolve(stderr));
    });
  }

  #command(command: 'enable' | 'disable'): Promise<void> {
    return within(
      PERF_CONTROL_TIMEOUT_MS,
      `perf to ${command} its counter`,
      new Promise<void>((resolve, reject) => {
        this.#ack.once('data', () => resolve());
        this.#child.once('close', () => reject(new Error('perf exited')));
        this.#control.write(`${command}\n`);
      }),
    );
  }

  enable(): Promise<void> {
    return this.#command('enable');
  }

  /** Disable, end perf, and return the instructions it counted. */
  async stop(): Promise<number | undefined> {
    await this.#command('disable');
    this.#child.kill('SIGINT');
    const output = await within(PERF_CONTROL_TIMEOUT_MS, 'perf to exit', this.#exited);
    const line = /^(\d+),[^,]*,instructions/m.exec(output);
    return line === null ? undefined : Number(line[1]);
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }
}

export interface ProcessCost {
  /** CPU seconds (user + system) the processes used during the work. */
  readonly cpuSeconds: number | undefined;
  /** The same for each root (with its descendants), by pid; empty without /proc. */
  readonly cpuSecondsByRoot: ReadonlyMap<number, number>;
  /** Instructions retired by the processes during the work (perf), user and kernel. */
  readonly instructions: number | undefined;
}

export interface ProcessCostOptions {
  /** Also count the instructions the processes retired (perf), where perf can. */
  readonly countInstructions?: boolean;
  /** CPU from the threads' schedstat (nanoseconds) instead of /proc/PID/stat's 10 ms ticks. */
  readonly precise?: boolean;
}

/** Run `work` and report what the process trees under `roots` spent meanwhile, in all and each. */
export async function measureProcessCost<T>(roots: readonly number[], work: () => Promise<T>, options: ProcessCostOptions = {}): Promise<{ result: T; cost: ProcessCost }> {
  const { countInstructions = false, precise = false } = options;
  if (roots.length === 0) return { result: await work(), cost: { cpuSeconds: undefined, cpuSecondsByRoot: new Map(), instructions: undefined } };
  const trees = countInstructions ? await processTrees(roots) : undefined;
  const pids = trees === undefined ? [] : [...trees.values()].flat().map((stat) => stat.pid);
  const counter = pids.length > 0 ? new InstructionCounter(pids) : undefined;
  try {
    await counter?.enable();
    const before = await cpuSecondsByRoot(roots, precise);
    const result = await work();
    const after = await cpuSecondsByRoot(roots, precise);
    const instructions = await counter?.stop();
    return { result, cost: { ...cpuSpent(before, after), instructions } };
  } finally {
    counter?.kill();
  }
}

/** CPU used between two readings, in all and by root (a root gone by the second reading counts nothing). */
export function cpuSpent(
  before: ReadonlyMap<number, number> | undefined,
  after: ReadonlyMap<number, number> | undefined,
): Pick<ProcessCost, 'cpuSeconds' | 'cpuSecondsByRoot'> {
  if (before === undefined || after === undefined) return { cpuSeconds: undefined, cpuSecondsByRoot: new Map() };
  const byRoot = new Map([...before].map(([root, seconds]): [number, number] => [root, Math.max(0, (after.get(root) ?? seconds) - seconds)]));
  return { cpuSeconds: [...byRoot.values()].reduce((sum, seconds) => sum + seconds, 0), cpuSecondsByRoot: byRoot };
}
