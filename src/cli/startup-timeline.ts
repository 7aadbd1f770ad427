/**
 * A start-up timeline for `kubepair connect` (issue 15, start-up; docs/performance.md
 * "Start-up"): with `KUBEPAIR_TIMELINE=1` in the environment each step of start-up prints one
 * line on stderr, `kubepair: timeline <ms> <step>`, where ms is the time since the process
 * started (performance.now(), whose origin is the process's start), so that the cost of each
 * phase between start and the first byte can be read off a real run. Without the variable
 * nothing is printed and a mark costs one comparison.
 * Input: the environment (the user's own, trusted) and step names from kubepair's own code.
 */
import { performance } from 'node:perf_hooks';

/** The environment variable that turns the timeline on (value `1`). */
export const TIMELINE_ENV = 'KUBEPAIR_TIMELINE';

/** Whether the timeline prints; read once. */
const enabled = process.env[TIMELINE_ENV] === '1';

/** The timeline's line for `step` at `ms` since the process started. */
export function timelineLine(ms: number, step: string): string {
  return `kubepair: timeline ${ms.toFixed(1)} ${step}\n`;
}

/** Print `step` with the time since the process started, when the timeline is on. */
export function markStartup(step: string): void {
  if (enabled) process.stderr.write(timelineLine(performance.now(), step));
}
