/**
 * Workload `cluster` (issue 13, "npm run bench adds"): a relay cluster of real processes on
 * 127.0.0.1 (bench/lib/relay-setups.ts: `kubepair relay` nodes, Debian's redis-server, HAProxy in
 * round-robin mode) measured three ways:
 *
 * 1. Sessions established per second: one node with the memory store, one node with the Redis
 *    store behind HAProxy, three nodes with the Redis store behind HAProxy. A session counts once
 *    both of its endpoints hold the secure channel: create, agent socket, pair, client socket,
 *    the CPace handshake, `established`. The endpoints run in this process (the project's relay
 *    client and SecureChannel, as test/e2e/relay-cluster.test.ts part e does): SESSIONS_PER_RUN
 *    sessions, SETUP_CONCURRENCY in flight. Also the CPU the relay nodes, HAProxy + Redis and this
 *    load generator spent per session, since all share the machine's cores.
 * 2. Forwarding through a remote splice vs a local one: both sockets of a session on node n1
 *    (local), or the agent on n2 and the client on n1 (n1 splices to n2 over the cluster link),
 *    each socket opened on its node directly (not through HAProxy) and the placement checked
 *    against the nodes' `kubepair_relay_splices_total{kind}`. SPLICE_BYTES from the agent's
 *    channel to the client's: MB/s, and CPU (and with perf, instructions) of the relay nodes per
 *    GiB.
 * 3. Memory per idle paired session: each node's RSS and V8 heap after a memory-reducing full
 *    garbage collection (bench/relay-memory-probe.ts) on fresh node processes before and after
 *    IDLE_SESSIONS paired, established, idle sessions, divided by IDLE_SESSIONS: per node, and
 *    for three nodes also summed over the nodes (what one session costs the cluster).
 *
 * Paths (set-ups, placements) are interleaved and rotate every round; one untimed warm-up round
 * for 1 and 2; memory starts every run from fresh processes warmed with WARMUP_SESSIONS.
 */
import type { ChannelPairOverRelay, RelayForBench } from '../lib/channel-over-relay.js';
import { pairOverRelay, pushThrough } from '../lib/channel-over-relay.js';
import { measureProcessCost } from '../lib/process-cost.js';
import type { MemorySample, RelaySetup, SetupName } from '../lib/relay-setups.js';
import { memoryPerSession } from '../lib/memory-per-session.js';
import { MEMORY_PROBE_PAUSE_MS, MEMORY_PROBES, MEMORY_STABLE_BYTES, settledMemory } from '../lib/relay-setups.js';
import { formatNumber } from '../lib/report.js';
import { waitUntilAsync } from '../../test/helpers/wait-until.js';
import type { Measurement, RunSamples, WorkloadContext, WorkloadResult } from './workload.js';
import { costFigures, costMeasurements, measurement, medianOf } from './workload.js';

/** Sessions established per run of measurement 1, and how many are being set up at once. */
const SESSIONS_PER_RUN = 100;
const SETUP_CONCURRENCY = 10;
/** Bytes through one session per run of measurement 2, written in CHUNK_BYTES pieces. */
const SPLICE_BYTES = 128 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
const SPLICE_TIMEOUT_MS = 300_000;
/** Idle sessions per run of measurement 3, and the sessions opened and closed before the baseline. */
export const IDLE_SESSIONS = 1_000;
const WARMUP_SESSIONS = 20;
/** Runs of measurement 3 (each restarts every node): fewer than the others, at least 3. */
const MEMORY_RUNS = 3;
/** Every session of a run gone from the nodes, in ms. */
const DRAIN_TIMEOUT_MS = 60_000;

const CPU_MS = 1000;

/** The report's columns, in this order. */
export const PATH_LABELS: Readonly<Record<string, string>> = {
  '1node_memory': 'one node, memory store',
  '1node_redis': 'one node, Redis, HAProxy',
  '3nodes_redis': 'three nodes, Redis, HAProxy',
  '3nodes_redis_n1': 'three nodes: n1',
  '3nodes_redis_n2': 'three nodes: n2',
  '3nodes_redis_n3': 'three nodes: n3',
  '3nodes_redis_total': 'three nodes: sum',
  local: 'local splice (both on n1)',
  remote: 'remote splice (n1 → n2)',
};

