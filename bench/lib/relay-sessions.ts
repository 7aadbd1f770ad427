/**
 * Many idle paired sessions on a real relay process (issues 3 and 6): the relay's resident
 * memory per established, idle session (agent and client connected) over 2,000 sessions, and
 * how many sessions per second it establishes (create, two WebSocket upgrades, pair,
 * `established`) with 50 set-ups in flight. Memory is the relay's own
 * `process_resident_memory_bytes` (median of 5 samples) before and after, a window in which the
 * relay returned memory to the system refused (memory-per-session.ts); sessions/s counts
 * from the first request to the last `established`. The client side is this process's test
 * peers, not full CPace endpoints: the relay only ever sees frames, so that is its whole cost.
 */
import { api, connectPair, startRelay } from '../../test/helpers/relay-process.js';
import type { StartedRelay, TestPeer } from '../../test/helpers/relay-process.js';
import { BENCH_RELAY_ARGS } from './kubepair-tunnel.js';
import { memoryPerSession } from './memory-per-session.js';
import { summarize } from './report.js';

export const IDLE_SESSIONS = 2_000;
const SETUP_CONCURRENCY = 50;
const WARMUP_SESSIONS = 50;
const RSS_SAMPLES = 5;
const RSS_SAMPLE_INTERVAL_MS = 400;

/** A paired session (test/helpers' connectPair) that the agent has marked established. */
export async function pairedSession(relay: StartedRelay): Promise<{ agent: TestPeer; client: TestPeer }> {
  const { agent, client } = await connectPair(relay);
  agent.ws.send(JSON.stringify({ type: 'established' }));
  return { agent, client };
}

export async function relayMetric(relay: StartedRelay, name: string): Promise<number> {
  const answer = await api(relay, 'GET', '/metrics');
  const line = String(answer.body)
    .split('\n')
    .find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} not in /metrics`);
  return Number(line.split(' ')[1]);
}

async function settledRss(relay: StartedRelay): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < RSS_SAMPLES; i++) {
    await new Promise((resolve) => setTimeout(resolve, RSS_SAMPLE_INTERVAL_MS));
    samples.push(await relayMetric(relay, 'process_resident_memory_bytes'));
  }
  return summarize(samples).median;
}

export interface IdleSessionsResult {
  readonly sessions: number;
  readonly baselineRss: number;
  readonly loadedRss: number;
  /** Bytes of RSS per idle paired session; undefined when the window was refused. */
  readonly perSession: number | undefined;
  /** Bytes of JS heap per idle paired session; undefined when the window was refused. */
  readonly heapPerSession: number | undefined;
  /** Why the window is not a reading of the sessions (bench/lib/memory-per-session.ts). */
  readonly refused: string | undefined;
  /** Sessions established per second while setting them up. */
  readonly sessionsPerSecond: number;
}

/** Start a fresh relay, warm it up, open `sessions` idle paired sessions, measure, stop. */
export async function measureIdleSessions(sessions = IDLE_SESSIONS): Promise<IdleSessionsResult> {
  const relay = await startRelay({ anonymous: true, logLevel: 'warn', args: BENCH_RELAY_ARGS });
  const peers: TestPeer[] = [];
  try {
    // Warm-up: JIT, buffer pools, first sockets.
    for (let i = 0; i < WARMUP_SESSIONS; i++) {
      const { agent, client } = await pairedSession(relay);
      agent.ws.close();
      client.ws.close();
      await client.closedWithin();
    }
    const baselineRss = await settledRss(relay);
    const baselineHeap = await relayMetric(relay, 'nodejs_heap_size_used_bytes');
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: SETUP_CONCURRENCY }, async () => {
        for (let i = next++; i < sessions; i = next++) {
          const { agent, client } = await pairedSession(relay);
          peers.push(agent, client);
        }
      }),
    );
    const setupSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const open = await relayMetric(relay, 'kubepair_relay_open_sockets{role="client"}').catch(() => NaN);
    const loadedRss = await settledRss(relay);
    const loadedHeap = await relayMetric(relay, 'nodejs_heap_size_used_bytes');
    if (open !== sessions && !Number.isNaN(open)) throw new Error(`expected ${sessions} open client sockets, saw ${open}`);
    const perSession = memoryPerSession({ rss: baselineRss, heapUsed: baselineHeap }, { rss: loadedRss, heapUsed: loadedHeap }, sessions);
    return {
      sessions,
      baselineRss,
      loadedRss,
      perSession: 'refused' in perSession ? undefined : perSession.rss,
      heapPerSession: 'refused' in perSession ? undefined : perSession.heap,
      refused: 'refused' in perSession ? perSession.refused : undefined,
      sessionsPerSecond: sessions / setupSeconds,
    };
  } finally {
    for (const peer of peers) peer.ws.terminate();
    await relay.dispose();
  }
}
