/**
 * Many idle paired sessions on a real relay process (issues 3, 6 and 15): the relay's resident
 * memory per established, idle session (agent and client connected), and how many sessions per
 * second it establishes (create, two WebSocket upgrades, pair, `established`) with 50 set-ups in
 * flight. The relay runs with the installed binary's node flags (src/cli/node-flags.ts) and the
 * benchmark's memory probe; memory is read after V8's memory-reducing full collection at 2,000
 * and at 6,000 sessions, and the figure is the slope between the two (docs/performance.md
 * "Which reading is the figure"); the first 2,000 of a fresh process are reported apart. A
 * window in which the relay returned memory to the system is refused (memory-per-session.ts);
 * sessions/s counts from the first request to the last `established` of the first 2,000. The client side is this process's test
 * peers, not full CPace endpoints: the relay only ever sees frames, so that is its whole cost.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { api, connectPair, startRelay } from '../../test/helpers/relay-process.js';
import type { StartedRelay, TestPeer } from '../../test/helpers/relay-process.js';
import { BENCH_RELAY_ARGS } from './kubepair-tunnel.js';
import { memoryPerSession } from './memory-per-session.js';
import { PROBE_NODE_ARGS, relayNodeOf, settledMemory } from './relay-setups.js';

/** Idle sessions at the first memory reading, and at the second: the figure is the slope between them. */
export const IDLE_SESSIONS = 2_000;
export const MORE_IDLE_SESSIONS = 6_000;
const SETUP_CONCURRENCY = 50;
const WARMUP_SESSIONS = 50;

/** A paired session (test/helpers' connectPair) that the agent has marked established. */
export async function pairedSession(relay: StartedRelay): Promise<{ agent: TestPeer; client: TestPeer }> {
  const { agent, client } = await connectPair(relay);
  agent.ws.send(JSON.stringify({ type: 'established' }));
  return { agent, client };
}

/**
 * Close a test peer's connection with a TCP reset rather than a FIN. A connection closed with a
 * FIN leaves the closing side's socket in TIME_WAIT for 60 s, still listed in the namespace's
 * socket tables: 12,000 of them after a run of 6,000 sessions, and connect's owner check reads
 * those tables for every local connection (then whole, about 5 µs of CPU per entry here), which made
 * the kubectl workload after this one cost connect 90-120 ms per run instead of ~22
 * (docs/performance.md "kubectl, sixth look"). A reset leaves no entry on either side. `ws`
 * keeps its socket in `_socket`; without one (closed already), terminate() does the rest.
 */
export function closeWithReset(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Socket | null })._socket;
  if (socket !== null && socket !== undefined && !socket.destroyed) socket.resetAndDestroy();
  else ws.terminate();
}

export async function relayMetric(relay: StartedRelay, name: string): Promise<number> {
  const answer = await api(relay, 'GET', '/metrics');
  const line = String(answer.body)
    .split('\n')
    .find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} not in /metrics`);
  return Number(line.split(' ')[1]);
}

export interface IdleSessionsResult {
  /** Sessions at the first reading, and at the second. */
  readonly sessions: number;
  readonly moreSessions: number;
  /** RSS after the warm-up, at the first reading and at the second (memory-reducing full GC), in bytes. */
  readonly baselineRss: number;
  readonly loadedRss: number;
  readonly moreRss: number;
  /**
   * Bytes of RSS per idle paired session: the slope from `sessions` to `moreSessions` (the
   * figure); undefined when that window was refused.
   */
  readonly perSession: number | undefined;
  /** Bytes of JS heap per idle paired session over the same window; undefined when refused. */
  readonly heapPerSession: number | undefined;
  /** Why the slope's window is not a reading of the sessions (bench/lib/memory-per-session.ts). */
  readonly refused: string | undefined;
  /**
   * Bytes of RSS per session over the first `sessions` of a fresh relay (baseline to first
   * reading): the slope plus what a fresh process grows into once; undefined when refused.
   */
  readonly firstPerSession: number | undefined;
  /** Sessions established per second while setting up the first `sessions`. */
  readonly sessionsPerSecond: number;
}

/** Open paired sessions on `relay` until `peers` holds `target` of them, SETUP_CONCURRENCY at a time. */
async function openSessions(relay: StartedRelay, peers: TestPeer[], target: number): Promise<void> {
  let next = peers.length / 2;
  await Promise.all(
    Array.from({ length: SETUP_CONCURRENCY }, async () => {
      for (let i = next++; i < target; i = next++) {
        const { agent, client } = await pairedSession(relay);
        peers.push(agent, client);
      }
    }),
  );
}

/**
 * Start a fresh relay as the binary runs it (its node flags) with the memory probe, warm it up,
 * read its memory, open `sessions` idle paired sessions, read, open more up to `moreSessions`,
 * read, stop. Every reading is taken after V8's memory-reducing full collection
 * (bench/relay-memory-probe.ts, settledMemory), so the slope between the two readings counts what
 * sessions hold and no garbage or pooled pages.
 */
export async function measureIdleSessions(sessions = IDLE_SESSIONS, moreSessions = MORE_IDLE_SESSIONS): Promise<IdleSessionsResult> {
  const relay = await startRelay({ anonymous: true, logLevel: 'warn', args: BENCH_RELAY_ARGS, nodeArgs: PROBE_NODE_ARGS });
  const node = relayNodeOf(relay);
  const peers: TestPeer[] = [];
  try {
    // Warm-up: JIT, buffer pools, first sockets.
    for (let i = 0; i < WARMUP_SESSIONS; i++) {
      const { agent, client } = await pairedSession(relay);
      agent.ws.close();
      client.ws.close();
      await client.closedWithin();
    }
    const baseline = await settledMemory(node);
    const started = process.hrtime.bigint();
    await openSessions(relay, peers, sessions);
    const setupSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    await expectOpen(relay, sessions);
    const loaded = await settledMemory(node);
    await openSessions(relay, peers, moreSessions);
    await expectOpen(relay, moreSessions);
    const more = await settledMemory(node);
    const first = memoryPerSession(baseline, loaded, sessions);
    const slope = memoryPerSession(loaded, more, moreSessions - sessions);
    return {
      sessions,
      moreSessions,
      baselineRss: baseline.rss,
      loadedRss: loaded.rss,
      moreRss: more.rss,
      perSession: 'refused' in slope ? undefined : slope.rss,
      heapPerSession: 'refused' in slope ? undefined : slope.heap,
      refused: 'refused' in slope ? slope.refused : undefined,
      firstPerSession: 'refused' in first ? undefined : first.rss,
      sessionsPerSecond: sessions / setupSeconds,
    };
  } finally {
    for (const peer of peers) closeWithReset(peer.ws);
    await relay.dispose();
  }
}

async function expectOpen(relay: StartedRelay, sessions: number): Promise<void> {
  const open = await relayMetric(relay, 'kubepair_relay_open_sockets{role="client"}').catch(() => NaN);
  if (open !== sessions && !Number.isNaN(open)) throw new Error(`expected ${sessions} open client sockets, saw ${open}`);
}
