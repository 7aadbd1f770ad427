/**
 * Workload 6, relay (issue 6): resident memory per idle paired session over 2,000 sessions and
 * sessions established per second, each run on a fresh relay process (bench/lib/relay-sessions.ts).
 * `relay_kib_per_idle_session` is issue 15's figure for relay memory (docs/performance.md "Which
 * reading is the figure"); a run whose window the relay returned memory in is not counted.
 */
import { IDLE_SESSIONS, measureIdleSessions } from '../lib/relay-sessions.js';
import { formatNumber } from '../lib/report.js';
import type { WorkloadContext, WorkloadResult } from './workload.js';
import { measurement, medianOf } from './workload.js';

export async function runRelaySessions(context: WorkloadContext): Promise<WorkloadResult> {
  const kib: number[] = [];
  const heapKib: number[] = [];
  const rate: number[] = [];
  // No warm-up round: every run starts a fresh relay and warms it up with 50 sessions itself.
  for (let run = 1; run <= context.runs; run++) {
    const result = await measureIdleSessions(IDLE_SESSIONS);
    rate.push(result.sessionsPerSecond);
    const span = `${formatNumber(result.baselineRss / 2 ** 20, 1)} -> ${formatNumber(result.loadedRss / 2 ** 20, 1)} MiB`;
    if (result.perSession === undefined || result.heapPerSession === undefined) {
      context.log(`relay run ${run}/${context.runs}: memory not counted (${span}): ${result.refused}; ${formatNumber(result.sessionsPerSecond, 0)} sessions/s`);
      continue;
    }
    kib.push(result.perSession / 1024);
    heapKib.push(result.heapPerSession / 1024);
    context.log(`relay run ${run}/${context.runs}: ${formatNumber(result.perSession / 1024, 1)} KiB RSS per idle session (${span}), ${formatNumber(result.sessionsPerSecond, 0)} sessions/s`);
  }
  const one = (values: number[]): Map<string, number[]> => new Map([['kubepair', values]]);
  const perSession = measurement(
    { id: 'relay_kib_per_idle_session', label: `relay: RSS per idle paired session (${formatNumber(IDLE_SESSIONS, 0)} sessions)`, unit: 'KiB', better: 'lower', digits: 1 },
    one(kib),
  );
  const heap = measurement({ id: 'relay_heap_kib_per_idle_session', label: 'relay: JS heap per idle paired session', unit: 'KiB', better: 'lower', digits: 1 }, one(heapKib));
  const established = measurement(
    { id: 'relay_sessions_per_second', label: 'relay: sessions established per second (50 set-ups in flight)', unit: 'sessions/s', better: 'higher', digits: 0 },
    one(rate),
  );
  return {
    measurements: [perSession, heap, established],
    headline: {
      relay_kib_per_idle_session: medianOf(perSession, 'kubepair'),
      relay_heap_kib_per_idle_session: medianOf(heap, 'kubepair'),
      relay_sessions_per_second: medianOf(established, 'kubepair'),
    },
    skipped: [],
    notes: [],
  };
}
