/**
 * A relay cluster as real processes for end-to-end tests and the cluster benchmark (docs/design.md
 * §8.2, docs/operations.md "Relay cluster"): one real redis-server (redis-server.ts), NODE_COUNT
 * (or `nodeCount`) `kubepair relay` processes sharing it (`--store redis://`, `--advertise`,
 * `--cluster-key-file`, one tokens file, one state directory so they share the relay secret, one
 * audit log each), HAProxy in front of them in round-robin mode (haproxy.ts), the fixture API
 * server, and `kubepair share` / `kubepair connect` processes given HAProxy's URL, each with a
 * private HOME and XDG directories.
 *
 * Nodes log JSON at `info` to stdout; `events(node)` parses every line each node's processes
 * wrote so far (a restarted node's earlier processes included), so a test can tell which node a
 * socket landed on (`socket_connected`, `splice_open`, `splice_accepted`). A node is stopped
 * with SIGKILL (`killNode`) or SIGTERM (`stopNode`) and started again on the same port
 * (`startNode`). Every process is started through managed-process.ts and stopped by its pid in
 * close(); starting is all or nothing (what started is stopped if a step fails).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeApiServer, KubeApiServerOptions } from '../fixtures/kube-api-server/server.js';
import { startKubeApiServer } from '../fixtures/kube-api-server/server.js';
import { CLI_PATH } from './cli.js';
import type { TestHaproxy } from './haproxy.js';
import { startHaproxy } from './haproxy.js';
import { kubectlSandbox } from './kubectl.js';
import type { ManagedProcess } from './managed-process.js';
import { startProcess } from './managed-process.js';
import type { TestRedis } from './redis-server.js';
import { startRedis } from './redis-server.js';
import { freePort } from './tcp.js';
import { createRelayToken, makeUserHome } from './user-home.js';
import { within } from './wait-until.js';

/** Relay nodes behind the balancer. */
export const NODE_COUNT = 3;
/** From starting a node to its "listening" line, in ms (a loaded 2-core machine). */
const NODE_READY_TIMEOUT_MS = 60_000;
/** From starting `kubepair share` to its pairing code, in ms. */
const SHARE_READY_TIMEOUT_MS = 60_000;
/** The fixture API server's close, in ms. */
const API_CLOSE_TIMEOUT_MS = 15_000;
/** Ports tried for a node's first start (another process may take a free port first). */
const NODE_PORT_TRIES = 3;
/** Redis key prefix of the cluster. */
const STORE_PREFIX = 'kp-cluster-e2e:';

export type LogEvent = Record<string, unknown> & { readonly event?: string };

export interface ClusterNode {
  /** n1, n2, n3: also its server name in HAProxy. */
  readonly name: string;
  readonly port: number;
  /** Its --advertise URL (http://127.0.0.1:PORT). */
  readonly url: string;
  /** The process running now (a new one after startNode). */
  readonly process: ManagedProcess;
  readonly auditLog: string;
  /** Is a process of this node running? */
  readonly running: boolean;
}

