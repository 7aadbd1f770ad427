/**
 * What every workload of the side-by-side benchmark (issue 6) gets and gives back: the tunnels
 * to compare, the number of runs, a log line writer; and measurements (one figure per tunnel,
 * each the summary of its runs), headline numbers for bench/results/latest.json, and what it
 * had to skip.
 */
import type { Summary } from '../lib/report.js';
import { summarize } from '../lib/report.js';
import type { ProcessCost } from '../lib/process-cost.js';
import type { Tunnel } from '../lib/tunnel.js';

export interface Measurement {
  /** Stable id, e.g. `bulk_mbps` (results JSON). */
  readonly id: string;
  /** What was measured, for the table. */
  readonly label: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  /** Decimals shown in the table. */
  readonly digits: number;
  /** Per tunnel name: summary of the runs with the samples. */
  readonly byTunnel: Readonly<Record<string, SampleSummary>>;
}

export interface SampleSummary extends Summary {
  readonly samples: readonly number[];
}

export interface Skip {
  readonly what: string;
  readonly why: string;
}

export interface WorkloadResult {
  readonly measurements: readonly Measurement[];
  /** Top-level numbers for latest.json (null: could not be measured; see skipped). */
  readonly headline: Readonly<Record<string, number | null>>;
  readonly skipped: readonly Skip[];
  /** Extra lines for the report (how it was measured, caveats). */
  readonly notes: readonly string[];
  /**
   * The docs/performance.md section (between `bench:NAME` markers) that shows this workload's
   * measurements and notes, instead of the suite's table: its name and the paths' labels.
   */
  readonly section?: { readonly name: string; readonly title: string; readonly pathLabels: Readonly<Record<string, string>> };
}

export interface WorkloadContext {
  /** Counted runs per figure (at least 5 for a published result). */
  readonly runs: number;
  /** Count the tunnel processes' instructions with perf (when it works on this machine). */
  readonly countInstructions: boolean;
  log(line: string): void;
}

export function sampleSummary(samples: readonly number[]): SampleSummary {
  return { ...summarize(samples), samples: [...samples] };
}

/** Median of one tunnel's figure, or null when it was not measured. */
export function medianOf(measurement: Measurement | undefined, tunnel: string): number | null {
  return measurement?.byTunnel[tunnel]?.median ?? null;
}

/**
 * `a / b` of two medians (each of the same interleaved runs), or null when either is missing
 * or `b` is not above zero (an added latency at or under direct's has no meaningful ratio).
 */
export function ratioOf(a: number | null, b: number | null): number | null {
  return a !== null && b !== null && b > 0 ? a / b : null;
}

/** Figures of one run through one tunnel, by metric id. */
export type RunFigures = Readonly<Record<string, number>>;

/** Samples by metric id, then by tunnel name. */
export type RunSamples = Map<string, Map<string, number[]>>;

/**
 * Run `once(tunnel)` for every tunnel, one untimed warm-up round and then `runs` counted rounds;
 * the order of the tunnels rotates every round so a change in the machine's load does not
 * always hit the same one. Returns the counted samples by metric and tunnel.
 */
export async function interleavedRuns(
  context: WorkloadContext,
  what: string,
  tunnels: readonly Tunnel[],
  once: (tunnel: Tunnel) => Promise<RunFigures>,
  format: (figures: RunFigures, tunnel: Tunnel) => string,
): Promise<RunSamples> {
  const samples: RunSamples = new Map();
  for (let round = 0; round <= context.runs; round++) {
    const parts: string[] = [];
    for (let i = 0; i < tunnels.length; i++) {
      const tunnel = tunnels[(i + round) % tunnels.length]!;
      const figures = await once(tunnel);
      if (round > 0) {
        for (const [metric, value] of Object.entries(figures)) {
          const byTunnel = samples.get(metric) ?? new Map<string, number[]>();
          samples.set(metric, byTunnel);
          byTunnel.set(tunnel.name, [...(byTunnel.get(tunnel.name) ?? []), value]);
        }
      }
      parts.push(`${tunnel.name} ${format(figures, tunnel)}`);
    }
    context.log(`${what} ${round === 0 ? 'warm-up' : `run ${round}/${context.runs}`}: ${parts.join('; ')}`);
  }
  return samples;
}

