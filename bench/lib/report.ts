/**
 * Shared benchmark helpers: statistics over repeated runs, a description of this machine, and
 * rewriting one marked section of docs/performance.md so each benchmark owns its own table.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: sorted.length };
}

/** "CPU model (N cores), Node vX" for the results table. */
export function describeMachine(): string {
  const list = cpus();
  return `${list[0]?.model.trim() ?? 'unknown CPU'} (${list.length} cores), Node ${process.version}, ${process.platform}/${process.arch}`;
}

/** The repository root, found from the compiled benchmark under build/bench/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    if (dir.endsWith('/build')) return dirname(dir);
    dir = dirname(dir);
  }
  return process.cwd();
}

/**
 * Replace the text between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` in
 * docs/performance.md (appending the section when missing), written atomically.
 */
export async function updatePerformanceSection(name: string, markdown: string): Promise<string> {
  const path = join(repoRoot(), 'docs', 'performance.md');
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  let text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '# Performance\n';
    throw err;
  });
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  text = from >= 0 && to > from ? text.slice(0, from) + block + text.slice(to + end.length) : `${text.trimEnd()}\n\n${block}\n`;
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
  return path;
}

export function formatNumber(value: number, digits = 1): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