export interface RelayCluster {
  readonly redis: TestRedis;
  readonly haproxy: TestHaproxy;
  readonly nodes: readonly ClusterNode[];
  readonly api: KubeApiServer;
  readonly dir: string;
  readonly agentKubeconfig: string;
  readonly tokens: { readonly agent: string; readonly client: string; readonly metrics: string };
  /** Environment for a share (agent token) or connect (client token) process, relay = HAProxy. */
  env(role: 'agent' | 'client', extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  startShare(args?: readonly string[]): Promise<{ process: ManagedProcess; code: string }>;
  startConnect(args: readonly string[]): ManagedProcess;
  /** Every JSON log line node `index` wrote so far (all its processes), oldest first. */
  events(index: number): LogEvent[];
  /** The index of the node whose log has a record matching `match`, or -1. */
  nodeWith(match: (event: LogEvent) => boolean): number;
  /** One metric of node `index` (sum over its label sets matching `labels`), undefined if absent. */
  metric(index: number, name: string, labels?: string): Promise<number | undefined>;
  /** SIGKILL node `index` and wait for its exit. */
  killNode(index: number): Promise<void>;
  /** SIGTERM node `index` and wait (bounded) for its exit; its exit status. */
  stopNode(index: number, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Start node `index` again on its port; resolves once it listens. */
  startNode(index: number): Promise<void>;
  close(): Promise<void>;
}

export interface RelayClusterOptions {
  readonly api?: KubeApiServerOptions;
  /** Extra flags for every node (after the helper's own: a flag given again here wins). */
  readonly relayArgs?: readonly string[];
  /**
   * The nodes' --trust-proxy (default `loopback`). `127.0.0.1` trusts HAProxy only (it connects to
   * the nodes from there), so a test client on another loopback address (127.0.0.5...) is counted
   * as itself and cannot pass for another address by sending X-Forwarded-For.
   */
  readonly trustProxy?: string;
  /** Node.js flags for every node's process, before the CLI (the benchmark's `--expose-gc`). */
  readonly nodeArgs?: readonly string[];
  /** How many relay nodes behind HAProxy (default NODE_COUNT). */
  readonly nodeCount?: number;
}

interface NodeState {
  readonly name: string;
  port: number;
  process: ManagedProcess | undefined;
  /** stdout of the node's earlier processes. */
  earlier: string[];
  readonly auditLog: string;
}

interface Started {
  readonly dir: string;
  readonly processes: ManagedProcess[];
  redis?: TestRedis;
  haproxy?: TestHaproxy;
  api?: KubeApiServer;
  sandbox?: Awaited<ReturnType<typeof kubectlSandbox>>;
}

async function release(started: Started): Promise<void> {
  await Promise.allSettled([...started.processes].reverse().map((p) => p.stop('SIGTERM', 3000)));
  await Promise.allSettled([started.haproxy?.stop(), started.redis?.stop()]);
  if (started.api !== undefined) await within(API_CLOSE_TIMEOUT_MS, 'the fixture API server to close', started.api.close());
  await started.sandbox?.remove();
  await rm(started.dir, { recursive: true, force: true });
}

export async function startRelayCluster(options: RelayClusterOptions = {}): Promise<RelayCluster> {
  const started: Started = { dir: await mkdtemp(join(tmpdir(), 'kubepair-cluster-e2e-')), processes: [] };
  try {
    return await startCluster(started, options);
  } catch (err) {
    await release(started).catch(() => undefined);
    throw new Error(`the relay cluster did not start: ${(err as Error).message}`, { cause: err });
  }
}

function parseEvents(text: string): LogEvent[] {
  const events: LogEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      events.push(JSON.parse(line) as LogEvent);
    } catch {
      // a line being written: the next call sees it whole
    }
  }
  return events;
}