/** Set up `count` sessions through `relay`, `concurrency` at a time; all or nothing. */
async function establish(relay: RelayForBench, count: number, concurrency: number): Promise<ChannelPairOverRelay[]> {
  const opened: ChannelPairOverRelay[] = [];
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: Math.min(concurrency, count) }, async () => {
        while (next < count) {
          next += 1;
          opened.push(await pairOverRelay(relay, { resumable: true }));
        }
      }),
    );
    return opened;
  } catch (err) {
    closeAll(opened);
    throw err;
  }
}

function closeAll(sessions: readonly ChannelPairOverRelay[]): void {
  for (const session of sessions) session.close();
}

/** Close `sessions` and wait (bounded) until no node holds a socket of them. */
async function endSessions(setup: RelaySetup, sessions: readonly ChannelPairOverRelay[]): Promise<void> {
  closeAll(sessions);
  await waitUntilAsync(async () => (await setup.metricSum('kubepair_relay_open_sockets')) === 0, DRAIN_TIMEOUT_MS, `every socket of ${setup.name} closed`);
}

/** Add `value` to the samples of `metric` / `path`. */
function record(samples: RunSamples, metric: string, path: string, value: number): void {
  const byPath = samples.get(metric) ?? new Map<string, number[]>();
  samples.set(metric, byPath);
  byPath.set(path, [...(byPath.get(path) ?? []), value]);
}

/** Rounds 0 (warm-up, not recorded) to `runs`; the order of `paths` rotates every round. */
async function rotated<T>(runs: number, paths: readonly T[], once: (path: T, round: number) => Promise<void>): Promise<void> {
  for (let round = 0; round <= runs; round++) {
    for (let i = 0; i < paths.length; i++) await once(paths[(i + round) % paths.length]!, round);
  }
}

