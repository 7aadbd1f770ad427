/**
 * Command-line options of `npm run bench` (bench/suite.bench.ts). Anything that makes the run
 * partial (fewer runs, some workloads, smaller transfers) also stops it from overwriting the
 * published results unless `--write` is given.
 */

export const WORKLOADS = ['bulk', 'latency', 'concurrency', 'hol', 'pairing', 'relay', 'kubectl', 'resume', 'resume-bulk', 'cluster', 'size'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

/** Runs per published figure (issue 6: the median of at least 5). */
export const PUBLISHED_RUNS = 5;

export interface SuiteOptions {
  readonly workloads: readonly WorkloadName[];
  readonly runs: number;
  /** Bulk transfer per run in MiB (default 1024). */
  readonly bulkMiB: number;
  readonly ssh: boolean;
  /** Count the tunnel processes' instructions with perf. */
  readonly instructions: boolean;
  /** Write bench/results and docs/performance.md. */
  readonly write: boolean;
  /** Also write the results JSON here (partial runs, before/after comparisons). */
  readonly jsonPath: string | undefined;
  /** Write CPU profiles of the kubepair processes into this directory. */
  readonly profileDir: string | undefined;
  /** Another build of the CLI (its main.js) the pairing workload times beside the package's. */
  readonly compareCli: string | undefined;
  readonly partial: boolean;
}

export const USAGE = `usage: npm run bench -- [options]

  --only LIST        workloads to run, comma-separated: ${WORKLOADS.join(', ')} (default: all)
  --runs N           counted runs per figure (default ${PUBLISHED_RUNS}; the median is published)
  --bulk-mib N       MiB per bulk run (default 1024)
  --no-ssh           skip the OpenSSH comparison
  --no-instructions  do not count instructions with perf
  --write            write bench/results and docs/performance.md even for a partial run
  --no-write         never write them
  --json FILE        also write the results JSON to FILE
  --profile DIR      run relay, share and connect with --cpu-prof, profiles into DIR
  --compare-cli FILE pairing: also time this build of the CLI (an earlier commit's
                     dist/cli/main.js, with the compile cache) as kubepair_compared
  --help             this text

A run is partial when --only, --runs below ${PUBLISHED_RUNS} or --bulk-mib is given; partial runs
print their results and write nothing unless --write or --json says so.`;

export class UsageError extends Error {}

function positiveInteger(flag: string, text: string | undefined, max: number): number {
  if (text === undefined || !/^\d{1,6}$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new UsageError(`${flag} needs a whole number from 1 to ${max}`);
  }
  return Number(text);
}

export function parseSuiteOptions(argv: readonly string[]): SuiteOptions | 'help' {
  let workloads: WorkloadName[] = [...WORKLOADS];
  let runs = PUBLISHED_RUNS;
  let bulkMiB = 1024;
  let ssh = true;
  let instructions = true;
  let write: boolean | undefined;
  let jsonPath: string | undefined;
  let profileDir: string | undefined;
  let compareCli: string | undefined;
  let partial = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    switch (arg) {
      case '--help':
      case '-h':
        return 'help';
      case '--only': {
        const names = value().split(',').map((name) => name.trim()).filter((name) => name !== '');
        const unknown = names.filter((name) => !(WORKLOADS as readonly string[]).includes(name));
        if (names.length === 0 || unknown.length > 0) throw new UsageError(`--only: unknown workload ${unknown.join(', ') || '(none given)'}; choose from ${WORKLOADS.join(', ')}`);
        workloads = WORKLOADS.filter((name) => names.includes(name));
        partial = true;
        break;
      }
      case '--runs':
        runs = positiveInteger(arg, value(), 100);
        if (runs < PUBLISHED_RUNS) partial = true;
        break;
      case '--bulk-mib':
        bulkMiB = positiveInteger(arg, value(), 4096);
        partial = true;
        break;
      case '--no-ssh':
        ssh = false;
        break;
      case '--no-instructions':
        instructions = false;
        break;
      case '--write':
        write = true;
        break;
      case '--no-write':
        write = false;
        break;
      case '--json':
        jsonPath = value();
        break;
      case '--profile':
        profileDir = value();
        break;
      case '--compare-cli':
        compareCli = value();
        partial = true;
        break;
      default:
        throw new UsageError(`unknown option ${arg}`);
    }
  }
  return { workloads, runs, bulkMiB, ssh, instructions, write: write ?? !partial, jsonPath, profileDir, compareCli, partial };
}
