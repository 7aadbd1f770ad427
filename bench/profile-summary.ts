/**
 * Summarise V8 CPU profiles (`node --cpu-prof`, or `npm run bench -- --profile DIR`) as text:
 * per profile, the share of samples that were idle, garbage collection, or program time, and
 * the functions with the most self time and the most total (inclusive) time; a flame graph in
 * words, for docs/performance.md. Usage: `node build/bench/profile-summary.js FILE... [--top N]`.
 * Input: profile files this machine wrote; parsed as JSON and checked for the fields used.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

function isProfile(value: unknown): value is CpuProfile {
  const v = value as Partial<CpuProfile> | null;
  return typeof v === 'object' && v !== null && Array.isArray(v.nodes) && Array.isArray(v.samples) && Array.isArray(v.timeDeltas);
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url === '' ? '' : ` ${url.replace(/^file:\/\/.*?\/(node_modules|build)\//, '$1/').replace(/^node:/, 'node:')}:${lineNumber + 1}`;
  return `${functionName === '' ? '(anonymous)' : functionName}${file}`;
}

export interface ProfileSummary {
  readonly seconds: number;
  readonly idle: number;
  readonly gc: number;
  readonly program: number;
  readonly self: ReadonlyArray<[string, number]>;
  readonly total: ReadonlyArray<[string, number]>;
}

export function summarizeProfile(profile: CpuProfile, top: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfTime = new Map<string, number>();
  const totalTime = new Map<string, number>();
  let all = 0;
  let idle = 0;
  let gc = 0;
  let program = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0; // a sample's time is the gap to the next one
    const node = byId.get(profile.samples[i]!);
    if (node === undefined) continue;
    all += dt;
    const name = node.callFrame.functionName;
    if (name === '(idle)') idle += dt;
    else if (name === '(garbage collector)') gc += dt;
    else if (name === '(program)') program += dt;
    const key = frameName(node);
    selfTime.set(key, (selfTime.get(key) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = frameName(byId.get(id)!);
      if (seen.has(frame)) continue;
      seen.add(frame);
      totalTime.set(frame, (totalTime.get(frame) ?? 0) + dt);
    }
  }
  const share = (entries: Map<string, number>): Array<[string, number]> =>
    [...entries]
      .filter(([name]) => !name.startsWith('(root)') && !name.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, time]) => [name, time / Math.max(1, all - idle)]);
  return { seconds: all / 1e6, idle: idle / Math.max(1, all), gc: gc / Math.max(1, all), program: program / Math.max(1, all), self: share(selfTime), total: share(totalTime) };
}

async function main(argv: readonly string[]): Promise<void> {
  let top = 25;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--top') top = Number(argv[++i]);
    else files.push(argv[i]!);
  }
  if (files.length === 0 || !Number.isInteger(top) || top < 1) {
    process.stderr.write('usage: node build/bench/profile-summary.js FILE.cpuprofile... [--top N]\n');
    process.exitCode = 2;
    return;
  }
  for (const file of files) {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (!isProfile(parsed)) throw new Error(`${file}: not a V8 CPU profile`);
    const s = summarizeProfile(parsed, top);
    const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
    process.stdout.write(`\n== ${basename(file)}: ${s.seconds.toFixed(1)} s sampled, idle ${pct(s.idle)}, GC ${pct(s.gc)}, (program) ${pct(s.program)}\n`);
    process.stdout.write('-- self time (share of busy time)\n');
    for (const [name, share] of s.self) process.stdout.write(`${pct(share).padStart(7)}  ${name}\n`);
    process.stdout.write('-- total time (share of busy time)\n');
    for (const [name, share] of s.total) process.stdout.write(`${pct(share).padStart(7)}  ${name}\n`);
  }
}

await main(process.argv.slice(2));
