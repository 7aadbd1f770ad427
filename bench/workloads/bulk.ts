/**
 * Workload 1, bulk (issue 6): 1 GiB one way through one connection (a download from the target's
 * source server, like `kubectl cp` from a pod), in MB/s (10^6 bytes per second), and what the
 * tunnel's own processes spent per GiB: CPU seconds and (with perf) billions of instructions.
 */
import { download } from '../lib/load.js';
import { measureProcessCost } from '../lib/process-cost.js';
import { formatNumber } from '../lib/report.js';
import type { Tunnel } from '../lib/tunnel.js';
import type { RunFigures, WorkloadContext, WorkloadResult } from './workload.js';
import { costFigures, costMeasurements, interleavedRuns, measurement, medianOf } from './workload.js';

export const BULK_BYTES = 1024 * 1024 * 1024; // 1 GiB
const BULK_TIMEOUT_MS = 180_000; // 3 min: 6 MB/s would be a broken tunnel, not a slow one

export interface BulkOptions {
  /** Bytes per run (default 1 GiB; smaller for quick iterations). */
  readonly bytes?: number;
}

export async function runBulk(context: WorkloadContext, tunnels: readonly Tunnel[], options: BulkOptions = {}): Promise<WorkloadResult> {
  const bytes = options.bytes ?? BULK_BYTES;
  const samples = await interleavedRuns(
    context,
    'bulk',
    tunnels,
    async (tunnel) => {
      const { result, cost } = await measureProcessCost(tunnel.rootPids(), context.countInstructions, () => download(tunnel.ports.source, bytes, BULK_TIMEOUT_MS));
      return { mbps: bytes / result.seconds / 1e6, ...costFigures(cost, 'gib', bytes / 2 ** 30) };
    },
    (figures: RunFigures) =>
      `${formatNumber(figures['mbps']!, 0)} MB/s${figures['cpu'] !== undefined ? ` (${formatNumber(figures['cpu'], 2)} CPU s/GiB` : ''}` +
      `${figures['instructions'] !== undefined ? `, ${formatNumber(figures['instructions'], 1)} G instructions/GiB` : ''}${figures['cpu'] !== undefined ? ')' : ''}`,
  );
  const mbps = measurement(
    { id: 'bulk_mbps', label: `bulk: ${formatNumber(bytes / 2 ** 20, 0)} MiB download, one connection`, unit: 'MB/s', better: 'higher', digits: 0 },
    samples.get('mbps'),
  );
  const { cpu: cpuPerGiB, instructions, published: cost } = costMeasurements('bulk', 'gib', samples);
  const direct = medianOf(mbps, 'direct');
  const kubepair = medianOf(mbps, 'kubepair');
  const ssh = medianOf(mbps, 'ssh');
  return {
    measurements: [mbps, ...cost],
    headline: {
      bulk_mbps_direct: direct,
      bulk_mbps_kubepair: kubepair,
      bulk_mbps_ssh: ssh,
      bulk_mbps_ssh_chacha20: medianOf(mbps, 'ssh_chacha20'),
      bulk_ratio_vs_ssh: kubepair !== null && ssh !== null ? kubepair / ssh : null,
      bulk_ratio_vs_direct: kubepair !== null && direct !== null ? kubepair / direct : null,
      bulk_cpu_s_per_gib_kubepair: medianOf(cpuPerGiB, 'kubepair'),
      bulk_cpu_s_per_gib_ssh: medianOf(cpuPerGiB, 'ssh'),
      bulk_ginstructions_per_gib_kubepair: medianOf(instructions, 'kubepair'),
      bulk_ginstructions_per_gib_ssh: medianOf(instructions, 'ssh'),
    },
    skipped: [],
    notes: [],
  };
}
