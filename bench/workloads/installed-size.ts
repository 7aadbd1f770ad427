/**
 * Workload `size` (issue 15, start-up): what `npm install -g` of the package takes on disk.
 * `npm pack` of this checkout (its prepack step is scripts/bundle.mjs), then `npm install -g
 * --prefix DIR` of the tarball into an empty prefix (the native dependencies come from the
 * registry or npm's cache), then `du -sk DIR`: the whole prefix, as a user's `du` would count
 * it. One run: the files are the same every time, so there is nothing to take a median of.
 * Headline: `installed_size_mb` (10^6 bytes), `package_tarball_kb`. npm runs with the
 * developer's own configuration (registry, cache), without the npm_* variables `npm run bench`
 * sets, each run bounded.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../../test/helpers/paths.js';
import { formatNumber } from '../lib/report.js';
import type { WorkloadContext, WorkloadResult } from './workload.js';
import { measurement } from './workload.js';

/** `npm pack` (bundling) and `npm install -g` (a few packages) each, in ms. */
const NPM_TIMEOUT_MS = 300_000;
/** `du` of the prefix, in ms. */
const DU_TIMEOUT_MS = 30_000;

/** Run a command to its end (bounded); its stdout, or an error naming it with its stderr. */
function run(command: string, args: readonly string[], cwd: string, timeoutMs: number): string {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  const result = spawnSync(command, [...args], { cwd, env, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 });
  if (result.error !== undefined) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status ?? result.signal}: ${result.stderr.slice(-2000)}`);
  return result.stdout;
}

export async function runInstalledSize(context: WorkloadContext): Promise<WorkloadResult> {
  const dir = await mkdtemp(join(tmpdir(), 'kubepair-bench-size-'));
  try {
    const packed = run('npm', ['pack', '--json', '--pack-destination', dir], repoPath('.'), NPM_TIMEOUT_MS);
    const [report] = JSON.parse(packed) as Array<{ filename: string; size: number }>;
    if (report === undefined) throw new Error(`npm pack reported nothing: ${packed.slice(0, 2000)}`);
    const prefix = join(dir, 'prefix');
    run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error', join(dir, report.filename)], dir, NPM_TIMEOUT_MS);
    const kib = Number(/^(\d+)\s/.exec(run('du', ['-sk', prefix], dir, DU_TIMEOUT_MS))?.[1]);
    if (!Number.isFinite(kib)) throw new Error(`du -sk ${prefix} gave no size`);
    const installedMb = (kib * 1024) / 1e6;
    const tarballKb = report.size / 1e3;
    context.log(`size: npm install -g takes ${formatNumber(installedMb, 1)} MB (du -sk: ${kib} KiB); the tarball ${formatNumber(tarballKb, 0)} kB`);
    return {
      measurements: [
        measurement({ id: 'installed_size_mb', label: 'installed size: `npm install -g` of the packed tarball (`du -sk` of the prefix)', unit: 'MB', better: 'lower', digits: 1 }, new Map([['kubepair', [installedMb]]])),
        measurement({ id: 'package_tarball_kb', label: 'package: `npm pack` tarball', unit: 'kB', better: 'lower', digits: 0 }, new Map([['kubepair', [tarballKb]]])),
      ],
      headline: { installed_size_mb: installedMb, package_tarball_kb: tarballKb },
      skipped: [],
      notes: ['installed size: one run (the same files every time); MB = 10^6 bytes, of the disk blocks `du -sk` counts for the whole prefix (kubepair, its native dependencies, the bin link).'],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
