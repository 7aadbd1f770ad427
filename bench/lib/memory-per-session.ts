/**
 * Memory per idle session from two readings of a relay process, before and after opening
 * `sessions` sessions (issue 15, docs/performance.md "Which reading is the figure"). Used by the
 * relay workload (the figure, `relay_kib_per_idle_session`) and the cluster workload (per node).
 *
 * A difference of two RSS readings is only about the sessions if the process returned no memory
 * to the system in between: a fresh Node process gives back tens of MiB some seconds after it
 * starts and pages after bursts of work, and a reading window that spans such a return made
 * sessions look as if they cost negative memory (cluster, 2026-12-07: -4.3 KiB per session with
 * +9.7 KiB of heap). The sessions' V8 heap is part of the RSS, so a window in which RSS grew less
 * than the heap did, or the heap did not grow, is not a reading of the sessions: it is refused
 * (with the reason), never reported, so no figure can be negative. Input: the bench's own readings.
 */

/** What a reading of a process holds: resident set and V8 heap in use, in bytes. */
export interface MemoryReading {
  readonly rss: number;
  readonly heapUsed: number;
}

/** Bytes per session, or why the window was not a reading of the sessions. */
export type PerSessionMemory = { readonly rss: number; readonly heap: number } | { readonly refused: string };

export function memoryPerSession(before: MemoryReading, after: MemoryReading, sessions: number): PerSessionMemory {
  if (!Number.isInteger(sessions) || sessions <= 0) throw new RangeError(`sessions must be a positive integer, not ${sessions}`);
  const rss = after.rss - before.rss;
  const heap = after.heapUsed - before.heapUsed;
  const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (heap <= 0) return { refused: `the V8 heap did not grow (${mib(heap)}): the sessions were not all held, or the readings are of another state` };
  if (rss < heap) return { refused: `RSS grew ${mib(rss)}, less than the V8 heap's ${mib(heap)}: the process returned memory to the system within the window` };
  return { rss: rss / sessions, heap: heap / sessions };
}
