/**
 * Relay nodes of one cluster for integration tests (docs/design.md §8.2): one real redis-server
 * (redis-server.ts) and real `kubepair relay` processes (relay-process.ts) sharing it, each on a
 * free port of 127.0.0.1 that is also its `--advertise` URL, with one cluster key and one state
 * directory (so one relay secret), as the nodes of a cluster have. Each node keeps its own tokens
 * file and audit log (startRelay's). A raw Redis client reads what the nodes wrote.
 *
 * `startClusterNodes` starts Redis and `count` nodes; `addNode` starts another (a node a test
 * stops or kills, say); `close` stops every node by pid (SIGKILL if still running), the client,
 * Redis, and removes the directory, and rethrows the first failure. `splicedPair` makes a session
 * whose two sockets sit on two nodes; `clusterNodesInSuite` starts and closes the nodes with a
 * test suite.
 */
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { createClient } from '@redis/client';
import type { RedisClientType } from '@redis/client';
import { startRedis } from './redis-server.js';
import type { TestRedis } from './redis-server.js';
import { createSessionViaApi, openPeer, pairViaApi, privateTempDir, startRelay } from './relay-process.js';
import type { StartedRelay, TestPeer } from './relay-process.js';
import { freePort } from './tcp.js';

/** From a relayed client's upgrade to its node's `splice_open`, in ms. */
const SPLICE_OPEN_TIMEOUT_MS = 10_000;

export interface ClusterNodesOptions {
  /** --store-prefix of every node (one per test file keeps files from reading each other's keys). */
  readonly prefix: string;
  /** Nodes started at once (default 2). */
  readonly count?: number;
  /** Extra flags for every node. */
  readonly args?: readonly string[];
}

export interface ClusterNodes {
  readonly redis: TestRedis;
  /** A client of that Redis, to read what the nodes wrote. */
  readonly store: RedisClientType;
  readonly prefix: string;
  /** The shared cluster key file (0600). */
  readonly keyFile: string;
  /** The nodes started so far, in order (those of `addNode` included). */
  readonly nodes: readonly StartedRelay[];
  /** A node's --advertise URL (its id in the store and in the logs). */
  advertised(node: StartedRelay): string;
  /** Start one more node, with `args` after every node's. */
  addNode(args?: readonly string[]): Promise<StartedRelay>;
  close(): Promise<void>;
}

export async function startClusterNodes(options: ClusterNodesOptions): Promise<ClusterNodes> {
  const dir = await privateTempDir('kubepair-cluster-nodes-');
  const nodes: StartedRelay[] = [];
  const advertise = new Map<StartedRelay, string>();
  let redis: TestRedis | undefined;
  let store: RedisClientType | undefined;
  const close = async (): Promise<void> => {
    const stopped = await Promise.allSettled([store?.close(), ...nodes.map((node) => node.dispose())]);
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
    for (const result of stopped) if (result.status === 'rejected') throw result.reason;
  };
  try {
    redis = await startRedis();
    const started = redis;
    const keyFile = join(dir, 'cluster-key');
    await writeFile(keyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
    store = createClient({ url: started.url });
    store.on('error', () => undefined);
    await store.connect();
    const addNode = async (args: readonly string[] = []): Promise<StartedRelay> => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const node = await startRelay({
        args: [
          '--listen', `127.0.0.1:${port}`, '--store', started.url, '--store-prefix', options.prefix, '--advertise', url, '--cluster-key-file', keyFile,
          '--state-dir', join(dir, 'shared-state'), ...(options.args ?? []), ...args,
        ],
      });
      nodes.push(node);
      advertise.set(node, url);
      return node;
    };
    for (let index = 0; index < (options.count ?? 2); index++) await addNode();
    const client = store;
    return {
      redis: started,
      store: client,
      prefix: options.prefix,
      keyFile,
      nodes,
      advertised(node) {
        const url = advertise.get(node);
        if (url === undefined) throw new Error('not a node of this cluster');
        return url;
      },
      addNode,
      close,
    };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/** A session whose sockets sit on two nodes, both told `peer_connected`. */
export interface SplicedPair {
  readonly sessionId: string;
  readonly nameplate: string;
  readonly clientKey: string;
  readonly agentKey: string;
  readonly agent: TestPeer;
  readonly client: TestPeer;
}

/**
 * Agent on `holder`, client paired through `relaying`'s API and connected there, which relays it
 * to `holder` (`splice_open` in `relaying`'s log); both told `peer_connected`.
 */
export async function splicedPair(holder: StartedRelay, relaying: StartedRelay): Promise<SplicedPair> {
  const session = await createSessionViaApi(holder);
  const agent = await openPeer(holder, 'agent', session.session_id, session.agent_key);
  const pairing = await pairViaApi(relaying, session.nameplate);
  const mark = relaying.logs.mark();
  const client = await openPeer(relaying, 'client', session.session_id, pairing.client_key);
  await relaying.logs.waitFor((r) => r.event === 'splice_open' && r.session === session.session_id, SPLICE_OPEN_TIMEOUT_MS, mark, 'splice_open on the relaying node');
  await agent.control('peer_connected');
  await client.control('peer_connected');
  return { sessionId: session.session_id, nameplate: session.nameplate, clientKey: pairing.client_key, agentKey: session.agent_key, agent, client };
}

/** The nodes of a suite (clusterNodesInSuite), readable once its `before` has run. */
export interface SuiteClusterNodes {
  readonly cluster: ClusterNodes;
  /** The first and the second node started. */
  readonly a: StartedRelay;
  readonly b: StartedRelay;
  /** Fields of a session's hash in Redis (under the suite's prefix), null where absent. */
  readonly fields: (id: string, ...names: string[]) => Promise<Array<string | null>>;
  /** openPeer on `node`; the suite's `after` terminates every peer opened so, and every one handed to `track`. */
  readonly open: (node: StartedRelay, role: 'agent' | 'client', id: string, key: string) => Promise<TestPeer>;
  readonly track: (...peers: TestPeer[]) => void;
}

/**
 * Start cluster nodes in the calling suite's `before` and close them in its `after` (call it in
 * a `describe` body).
 */
export function clusterNodesInSuite(options: ClusterNodesOptions): SuiteClusterNodes {
  let started: ClusterNodes | undefined;
  const peers: TestPeer[] = [];
  before(async () => {
    started = await startClusterNodes(options);
  });
  after(async () => {
    for (const peer of peers) peer.ws.terminate();
    await started?.close();
  });
  const cluster = (): ClusterNodes => {
    if (started === undefined) throw new Error('the cluster nodes start in the suite\'s before()');
    return started;
  };
  const node = (index: number): StartedRelay => {
    const found = cluster().nodes[index];
    if (found === undefined) throw new Error(`no node ${index + 1} started`);
    return found;
  };
  return {
    get cluster() {
      return cluster();
    },
    get a() {
      return node(0);
    },
    get b() {
      return node(1);
    },
    fields: (id, ...names) => cluster().store.sendCommand<Array<string | null>>(['HMGET', `${options.prefix}s:${id}`, ...names]),
    open: async (on, role, id, key) => {
      const peer = await openPeer(on, role, id, key);
      peers.push(peer);
      return peer;
    },
    track: (...opened) => {
      peers.push(...opened);
    },
  };
}
