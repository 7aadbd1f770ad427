/**
 * Workload 2, latency (issue 6): 5,000 sequential HTTP/1.1 keep-alive requests on one
 * connection, each answered with 1 KiB of JSON (a burst of small API calls), after 500 untimed
 * ones; p50 and p99 in microseconds per run, and the tunnel processes' CPU per request.
 * "Added latency" is a tunnel's median p50 (p99) minus direct's; issue 15 compares kubepair's
 * with what `ssh -J` (two encrypted hops through a bastion) adds.
 */
import { quantile, sequentialLatencies } from '../lib/load.js';
import { measureProcessCost } from '../lib/process-cost.js';
import { formatNumber } from '../lib/report.js';
import type { Tunnel } from '../lib/tunnel.js';
import { tunnelPids } from '../lib/tunnel.js';
import type { WorkloadContext, WorkloadResult } from './workload.js';
import { costFigures, costMeasurements, interleavedRuns, measurement, medianOf, ratioOf } from './workload.js';

export const LATENCY_REQUESTS = 5_000;
const LATENCY_WARMUP = 500;
const LATENCY_TIMEOUT_MS = 120_000; // 24 ms per request would be a broken tunnel

export async function runLatency(context: WorkloadContext, tunnels: readonly Tunnel[]): Promise<WorkloadResult> {
  const samples = await interleavedRuns(
    context,
    'latency',
    tunnels,
    async (tunnel) => {
      const { result: latencies, cost } = await measureProcessCost(
        tunnelPids(tunnel),
        () => sequentialLatencies(tunnel.ports.http, LATENCY_REQUESTS, LATENCY_WARMUP, LATENCY_TIMEOUT_MS),
        { countInstructions: context.countInstructions },
      );
      // The warm-up requests ran inside the measured window too.
      return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), ...costFigures(cost, 'request', LATENCY_REQUESTS + LATENCY_WARMUP) };
    },
    (f) => `p50 ${formatNumber(f['p50']!, 0)} µs, p99 ${formatNumber(f['p99']!, 0)} µs`,
  );
  const p50 = measurement(
    { id: 'latency_p50_us', label: `latency: ${formatNumber(LATENCY_REQUESTS, 0)} sequential 1 KiB JSON requests, p50`, unit: 'µs', better: 'lower', digits: 0 },
    samples.get('p50'),
  );
  const p99 = measurement({ id: 'latency_p99_us', label: 'latency: same requests, p99', unit: 'µs', better: 'lower', digits: 0 }, samples.get('p99'));
  const { cpu, instructions, published: cost } = costMeasurements('latency', 'request', samples);
  const added = (m: typeof p50, tunnel: string): number | null => {
    const direct = medianOf(m, 'direct');
    const through = medianOf(m, tunnel);
    return direct !== null && through !== null ? (through - direct) / 1000 : null;
  };
  const addedP50 = added(p50, 'kubepair');
  const addedP99 = added(p99, 'kubepair');
  const addedP50Jump = added(p50, 'ssh_jump');
  const addedP99Jump = added(p99, 'ssh_jump');
  return {
    measurements: [p50, p99, ...cost],
    headline: {
      latency_p50_us_direct: medianOf(p50, 'direct'),
      latency_p50_us_kubepair: medianOf(p50, 'kubepair'),
      latency_p50_us_ssh: medianOf(p50, 'ssh'),
      latency_p50_us_ssh_jump: medianOf(p50, 'ssh_jump'),
      latency_p99_us_direct: medianOf(p99, 'direct'),
      latency_p99_us_kubepair: medianOf(p99, 'kubepair'),
      latency_p99_us_ssh: medianOf(p99, 'ssh'),
      latency_p99_us_ssh_jump: medianOf(p99, 'ssh_jump'),
      latency_added_p50_ms: addedP50,
      latency_added_p99_ms: addedP99,
      latency_added_p50_ms_ssh: added(p50, 'ssh'),
      latency_added_p99_ms_ssh: added(p99, 'ssh'),
      latency_added_p50_ms_ssh_jump: addedP50Jump,
      latency_added_p99_ms_ssh_jump: addedP99Jump,
      latency_ratio_p50_vs_ssh_jump: ratioOf(addedP50, addedP50Jump),
      latency_ratio_p99_vs_ssh_jump: ratioOf(addedP99, addedP99Jump),
      // kubepair with the relay serving TLS (`kubepair_tls_relay`).
      latency_p50_us_tls_relay: medianOf(p50, 'kubepair_tls_relay'),
      latency_p99_us_tls_relay: medianOf(p99, 'kubepair_tls_relay'),
      latency_added_p50_ms_tls_relay: added(p50, 'kubepair_tls_relay'),
      latency_added_p99_ms_tls_relay: added(p99, 'kubepair_tls_relay'),
      latency_cpu_us_per_request_tls_relay: medianOf(cpu, 'kubepair_tls_relay'),
      latency_cpu_us_per_request_kubepair: medianOf(cpu, 'kubepair'),
      latency_cpu_us_per_request_ssh: medianOf(cpu, 'ssh'),
      latency_cpu_us_per_request_ssh_jump: medianOf(cpu, 'ssh_jump'),
      latency_kinstructions_per_request_kubepair: medianOf(instructions, 'kubepair'),
      latency_kinstructions_per_request_ssh: medianOf(instructions, 'ssh'),
      latency_kinstructions_per_request_ssh_jump: medianOf(instructions, 'ssh_jump'),
    },
    skipped: [],
    notes: [],
  };
}
