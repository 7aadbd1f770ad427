/**
 * V8 flags the `kubepair` process sets for itself (issue 15, docs/performance.md
 * "Bulk CPU per GiB in the endpoints"), for flags that node's command line cannot carry: the
 * launch line of node-flags.ts is the same for every Node.js, and a Node.js whose V8 does not
 * know a flag refuses to start with it ("bad option"), while `v8.setFlagsFromString` of an
 * unknown flag prints "Error: unrecognized flag" to stderr. So a flag is set only on the V8
 * versions known to have it, and nothing is printed either way.
 *
 * `--external-memory-accounted-in-global-limit`: V8 before 14.8 counts every byte allocated in
 * ArrayBuffers since the last mark-compact towards the old generation's limit, dead or alive
 * (heap.h `OldGenerationSpaceAvailable`, "historic behavior"), and starts a mark-compact when the
 * count reaches it ("external memory pressure"). A tunnel endpoint allocates two to three buffer
 * bytes per byte it moves (socket reads, AES-GCM output, HTTP/2's copies), nearly all dead within
 * milliseconds, beside a small heap: on a bulk download `connect` ran a mark-compact every
 * ~30 MiB and spent about 40% less CPU per GiB without them. With the flag V8 counts the buffer
 * memory still held, as part of the global limit the heap is held to, and those collections stop;
 * the price is more dead buffer memory between collections (peak RSS of `share` 248 → 305 MB on
 * Node.js 24 in the measurement; unchanged within the spread on Node.js 26). V8 14.8
 * made this behaviour the default and removed the flag, so nothing is set there; Node.js 22
 * (V8 12.4) has no such flag. Only `connect` and `share` set it (`carriesTraffic`; not the relay).
 * share sets it in main.ts before the compile cache, connect once it is ready (connect-run.ts),
 * because V8 keys compiled code to its flags: why each there, at the call in main.ts. Library
 * users who run a role in their own process get V8's default. Input: the running V8's version
 * (trusted).
 */
import { createRequire } from 'node:module';
import type * as V8Module from 'node:v8';

/** Count external memory still held, within the global limit, not every byte allocated since the last mark-compact. */
export const EXTERNAL_MEMORY_IN_GLOBAL_LIMIT_FLAG = '--external-memory-accounted-in-global-limit';

/** The oldest V8 of a supported Node.js line that has the flag: 13.6 (Node.js 24; Node.js 22 has 12.4). */
const FLAG_FROM_V8: readonly [major: number, minor: number] = [13, 6];
/** From this V8 on the behaviour is V8's default and the flag is gone. */
const DEFAULT_FROM_V8: readonly [major: number, minor: number] = [14, 8];

/** [major, minor] of a V8 version string (`process.versions.v8`, e.g. `14.6.202.34-node.40`); undefined when it is not one. */
function majorMinor(version: string): [number, number] | undefined {
  const match = /^(\d+)\.(\d+)\./.exec(version);
  return match === null ? undefined : [Number(match[1]), Number(match[2])];
}

function atLeast(version: readonly [number, number], bound: readonly [number, number]): boolean {
  return version[0] > bound[0] || (version[0] === bound[0] && version[1] >= bound[1]);
}

/** The flags `applyRuntimeV8Flags` sets on a V8 of `v8Version`: none where V8 lacks them or already behaves so. */
export function runtimeV8Flags(v8Version: string): string[] {
  const version = majorMinor(v8Version);
  if (version === undefined) return [];
  return atLeast(version, FLAG_FROM_V8) && !atLeast(version, DEFAULT_FROM_V8) ? [EXTERNAL_MEMORY_IN_GLOBAL_LIMIT_FLAG] : [];
}

/**
 * The commands the flags are for: the tunnel's endpoints, which allocate two to three buffer
 * bytes per byte they move. Not the relay, which moves frames through reused buffers beside a
 * small heap: the flag cost it 15-18% CPU per GiB side by side (docs/performance.md "Bulk CPU per
 * GiB in the endpoints"). The other commands end before a collection would run, and loading
 * node:v8 costs them about 2 ms of start-up.
 */
const TRAFFIC_COMMANDS: ReadonlySet<string> = new Set(['connect', 'share']);

/** True when `argv` (the arguments after `kubepair`) runs a tunnel endpoint (connect, share). */
export function carriesTraffic(argv: readonly string[]): boolean {
  return argv[0] !== undefined && TRAFFIC_COMMANDS.has(argv[0]);
}

/** Set `runtimeV8Flags` of the running V8 in this process; returns what was set. */
export function applyRuntimeV8Flags(v8Version: string = process.versions.v8): readonly string[] {
  const flags = runtimeV8Flags(v8Version);
  if (flags.length === 0) return flags;
  // node:v8 is loaded only where a flag is set, as eager-compile.ts loads it (a `require`, kept by scripts/bundle.mjs).
  const { setFlagsFromString } = createRequire(import.meta.url)('node:v8') as typeof V8Module;
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
