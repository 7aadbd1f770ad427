/**
 * Workload 3, concurrency (issue 6): 50 keep-alive connections at once, each sending 200
 * sequential 1 KiB JSON requests (10,000 per run, after one untimed request per connection);
 * requests per second, and the tunnel processes' CPU per request.
 */
import { concurrentRequests } from '../lib/load.js';
import { measureProcessCost } from '../lib/process-cost.js';
import { formatNumber } from '../lib/report.js';
import type { Tunnel } from '../lib/tunnel.js';
import { tunnelPids } from '../lib/tunnel.js';
import type { WorkloadContext, WorkloadResult } from './workload.js';
import { costFigures, costMeasurements, interleavedRuns, measurement, medianOf, ratioOf } from './workload.js';

export const CONCURRENT_CONNECTIONS = 50;
const REQUESTS_PER_CONNECTION = 200;
const CONCURRENCY_TIMEOUT_MS = 120_000;

export async function runConcurrency(context: WorkloadContext, tunnels: readonly Tunnel[]): Promise<WorkloadResult> {
  const total = CONCURRENT_CONNECTIONS * REQUESTS_PER_CONNECTION;
  const samples = await interleavedRuns(
    context,
    'concurrency',
    tunnels,
    async (tunnel) => {
      const { result: rps, cost } = await measureProcessCost(
        tunnelPids(tunnel),
        () => concurrentRequests(tunnel.ports.http, CONCURRENT_CONNECTIONS, REQUESTS_PER_CONNECTION, CONCURRENCY_TIMEOUT_MS),
        { countInstructions: context.countInstructions },
      );
      // One untimed request per connection ran inside the measured window too.
      return { rps, ...costFigures(cost, 'request', total + CONCURRENT_CONNECTIONS) };
    },
    (f) => `${formatNumber(f['rps']!, 0)} req/s`,
  );
  const rps = measurement(
    { id: 'concurrency_rps', label: `concurrency: ${CONCURRENT_CONNECTIONS} connections x ${REQUESTS_PER_CONNECTION} requests`, unit: 'req/s', better: 'higher', digits: 0 },
    samples.get('rps'),
  );
  const { cpu, instructions, published: cost } = costMeasurements('concurrency', 'request', samples);
  const direct = medianOf(rps, 'direct');
  const kubepair = medianOf(rps, 'kubepair');
  const ssh = medianOf(rps, 'ssh');
  const sshJump = medianOf(rps, 'ssh_jump');
  return {
    measurements: [rps, ...cost],
    headline: {
      concurrency_rps_direct: direct,
      concurrency_rps_kubepair: kubepair,
      concurrency_rps_ssh: ssh,
      concurrency_rps_ssh_jump: sshJump,
      concurrency_ratio_vs_ssh: ratioOf(kubepair, ssh),
      concurrency_ratio_vs_ssh_jump: ratioOf(kubepair, sshJump),
      concurrency_cpu_us_per_request_kubepair: medianOf(cpu, 'kubepair'),
      concurrency_cpu_us_per_request_ssh: medianOf(cpu, 'ssh'),
      concurrency_cpu_us_per_request_ssh_jump: medianOf(cpu, 'ssh_jump'),
      concurrency_kinstructions_per_request_kubepair: medianOf(instructions, 'kubepair'),
      concurrency_kinstructions_per_request_ssh: medianOf(instructions, 'ssh'),
      concurrency_kinstructions_per_request_ssh_jump: medianOf(instructions, 'ssh_jump'),
    },
    skipped: [],
    notes: [],
  };
}