/** Wrap per-tunnel samples as a measurement. */
export function measurement(
  fields: Omit<Measurement, 'byTunnel'>,
  samples: ReadonlyMap<string, readonly number[]> | undefined,
): Measurement {
  const byTunnel: Record<string, SampleSummary> = {};
  for (const [name, values] of samples ?? []) if (values.length > 0) byTunnel[name] = sampleSummary(values);
  return { ...fields, byTunnel };
}

/**
 * Run figures `cpu_laptop`, `cpu_middle`, `cpu_target`: CPU seconds of the tunnel's processes on
 * each side per unit of work, `units` of it done (GiB for bulk; 1e-3 gives milliseconds per run).
 */
export function sideFigures(tunnel: Pick<Tunnel, 'processes'>, cpuSecondsByRoot: ReadonlyMap<number, number>, units: number): Record<string, number> {
  const figures: Record<string, number> = {};
  for (const process of tunnel.processes()) {
    const seconds = process.pid === undefined ? undefined : cpuSecondsByRoot.get(process.pid);
    if (seconds === undefined) continue;
    const key = `cpu_${process.side}`;
    figures[key] = (figures[key] ?? 0) + seconds / units;
  }
  return figures;
}

/** What a workload's process cost is counted per: a GiB moved, or one request. */
export type CostUnit = 'gib' | 'request';

const COST_UNITS = {
  gib: {
    cpu: { suffix: 'cpu_s_per_gib', unit: 'CPU s/GiB', digits: 2, scale: 1 },
    instructions: { suffix: 'ginstructions_per_gib', unit: 'G instr/GiB', digits: 1, scale: 1e-9 },
    per: 'per GiB',
  },
  request: {
    cpu: { suffix: 'cpu_us_per_request', unit: 'CPU µs', digits: 0, scale: 1e6 },
    instructions: { suffix: 'kinstructions_per_request', unit: 'k instr', digits: 0, scale: 1e-3 },
    per: 'per request',
  },
} as const;

/** Run figures `cpu` and `instructions`: the tunnel processes' cost per unit (`units` of them were done). */
export function costFigures(cost: ProcessCost, unit: CostUnit, units: number): Record<string, number> {
  const scales = COST_UNITS[unit];
  const figures: Record<string, number> = {};
  if (cost.cpuSeconds !== undefined) figures['cpu'] = (cost.cpuSeconds * scales.cpu.scale) / units;
  if (cost.instructions !== undefined) figures['instructions'] = (cost.instructions * scales.instructions.scale) / units;
  return figures;
}

/**
 * The measurements of the `cpu` and `instructions` run figures of `workload` (ids such as
 * `bulk_cpu_s_per_gib`); `published` leaves out instructions when perf counted none.
 */
export function costMeasurements(workload: string, unit: CostUnit, samples: RunSamples): { cpu: Measurement; instructions: Measurement; published: Measurement[] } {
  const { cpu: cpuUnit, instructions: instructionsUnit, per } = COST_UNITS[unit];
  const cpu = measurement(
    { id: `${workload}_${cpuUnit.suffix}`, label: `${workload}: CPU of the tunnel processes ${per}`, unit: cpuUnit.unit, better: 'lower', digits: cpuUnit.digits },
    samples.get('cpu'),
  );
  const instructions = measurement(
    { id: `${workload}_${instructionsUnit.suffix}`, label: `${workload}: instructions of the tunnel processes ${per} (perf)`, unit: instructionsUnit.unit, better: 'lower', digits: instructionsUnit.digits },
    samples.get('instructions'),
  );
  return { cpu, instructions, published: [cpu, ...(Object.keys(instructions.byTunnel).length > 0 ? [instructions] : [])] };
}
