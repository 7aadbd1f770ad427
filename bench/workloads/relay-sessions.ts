/**
 * Workload 6, relay (issue 6): resident memory per idle paired session and sessions established
 * per second, each run on a fresh relay process started as the binary runs it
 * (bench/lib/relay-sessions.ts). `relay_kib_per_idle_session`, the slope of the relay's RSS from
 * 2,000 to 6,000 idle sessions after memory-reducing collections, is issue 15's figure for relay
 * memory (docs/performance.md "Which reading is the figure"); a run whose window the relay
 * returned memory in is not counted. The first 2,000 sessions of a fresh process are shown apart.
 */
import { IDLE_SESSIONS, MORE_IDLE_SESSIONS, measureIdleSessions } from '../lib/relay-sessions.js';
import { formatNumber } from '../lib/report.js';
import type { WorkloadContext, WorkloadResult } from './workload.js';
import { measurement, medianOf } from './workload.js';

export async function runRelaySessions(context: WorkloadContext): Promise<WorkloadResult> {
  const kib: number[] = [];
  const heapKib: number[] = [];
  const firstKib: number[] = [];
  const rate: number[] = [];
  // No warm-up round: every run starts a fresh relay and warms it up with 50 sessions itself.
  for (let run = 1; run <= context.runs; run++) {
    const result = await measureIdleSessions(IDLE_SESSIONS, MORE_IDLE_SESSIONS);
    rate.push(result.sessionsPerSecond);
    if (result.firstPerSession !== undefined) firstKib.push(result.firstPerSession / 1024);
    const mib = (bytes: number): string => formatNumber(bytes / 2 ** 20, 1);
    const span = `${mib(result.baselineRss)} -> ${mib(result.loadedRss)} -> ${mib(result.moreRss)} MiB at 0, ${formatNumber(result.sessions, 0)}, ${formatNumber(result.moreSessions, 0)} sessions`;
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
    {
      id: 'relay_kib_per_idle_session',
      label: `relay: RSS per idle paired session (slope ${formatNumber(IDLE_SESSIONS, 0)} → ${formatNumber(MORE_IDLE_SESSIONS, 0)} sessions, after GC)`,
      unit: 'KiB',
      better: 'lower',
      digits: 1,
    },
    one(kib),
  );
  const heap = measurement({ id: 'relay_heap_kib_per_idle_session', label: 'relay: JS heap per idle paired session (same slope)', unit: 'KiB', better: 'lower', digits: 1 }, one(heapKib));
  const first = measurement(
    { id: 'relay_kib_per_first_idle_session', label: `relay: RSS per session over a fresh relay's first ${formatNumber(IDLE_SESSIONS, 0)} (after GC)`, unit: 'KiB', better: 'lower', digits: 1 },
    one(firstKib),
  );
  const established = measurement(
    { id: 'relay_sessions_per_second', label: 'relay: sessions established per second (50 set-ups in flight)', unit: 'sessions/s', better: 'higher', digits: 0 },
    one(rate),
  );
  return {
    measurements: [perSession, heap, first, established],
    headline: {
      relay_kib_per_idle_session: medianOf(perSession, 'kubepair'),
      relay_heap_kib_per_idle_session: medianOf(heap, 'kubepair'),
      relay_sessions_per_second: medianOf(established, 'kubepair'),
    },
    skipped: [],
    notes: [],
  };
}
