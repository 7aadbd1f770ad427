/**
 * Workload 1, bulk (issue 6): 1 GiB one way through one connection (a download from the target's
 * source server, like `kubectl cp` from a pod), in MB/s (10^6 bytes per second), and what the
 * tunnel's own processes spent per GiB: CPU seconds and (with perf) billions of instructions,
 * in all and (issue 15) for each process by where it sits: on the laptop (`connect`; `ssh`), in
 * the middle (the relay; the bastion's sshd for `ssh -J`) and next to the target (`share`; the
 * target's sshd). The kubepair path runs twice when the suite starts a TLS relay: with the relay
 * on http:// (`kubepair`) and on https:// (`kubepair_tls_relay`, as in production).
 */
import { download } from '../lib/load.js';
import { measureProcessCost } from '../lib/process-cost.js';
import { formatNumber } from '../lib/report.js';
import type { PathSide, Tunnel } from '../lib/tunnel.js';
import { PATH_SIDES, tunnelPids } from '../lib/tunnel.js';
import type { Measurement, RunFigures, WorkloadContext, WorkloadResult } from './workload.js';
import { costFigures, costMeasurements, interleavedRuns, measurement, medianOf, ratioOf, sideFigures } from './workload.js';

export const BULK_BYTES = 1024 * 1024 * 1024; // 1 GiB
const BULK_TIMEOUT_MS = 180_000; // 3 min: 6 MB/s would be a broken tunnel, not a slow one

export interface BulkOptions {
  /** Bytes per run (default 1 GiB; smaller for quick iterations). */
  readonly bytes?: number;
}

/** The per-process measurements: which processes each side holds, per path. */
const SIDE_LABELS: Readonly<Record<PathSide, string>> = {
  laptop: 'bulk: CPU per GiB on the laptop side (`connect`; `ssh`, with the `ssh` it starts for a -J hop)',
  middle: 'bulk: CPU per GiB in the middle (the relay; the bastion\'s sshd of `ssh -J`)',
  target: 'bulk: CPU per GiB next to the target (`share`; the target\'s sshd)',
};