async function sessionsPerSecond(context: WorkloadContext, setups: readonly RelaySetup[]): Promise<RunSamples> {
  const samples: RunSamples = new Map();
  await rotated(context.runs, setups, async (setup, round) => {
    const nodePids = setup.nodes.map((node) => node.pid()).filter((pid): pid is number => pid !== undefined);
    const generatorBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    let sessions: ChannelPairOverRelay[] = [];
    const support = await measureProcessCost(setup.supportPids(), () =>
      measureProcessCost(nodePids, async () => {
        sessions = await establish(setup.front, SESSIONS_PER_RUN, SETUP_CONCURRENCY);
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const generator = process.cpuUsage(generatorBefore);
    await endSessions(setup, sessions);
    const rate = SESSIONS_PER_RUN / seconds;
    const relayCpu = ((support.result.cost.cpuSeconds ?? NaN) * CPU_MS) / SESSIONS_PER_RUN;
    const supportCpu = ((support.cost.cpuSeconds ?? 0) * CPU_MS) / SESSIONS_PER_RUN;
    const generatorCpu = (generator.user + generator.system) / 1000 / SESSIONS_PER_RUN;
    context.log(
      `cluster sessions ${round === 0 ? 'warm-up' : `run ${round}/${context.runs}`} ${setup.name}: ${formatNumber(rate, 1)} sessions/s; ` +
        `CPU per session: relay nodes ${formatNumber(relayCpu, 2)} ms, HAProxy + Redis ${formatNumber(supportCpu, 2)} ms, load generator ${formatNumber(generatorCpu, 2)} ms`,
    );
    if (round === 0) return;
    record(samples, 'rate', setup.name, rate);
    if (!Number.isNaN(relayCpu)) record(samples, 'relay_cpu', setup.name, relayCpu);
    if (setup.supportPids().length > 0) record(samples, 'support_cpu', setup.name, supportCpu);
    record(samples, 'generator_cpu', setup.name, generatorCpu);
  });
  return samples;
}

type Placement = 'local' | 'remote';

async function splices(context: WorkloadContext, cluster: RelaySetup): Promise<RunSamples> {
  const [a, b] = cluster.nodes;
  if (a === undefined || b === undefined) throw new Error('the splice measurement needs two nodes');
  const samples: RunSamples = new Map();
  const nodePids = (): number[] => cluster.nodes.map((node) => node.pid()).filter((pid): pid is number => pid !== undefined);
  await rotated(context.runs, ['local', 'remote'] as const, async (placement: Placement, round) => {
    const relay: RelayForBench = { url: placement === 'local' ? a.url : b.url, clientUrl: a.url, tokens: cluster.front.tokens };
    const remoteBefore = await cluster.metricSum('kubepair_relay_splices_total', 'kind="remote"');
    const pair = await pairOverRelay(relay, { resumable: true });
    try {
      const remoteAfter = await cluster.metricSum('kubepair_relay_splices_total', 'kind="remote"');
      const remote = remoteAfter > remoteBefore;
      if (remote !== (placement === 'remote')) throw new Error(`a ${placement} session was spliced ${remote ? 'remotely' : 'locally'} (remote splices ${remoteBefore} -> ${remoteAfter})`);
      const { result: seconds, cost } = await measureProcessCost(nodePids(), () => pushThrough(pair, SPLICE_BYTES, CHUNK_BYTES, SPLICE_TIMEOUT_MS), { countInstructions: context.countInstructions });
      const mbps = SPLICE_BYTES / seconds / 1e6;
      const figures = costFigures(cost, 'gib', SPLICE_BYTES / 2 ** 30);
      context.log(
        `cluster splice ${round === 0 ? 'warm-up' : `run ${round}/${context.runs}`} ${placement}: ${formatNumber(mbps, 1)} MB/s` +
          `${figures['cpu'] !== undefined ? `, relay nodes ${formatNumber(figures['cpu'], 2)} CPU s/GiB` : ''}` +
          `${figures['instructions'] !== undefined ? `, ${formatNumber(figures['instructions'], 1)} G instr/GiB` : ''}`,
      );
      if (round === 0) return;
      record(samples, 'mbps', placement, mbps);
      for (const [metric, value] of Object.entries(figures)) record(samples, metric, placement, value);
    } finally {
      await endSessions(cluster, [pair]);
    }
  });
  return samples;
}

async function idleMemory(context: WorkloadContext, setups: readonly RelaySetup[]): Promise<RunSamples> {
  const samples: RunSamples = new Map();
  const runs = Math.min(context.runs, MEMORY_RUNS);
  for (let run = 1; run <= runs; run++) {
    for (let i = 0; i < setups.length; i++) {
      const setup = setups[(i + run) % setups.length]!;
      await setup.restart();
      await endSessions(setup, await establish(setup.front, WARMUP_SESSIONS, SETUP_CONCURRENCY));
      const before = await Promise.all(setup.nodes.map(settledMemory));
      const sessions = await establish(setup.front, IDLE_SESSIONS, SETUP_CONCURRENCY);
      let after: Array<MemorySample & { settled: boolean }>;
      try {
        after = await Promise.all(setup.nodes.map(settledMemory));
      } finally {
        await endSessions(setup, sessions);
      }
      const parts: string[] = [];
      let rssTotal = 0;
      let heapTotal = 0;
      let refused = false;
      setup.nodes.forEach((node, index) => {
        const perSession = memoryPerSession(before[index]!, after[index]!, IDLE_SESSIONS);
        const span = `${formatNumber(before[index]!.rss / 2 ** 20, 1)} -> ${formatNumber(after[index]!.rss / 2 ** 20, 1)} MiB`;
        if ('refused' in perSession) {
          refused = true;
          parts.push(`${node.name} not counted (${span}): ${perSession.refused}`);
          return;
        }
        const rss = perSession.rss / 1024;
        const heap = perSession.heap / 1024;
        rssTotal += rss;
        heapTotal += heap;
        const path = setup.nodes.length === 1 ? setup.name : `${setup.name}_${node.name}`;
        record(samples, 'rss', path, rss);
        record(samples, 'heap', path, heap);
        parts.push(`${node.name} ${formatNumber(rss, 1)} KiB RSS (${span}), ${formatNumber(heap, 1)} KiB heap`);
      });
      // A sum with a node left out would not be one session's cost to the cluster.
      if (setup.nodes.length > 1 && !refused) {
        record(samples, 'rss', `${setup.name}_total`, rssTotal);
        record(samples, 'heap', `${setup.name}_total`, heapTotal);
      }
      const unsettled = [...before, ...after].filter((reading) => !reading.settled).length;
      context.log(`cluster memory run ${run}/${runs} ${setup.name}, per idle session: ${parts.join('; ')}${unsettled > 0 ? ` (${unsettled} readings never settled)` : ''}`);
    }
  }
  return samples;
}

function formatRatio(value: number | null): string {
  return value === null ? 'not measured:' : `${formatNumber(value, 2)}×`;
}

function ratio(numerator: number | null, denominator: number | null): number | null {
  return numerator === null || denominator === null || denominator === 0 ? null : numerator / denominator;
}

/** Run the three measurements on `setups` (the three-node set-up also gives the splices). */
export async function runCluster(context: WorkloadContext, setups: readonly RelaySetup[]): Promise<WorkloadResult> {
  const byName = (name: SetupName): RelaySetup | undefined => setups.find((setup) => setup.name === name);
  const three = byName('3nodes_redis');
  const sessionSamples = await sessionsPerSecond(context, setups);
  const spliceSamples: RunSamples = three === undefined ? new Map<string, Map<string, number[]>>() : await splices(context, three);
  const memorySamples = await idleMemory(context, setups);

  const rate = measurement(
    { id: 'cluster_sessions_per_s', label: `cluster: sessions established per second (to both ends' secure channel; ${SETUP_CONCURRENCY} set-ups in flight)`, unit: 'sessions/s', better: 'higher', digits: 1 },
    sessionSamples.get('rate'),
  );
  const relayCpu = measurement({ id: 'cluster_session_relay_cpu_ms', label: 'cluster: CPU of the relay nodes per session set up', unit: 'CPU ms', better: 'lower', digits: 2 }, sessionSamples.get('relay_cpu'));
  const supportCpu = measurement({ id: 'cluster_session_haproxy_redis_cpu_ms', label: 'cluster: CPU of HAProxy and Redis per session set up', unit: 'CPU ms', better: 'lower', digits: 2 }, sessionSamples.get('support_cpu'));
  const generatorCpu = measurement({ id: 'cluster_session_generator_cpu_ms', label: 'cluster: CPU of the load generator (both endpoints) per session set up', unit: 'CPU ms', better: 'lower', digits: 2 }, sessionSamples.get('generator_cpu'));
  const mbps = measurement({ id: 'cluster_splice_mbps', label: `cluster: one session's throughput, agent to client (${SPLICE_BYTES / 2 ** 20} MiB)`, unit: 'MB/s', better: 'higher', digits: 1 }, spliceSamples.get('mbps'));
  const spliceCost = costMeasurements('cluster_splice', 'gib', spliceSamples);
  const rss = measurement({ id: 'cluster_idle_session_kib', label: `cluster: RSS per idle paired session, per node (${formatNumber(IDLE_SESSIONS, 0)} sessions, after full GC)`, unit: 'KiB', better: 'lower', digits: 1 }, memorySamples.get('rss'));
  const heap = measurement({ id: 'cluster_idle_session_heap_kib', label: 'cluster: V8 heap used per idle paired session, per node', unit: 'KiB', better: 'lower', digits: 1 }, memorySamples.get('heap'));
  const spliceMeasurements = spliceCost.published.map((m) => ({ ...m, label: m.label.replace('cluster_splice: ', 'cluster: ').replace('the tunnel processes', 'the relay nodes') }));
  const measurements: Measurement[] = [rate, relayCpu, supportCpu, generatorCpu, mbps, ...spliceMeasurements, rss, heap];

  const oneRedis = medianOf(rate, '1node_redis');
  const threeRedis = medianOf(rate, '3nodes_redis');
  return {
    measurements,
    headline: {
      cluster_sessions_per_s_1node_memory: medianOf(rate, '1node_memory'),
      cluster_sessions_per_s_1node: oneRedis,
      cluster_sessions_per_s_3nodes: threeRedis,
      cluster_sessions_ratio_3nodes_vs_1node: ratio(threeRedis, oneRedis),
      cluster_splice_local_mbps: medianOf(mbps, 'local'),
      cluster_splice_remote_mbps: medianOf(mbps, 'remote'),
      cluster_splice_local_cpu_s_per_gib: medianOf(spliceCost.cpu, 'local'),
      cluster_splice_remote_cpu_s_per_gib: medianOf(spliceCost.cpu, 'remote'),
      cluster_idle_session_kib_1node: medianOf(rss, '1node_redis'),
      cluster_idle_session_kib_3nodes_total: medianOf(rss, '3nodes_redis_total'),
    },
    skipped: [],
    notes: [
      `Three nodes vs one (both Redis, behind HAProxy): ${formatRatio(ratio(threeRedis, oneRedis))} the sessions per second; ` +
        `remote vs local splice: ${formatRatio(ratio(medianOf(mbps, 'remote'), medianOf(mbps, 'local')))} the throughput, ` +
        `${formatRatio(ratio(medianOf(spliceCost.cpu, 'remote'), medianOf(spliceCost.cpu, 'local')))} the relay CPU per GiB (ratios of the medians).`,
      `Real processes on 127.0.0.1: \`kubepair relay\` nodes (the benchmarks' high limits, log level warn), Debian's redis-server and HAProxy ` +
        `(round robin, the configuration of docs/operations.md). "Behind HAProxy": endpoints use HAProxy's URL; "one node, memory store" is reached directly.`,
      `Sessions per second: ${SESSIONS_PER_RUN} sessions per run, ${SETUP_CONCURRENCY} being set up at a time; a session counts once both ends hold the secure channel ` +
        `(create, agent socket, pair, client socket, CPace handshake, \`established\`). Both endpoints of every session run in the benchmark's own process ` +
        `(the project's relay client and SecureChannel, as test/e2e/relay-cluster.test.ts part e), not in ${SESSIONS_PER_RUN * 2} CLI processes; ` +
        `load generator, nodes, HAProxy and Redis share the machine's cores, so their CPU per session is shown: three nodes can only be faster than one where the nodes, not the generator, are the limit.`,
      `Splices: one session per run, ${SPLICE_BYTES / 2 ** 20} MiB from the agent's channel to the client's (encrypted and decrypted in the benchmark's process). ` +
        'Local: both sockets opened on node n1. Remote: the agent on n2, the client on n1, so n1 splices to n2 over the authenticated cluster link; each socket is opened on its node directly, not through HAProxy, ' +
        'and the placement is checked with the nodes\' `kubepair_relay_splices_total{kind}`. CPU s/GiB: all relay nodes together (from /proc).',
      `Memory: every run restarts the nodes, opens and closes ${WARMUP_SESSIONS} sessions, then reads each node's RSS and V8 heap after a memory-reducing full garbage collection ` +
        `(the binary's node flags, \`--expose-gc\` and a preloaded SIGUSR2 handler started only by the benchmark, bench/relay-memory-probe.ts; read every ${MEMORY_PROBE_PAUSE_MS / 1000} s until ${MEMORY_PROBES} readings agree within ${MEMORY_STABLE_BYTES / 1024} KiB, their median), before and after ${formatNumber(IDLE_SESSIONS, 0)} paired, ` +
        `established, idle sessions; the difference divided by ${formatNumber(IDLE_SESSIONS, 0)}. For three nodes each node's share and their sum (one session's cost to the cluster); ` +
        `a remote splice holds a cluster-link socket on both of its nodes. ${Math.min(context.runs, MEMORY_RUNS)} runs. Issue 15's goal: ≤ 16 KiB RSS per idle session.`,
    ],
    section: {
      name: 'cluster',
      title: 'Relay cluster',
      pathLabels: PATH_LABELS,
    },
  };
}
