/**
 * Workload 4, head-of-line blocking (issue 6): 8 bulk downloads at once, alone, and then the
 * same 8 next to a 9th download whose reader stopped reading after its first bytes (a
 * `kubectl logs -f` nobody reads next to a big transfer). The 9th stream's bytes fill every
 * buffer on the way until flow control stops its sender; a tunnel that multiplexes streams
 * must keep the other 8 moving. Figure: throughput with the stalled stream / without, per run.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parallelDownloads, stalledReader } from '../lib/load.js';
import { formatNumber } from '../lib/report.js';
import type { Tunnel } from '../lib/tunnel.js';
import type { WorkloadContext, WorkloadResult } from './workload.js';
import { interleavedRuns, measurement, medianOf } from './workload.js';

export const HOL_STREAMS = 8;
const HOL_BYTES_PER_STREAM = 32 * 1024 * 1024; // 32 MiB, 256 MiB per measurement
const STALLED_STREAM_BYTES = 1024 * 1024 * 1024; // far more than any buffer on the way
/** Time for the stalled stream to fill the buffers before the 8 start (one timer, no polling). */
const STALL_SETTLE_MS = 500;
const HOL_TIMEOUT_MS = 120_000;

export async function runHeadOfLine(context: WorkloadContext, tunnels: readonly Tunnel[]): Promise<WorkloadResult> {
  const samples = await interleavedRuns(
    context,
    'head-of-line',
    tunnels,
    async (tunnel) => {
      const alone = await parallelDownloads(tunnel.ports.source, HOL_STREAMS, HOL_BYTES_PER_STREAM, HOL_TIMEOUT_MS);
      const stalled = await stalledReader(tunnel.ports.source, STALLED_STREAM_BYTES);
      let withStalled: number;
      try {
        await sleep(STALL_SETTLE_MS);
        withStalled = await parallelDownloads(tunnel.ports.source, HOL_STREAMS, HOL_BYTES_PER_STREAM, HOL_TIMEOUT_MS);
      } finally {
        stalled.close();
      }
      return { alone, withStalled, kept: withStalled / alone };
    },
    (f) => `${formatNumber(f['alone']!, 0)} -> ${formatNumber(f['withStalled']!, 0)} MB/s (kept ${formatNumber(f['kept']!, 2)})`,
  );
  const kept = measurement(
    { id: 'hol_kept_fraction', label: `head-of-line: throughput ${HOL_STREAMS} streams keep next to a stalled reader`, unit: 'fraction', better: 'higher', digits: 2 },
    samples.get('kept'),
  );
  const alone = measurement(
    { id: 'hol_mbps_alone', label: `head-of-line: ${HOL_STREAMS} streams x ${HOL_BYTES_PER_STREAM / 2 ** 20} MiB, alone`, unit: 'MB/s', better: 'higher', digits: 0 },
    samples.get('alone'),
  );
  const withStalled = measurement(
    { id: 'hol_mbps_with_stalled', label: `head-of-line: the same ${HOL_STREAMS} next to the stalled 9th`, unit: 'MB/s', better: 'higher', digits: 0 },
    samples.get('withStalled'),
  );
  return {
    measurements: [kept, alone, withStalled],
    headline: {
      hol_kept_fraction: medianOf(kept, 'kubepair'),
      hol_kept_fraction_ssh: medianOf(kept, 'ssh'),
      hol_kept_fraction_ssh_jump: medianOf(kept, 'ssh_jump'),
      hol_kept_fraction_direct: medianOf(kept, 'direct'),
    },
    skipped: [],
    notes: [],
  };
}