export async function runBulk(context: WorkloadContext, tunnels: readonly Tunnel[], options: BulkOptions = {}): Promise<WorkloadResult> {
  const bytes = options.bytes ?? BULK_BYTES;
  const samples = await interleavedRuns(
    context,
    'bulk',
    tunnels,
    async (tunnel) => {
      const { result, cost } = await measureProcessCost(tunnelPids(tunnel), () => download(tunnel.ports.source, bytes, BULK_TIMEOUT_MS), { countInstructions: context.countInstructions });
      return { mbps: bytes / result.seconds / 1e6, ...costFigures(cost, 'gib', bytes / 2 ** 30), ...sideFigures(tunnel, cost.cpuSecondsByRoot, bytes / 2 ** 30) };
    },
    (figures: RunFigures) => {
      const sides = PATH_SIDES.filter((side) => figures[`cpu_${side}`] !== undefined).map((side) => `${side} ${formatNumber(figures[`cpu_${side}`]!, 2)}`);
      return (
        `${formatNumber(figures['mbps']!, 0)} MB/s${figures['cpu'] !== undefined ? ` (${formatNumber(figures['cpu'], 2)} CPU s/GiB` : ''}` +
        `${sides.length > 0 ? ` = ${sides.join(' + ')}` : ''}` +
        `${figures['instructions'] !== undefined ? `, ${formatNumber(figures['instructions'], 1)} G instructions/GiB` : ''}${figures['cpu'] !== undefined ? ')' : ''}`
      );
    },
  );
  const mbps = measurement(
    { id: 'bulk_mbps', label: `bulk: ${formatNumber(bytes / 2 ** 20, 0)} MiB download, one connection`, unit: 'MB/s', better: 'higher', digits: 0 },
    samples.get('mbps'),
  );
  const { cpu: cpuPerGiB, instructions, published: cost } = costMeasurements('bulk', 'gib', samples);
  const bySide = new Map<PathSide, Measurement>(
    PATH_SIDES.map((side) => [side, measurement({ id: `bulk_cpu_s_per_gib_${side}_side`, label: SIDE_LABELS[side], unit: 'CPU s/GiB', better: 'lower', digits: 2 }, samples.get(`cpu_${side}`))]),
  );
  const side = (name: PathSide, tunnel: string): number | null => medianOf(bySide.get(name), tunnel);
  const direct = medianOf(mbps, 'direct');
  const kubepair = medianOf(mbps, 'kubepair');
  const ssh = medianOf(mbps, 'ssh');
  const sshJump = medianOf(mbps, 'ssh_jump');
  const tlsRelay = medianOf(mbps, 'kubepair_tls_relay');
  const tlsRelayCpu = medianOf(cpuPerGiB, 'kubepair_tls_relay');
  return {
    measurements: [mbps, ...cost, ...[...bySide.values()].filter((m) => Object.keys(m.byTunnel).length > 0)],
    headline: {
      bulk_mbps_direct: direct,
      bulk_mbps_kubepair: kubepair,
      bulk_mbps_ssh: ssh,
      bulk_mbps_ssh_jump: sshJump,
      bulk_mbps_ssh_chacha20: medianOf(mbps, 'ssh_chacha20'),
      bulk_ratio_vs_ssh: ratioOf(kubepair, ssh),
      bulk_ratio_vs_ssh_jump: ratioOf(kubepair, sshJump),
      bulk_ratio_vs_direct: ratioOf(kubepair, direct),
      bulk_cpu_s_per_gib_kubepair: medianOf(cpuPerGiB, 'kubepair'),
      bulk_cpu_s_per_gib_ssh: medianOf(cpuPerGiB, 'ssh'),
      bulk_cpu_s_per_gib_ssh_jump: medianOf(cpuPerGiB, 'ssh_jump'),
      bulk_cpu_ratio_vs_ssh: ratioOf(medianOf(cpuPerGiB, 'kubepair'), medianOf(cpuPerGiB, 'ssh')),
      bulk_cpu_ratio_vs_ssh_jump: ratioOf(medianOf(cpuPerGiB, 'kubepair'), medianOf(cpuPerGiB, 'ssh_jump')),
      // Each process of each path (issue 15).
      bulk_cpu_s_per_gib_connect: side('laptop', 'kubepair'),
      bulk_cpu_s_per_gib_relay: side('middle', 'kubepair'),
      bulk_cpu_s_per_gib_share: side('target', 'kubepair'),
      bulk_cpu_s_per_gib_ssh_client: side('laptop', 'ssh'),
      bulk_cpu_s_per_gib_sshd: side('target', 'ssh'),
      bulk_cpu_s_per_gib_ssh_jump_client: side('laptop', 'ssh_jump'),
      bulk_cpu_s_per_gib_ssh_jump_jump_sshd: side('middle', 'ssh_jump'),
      bulk_cpu_s_per_gib_ssh_jump_target_sshd: side('target', 'ssh_jump'),
      // kubepair with the relay serving TLS, as in production (`kubepair_tls_relay`).
      bulk_mbps_tls_relay: tlsRelay,
      bulk_ratio_tls_relay_vs_tcp_relay: ratioOf(tlsRelay, kubepair),
      bulk_ratio_tls_relay_vs_ssh: ratioOf(tlsRelay, ssh),
      bulk_ratio_tls_relay_vs_ssh_jump: ratioOf(tlsRelay, sshJump),
      bulk_cpu_s_per_gib_tls_relay: tlsRelayCpu,
      bulk_cpu_ratio_tls_relay_vs_ssh_jump: ratioOf(tlsRelayCpu, medianOf(cpuPerGiB, 'ssh_jump')),
      bulk_cpu_s_per_gib_connect_tls_relay: side('laptop', 'kubepair_tls_relay'),
      bulk_cpu_s_per_gib_relay_tls_relay: side('middle', 'kubepair_tls_relay'),
      bulk_cpu_s_per_gib_share_tls_relay: side('target', 'kubepair_tls_relay'),
      bulk_ginstructions_per_gib_kubepair: medianOf(instructions, 'kubepair'),
      bulk_ginstructions_per_gib_ssh: medianOf(instructions, 'ssh'),
      bulk_ginstructions_per_gib_ssh_jump: medianOf(instructions, 'ssh_jump'),
    },
    skipped: [],
    notes: [
      'bulk, CPU per process: each process of a path with its descendants (an sshd with the children it forks per connection), read from /proc before and after each run; `ssh -J` runs a second `ssh` for the bastion hop, a child of the first, counted on the laptop side. The target\'s sshd serves `ssh -L` and `ssh -J` alike; the connection of the path not running sits idle.',
    ],
  };
}
