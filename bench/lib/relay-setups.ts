/**
 * The relay set-ups the cluster benchmark (workloads/cluster.ts) compares, all real processes on
 * 127.0.0.1: one relay node with the memory store (test/helpers/relay-process.ts), and one or
 * three nodes on a real redis-server behind a real HAProxy in round-robin mode
 * (test/helpers/relay-cluster.ts, the configuration docs/operations.md shows). Every node runs
 * with the benchmarks' relay limits (thousands of sessions from 127.0.0.1), logs at `warn`, and
 * runs with the installed binary's node flags (src/cli/node-flags.ts) and has the memory probe
 * preloaded (bench/relay-memory-probe.ts, `--expose-gc`), so its memory can be read after a full
 * garbage collection. The probe's answers on a node's stderr are the only
 * input read here besides /metrics; both come from processes this benchmark started.
 */
import { BIN_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { repoPath } from '../../test/helpers/paths.js';
import type { RelayCluster } from '../../test/helpers/relay-cluster.js';
import { startRelayCluster } from '../../test/helpers/relay-cluster.js';
import type { StartedRelay, StartRelayOptions } from '../../test/helpers/relay-process.js';
import { metric, startRelay } from '../../test/helpers/relay-process.js';
import { within } from '../../test/helpers/wait-until.js';
import type { RelayForBench } from './channel-over-relay.js';
import { BENCH_RELAY_ARGS } from './kubepair-tunnel.js';

export type SetupName = '1node_memory' | '1node_redis' | '3nodes_redis';

/** Node flags of every relay process the relay and cluster benchmarks start: the installed binary's, and the memory probe. */
export const PROBE_NODE_ARGS: readonly string[] = [...BIN_NODE_FLAGS, '--expose-gc', '--import', repoPath('build/bench/relay-memory-probe.js')];
/** Relay flags: the benchmarks' limits, and no per-socket info lines (their cost is not the relay's forwarding). */
const RELAY_ARGS: readonly string[] = [...BENCH_RELAY_ARGS, '--log-level', 'warn'];
/** A node's start (or restart) until it listens and HAProxy sees it up, in ms. */
const NODE_READY_MS = 60_000;
/** A node's stop after SIGTERM, in ms (no sessions are open then). */
const NODE_STOP_MS = 30_000;
/** A memory probe's answer, in ms. */
const PROBE_ANSWER_MS = 10_000;
const PROBE_POLL_MS = 20;
const PROBE_LINE = /^kubepair-bench-memory (\d+) (\{.*\})$/gm;

export interface RelayNode {
  /** n1, n2, n3 (HAProxy's server names); `relay` for the single memory-store node. */
  readonly name: string;
  /** Its own URL (not HAProxy's): to place a socket on this node. */
  readonly url: string;
  /** Its process id now (a new one after restart), undefined if it is not running. */
  pid(): number | undefined;
  /** Its stderr so far (where the memory probe answers). */
  stderr(): string;
}

export interface RelaySetup {
  readonly name: SetupName;
  /** For the report. */
  readonly label: string;
  /** Where endpoints go when placement does not matter: HAProxy for a cluster, the node itself otherwise. */
  readonly front: RelayForBench;
  readonly nodes: readonly RelayNode[];
  /** HAProxy's and redis-server's pids (none for the memory store): their CPU is counted apart. */
  supportPids(): number[];
  /** A /metrics sample summed over the nodes and over its label sets that have `label` (one `key="value"`); 0 when absent. */
  metricSum(name: string, label?: string): Promise<number>;
  /** Stop every node and start it again on its port (a fresh process); resolves once all serve again. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface MemorySample {
  /** Resident set size after a memory-reducing full garbage collection, in bytes. */
  readonly rss: number;
  /** V8 heap in use after them, in bytes. */
  readonly heapUsed: number;
}

/**
 * A node's memory reading: probes MEMORY_PROBE_PAUSE_MS apart until the last MEMORY_PROBES (ten
 * seconds' worth) agree within MEMORY_STABLE_BYTES of RSS, at most MEMORY_MAX_PROBES; the median
 * of the last ones. A fresh relay gives some 40 MiB of RSS back to the system about ten seconds
 * after it starts (its heap unchanged), and pages come back for seconds after a burst of work: a
 * shorter window took readings before such a drop and saw sessions cost negative memory. (Since
 * the probe's collection is V8's memory-reducing one, readings agree from the first.)
 */
export const MEMORY_PROBES = 10;
export const MEMORY_PROBE_PAUSE_MS = 1_000;
export const MEMORY_STABLE_BYTES = 512 * 1024;
const MEMORY_MAX_PROBES = 90;

/** `node`'s memory once its RSS stopped moving (see MEMORY_PROBES); `settled` false when it never did. */
export async function settledMemory(node: RelayNode): Promise<MemorySample & { settled: boolean }> {
  const readings: MemorySample[] = [];
  const spread = (last: readonly MemorySample[]): number => Math.max(...last.map((r) => r.rss)) - Math.min(...last.map((r) => r.rss));
  let settled = false;
  while (!settled && readings.length < MEMORY_MAX_PROBES) {
    await new Promise((resolve) => setTimeout(resolve, MEMORY_PROBE_PAUSE_MS));
    readings.push(await probeMemory(node));
    settled = readings.length >= MEMORY_PROBES && spread(readings.slice(-MEMORY_PROBES)) <= MEMORY_STABLE_BYTES;
  }
  const last = readings.slice(-MEMORY_PROBES);
  const median = (values: number[]): number => values.sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
  return { rss: median(last.map((r) => r.rss)), heapUsed: median(last.map((r) => r.heapUsed)), settled };
}

/** A RelayNode view of a single relay process (the relay workload's). */
export function relayNodeOf(relay: StartedRelay, name = 'relay'): RelayNode {
  return {
    name,
    url: relay.url,
    pid: () => (relay.child.exitCode === null && relay.child.signalCode === null ? relay.child.pid : undefined),
    stderr: () => relay.stderr.join('\n'),
  };
}

/** Ask `node` for its memory after a memory-reducing full garbage collection (SIGUSR2 to the probe); bounded. */
export async function probeMemory(node: RelayNode): Promise<MemorySample> {
  const pid = node.pid();
  if (pid === undefined) throw new Error(`relay node ${node.name} is not running`);
  const last = (): { seq: number; sample: { gc: boolean; rss: number; heapUsed: number } } | undefined => {
    const lines = [...node.stderr().matchAll(PROBE_LINE)];
    const match = lines[lines.length - 1];
    return match === undefined ? undefined : { seq: Number(match[1]), sample: JSON.parse(match[2]!) as { gc: boolean; rss: number; heapUsed: number } };
  };
  const before = last()?.seq ?? 0;
  process.kill(pid, 'SIGUSR2');
  return within(
    PROBE_ANSWER_MS,
    `the memory probe of relay node ${node.name}`,
    (async () => {
      for (;;) {
        const answer = last();
        if (answer !== undefined && answer.seq > before) {
          if (!answer.sample.gc) throw new Error(`relay node ${node.name} runs without --expose-gc`);
          return { rss: answer.sample.rss, heapUsed: answer.sample.heapUsed };
        }
        await new Promise((resolve) => setTimeout(resolve, PROBE_POLL_MS));
      }
    })(),
  );
}

/** One relay, memory store, reached directly. */
export async function startSingleRelay(): Promise<RelaySetup> {
  const options: StartRelayOptions = { args: RELAY_ARGS, logLevel: 'warn', nodeArgs: PROBE_NODE_ARGS, timeoutMs: NODE_READY_MS };
  let relay: StartedRelay = await startRelay(options);
  const node: RelayNode = {
    name: 'relay',
    url: relay.url,
    pid: () => (relay.child.exitCode === null && relay.child.signalCode === null ? relay.child.pid : undefined),
    stderr: () => relay.stderr.join('\n'),
  };
  return {
    name: '1node_memory',
    label: 'one node, memory store',
    front: { url: relay.url, tokens: relay.tokens },
    nodes: [node],
    supportPids: () => [],
    metricSum: async (name, label) => (await metric(relay, name, label === undefined ? '' : `{${label}}`)) ?? 0,
    async restart() {
      await relay.stop('SIGTERM', NODE_STOP_MS);
      relay = await startRelay({ ...options, restartOf: relay });
    },
    close: () => relay.dispose(),
  };
}

/** `nodeCount` nodes on one redis-server behind HAProxy (round robin). */
export async function startClusterSetup(nodeCount: 1 | 3): Promise<RelaySetup> {
  const cluster: RelayCluster = await startRelayCluster({ nodeCount, relayArgs: RELAY_ARGS, nodeArgs: PROBE_NODE_ARGS });
  const nodes: RelayNode[] = cluster.nodes.map((first, index) => ({
    name: first.name,
    url: first.url,
    pid: () => {
      const now = cluster.nodes[index]!;
      return now.running ? now.process.child.pid : undefined;
    },
    stderr: () => cluster.nodes[index]!.process.stderr(),
  }));
  return {
    name: nodeCount === 1 ? '1node_redis' : '3nodes_redis',
    label: `${nodeCount === 1 ? 'one node' : 'three nodes'}, Redis store, behind HAProxy`,
    front: { url: cluster.haproxy.url, tokens: cluster.tokens },
    nodes,
    supportPids: () => [cluster.haproxy.process.child.pid, cluster.redis.process.child.pid].filter((pid): pid is number => pid !== undefined),
    async metricSum(name, label = '') {
      let sum = 0;
      for (let index = 0; index < nodes.length; index++) sum += (await cluster.metric(index, name, label)) ?? 0;
      return sum;
    },
    async restart() {
      for (let index = 0; index < nodes.length; index++) {
        await cluster.stopNode(index, NODE_STOP_MS);
        await cluster.startNode(index);
        await cluster.haproxy.waitForServer(nodes[index]!.name, 'UP', NODE_READY_MS);
      }
    },
    close: () => cluster.close(),
  };
}