async function startCluster(started: Started, options: RelayClusterOptions): Promise<RelayCluster> {
  const { dir, processes } = started;
  const user = await makeUserHome(dir);
  const { state, config } = user;
  const baseEnv = (): NodeJS.ProcessEnv => user.env();
  const tokensFile = join(config, 'relay-tokens.json');
  const createToken = (scope: string, name: string): Promise<string> => createRelayToken(user, tokensFile, scope, name);
  const tokens = { agent: await createToken('agent', 'e2e-agent'), client: await createToken('client', 'e2e-client'), metrics: await createToken('metrics', 'e2e-metrics') };
  const keyFile = join(config, 'cluster-key');
  await writeFile(keyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
  const redis = await startRedis();
  started.redis = redis;
  const stateDir = join(state, 'relay-state');

  const nodes: NodeState[] = Array.from({ length: options.nodeCount ?? NODE_COUNT }, (_, i) => ({ name: `n${i + 1}`, port: 0, process: undefined, earlier: [], auditLog: join(state, `relay-audit-n${i + 1}.jsonl`) }));
  /** Start node `node` on its port; false when the port was taken (first start only tries again). */
  const launch = async (node: NodeState): Promise<'listening' | 'port taken'> => {
    const url = `http://127.0.0.1:${node.port}`;
    const child = startProcess(
      process.execPath,
      [...(options.nodeArgs ?? []), CLI_PATH, 'relay', '--listen', `127.0.0.1:${node.port}`, '--tokens-file', tokensFile, '--audit-log', node.auditLog, '--state-dir', stateDir, '--log-level', 'info',
        '--store', redis.url, '--store-prefix', STORE_PREFIX, '--advertise', url, '--cluster-key-file', keyFile,
        // HAProxy adds X-Forwarded-For; the real client address counts in the per-address limits.
        '--trust-proxy', options.trustProxy ?? 'loopback',
        // Hundreds of sessions from 127.0.0.1 within a minute; the defaults are tested on their own.
        '--rate-limit', '100000', '--max-sessions-per-ip', '1000',
        ...(options.relayArgs ?? [])],
      baseEnv(),
    );
    processes.push(child);
    node.process = child;
    try {
      await child.waitFor(/kubepair relay listening on /, NODE_READY_TIMEOUT_MS, 'stderr');
      return 'listening';
    } catch (err) {
      await child.stop('SIGKILL', 0);
      if (/EADDRINUSE|address already in use/i.test(child.stderr() + child.stdout())) return 'port taken';
      throw err;
    }
  };
  for (const node of nodes) {
    let outcome: 'listening' | 'port taken' = 'port taken';
    for (let attempt = 0; attempt < NODE_PORT_TRIES && outcome === 'port taken'; attempt++) {
      node.port = await freePort();
      outcome = await launch(node);
    }
    if (outcome !== 'listening') throw new Error(`node ${node.name} found no free port in ${NODE_PORT_TRIES} tries`);
  }
  const haproxy = await startHaproxy(nodes.map((node) => ({ name: node.name, port: node.port })));
  started.haproxy = haproxy;
  for (const node of nodes) await haproxy.waitForServer(node.name, 'UP', NODE_READY_TIMEOUT_MS);

  const api = await startKubeApiServer(options.api ?? { objects: [] });
  started.api = api;
  const sandbox = await kubectlSandbox('kubepair-cluster-agent-');
  started.sandbox = sandbox;
  const agentKubeconfig = await sandbox.writeKubeconfig('agent.kubeconfig', api.kubeconfigFor({}));
  const env = (role: 'agent' | 'client', extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    ...baseEnv(),
    KUBEPAIR_RELAY: haproxy.url,
    KUBEPAIR_TOKEN: role === 'agent' ? tokens.agent : tokens.client,
    ...extra,
  });
  const nodeAt = (index: number): NodeState => {
    const node = nodes[index];
    if (node === undefined) throw new Error(`no node ${index}`);
    return node;
  };
  const isRunning = (node: NodeState): boolean => node.process !== undefined && node.process.child.exitCode === null && node.process.child.signalCode === null;
  const retire = (node: NodeState): void => {
    if (node.process !== undefined) node.earlier.push(node.process.stdout());
    node.process = undefined;
  };
  let shares = 0;
  /** Parsed lines of each node's current process, and how much of its stdout they cover (polled often: parse each line once). */
  const parsed = new Map<ManagedProcess, { upTo: number; events: LogEvent[] }>();
  const eventsOf = (child: ManagedProcess): LogEvent[] => {
    const text = child.stdout();
    const cache = parsed.get(child) ?? { upTo: 0, events: [] };
    const end = text.lastIndexOf('\n') + 1;
    if (end > cache.upTo) {
      cache.events.push(...parseEvents(text.slice(cache.upTo, end)));
      cache.upTo = end;
    }
    parsed.set(child, cache);
    return cache.events;
  };
  const events = (index: number): LogEvent[] => {
    const node = nodeAt(index);
    return [...parseEvents(node.earlier.join('\n')), ...(node.process === undefined ? [] : eventsOf(node.process))];
  };
  return {
    redis,
    haproxy,
    get nodes() {
      return nodes.map((node) => ({
        name: node.name,
        port: node.port,
        url: `http://127.0.0.1:${node.port}`,
        process: node.process!,
        auditLog: node.auditLog,
        running: isRunning(node),
      }));
    },
    api,
    dir,
    agentKubeconfig,
    tokens,
    env,
    async startShare(args = []) {
      // One audit log per share: several run at once (one writer per file).
      shares += 1;
      const share = startProcess(process.execPath, [CLI_PATH, 'share', '--kubeconfig', agentKubeconfig, '--audit-log', join(state, `share-${shares}-audit.jsonl`), ...args], env('agent'));
      processes.push(share);
      const match = await share.waitFor(/Pairing code: (\d+-\d{4}-\d{4})/, SHARE_READY_TIMEOUT_MS, 'stdout');
      return { process: share, code: match[1]! };
    },
    startConnect(args) {
      const connect = startProcess(process.execPath, [CLI_PATH, 'connect', ...args], env('client'));
      processes.push(connect);
      return connect;
    },
    events,
    nodeWith(match) {
      for (let index = 0; index < nodes.length; index++) if (events(index).some(match)) return index;
      return -1;
    },
    metric(index, name, labels = '') {
      const node = nodeAt(index);
      return new Promise((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: node.port, path: '/metrics', headers: { authorization: `Bearer ${tokens.metrics}` }, timeout: 10_000 }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          res.on('end', () => {
            let sum: number | undefined;
            for (const line of body.split('\n')) {
              if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
              if (labels !== '' && !line.includes(labels)) continue;
              sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
            }
            resolve(sum);
          });
        });
        req.on('timeout', () => req.destroy(new Error(`no /metrics answer from ${node.name}`)));
        req.on('error', reject);
        req.end();
      });
    },
    async killNode(index) {
      const node = nodeAt(index);
      await node.process?.stop('SIGKILL', 0);
      retire(node);
    },
    async stopNode(index, timeoutMs) {
      const node = nodeAt(index);
      const child = node.process;
      if (child === undefined) throw new Error(`node ${node.name} is not running`);
      const exit = await child.stop('SIGTERM', timeoutMs);
      retire(node);
      return exit;
    },
    async startNode(index) {
      const node = nodeAt(index);
      if (isRunning(node)) throw new Error(`node ${node.name} is still running`);
      retire(node);
      if ((await launch(node)) !== 'listening') throw new Error(`node ${node.name}'s port ${node.port} is taken by another process`);
    },
    close: () => release(started),
  };
}
