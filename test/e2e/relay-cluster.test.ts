/**
 * A relay cluster through real processes (issue 13 "Tests"; docs/design.md §8.2; docs/operations.md
 * "Relay cluster"): one real redis-server, three real `kubepair relay` nodes on it (`--store
 * redis://`, `--advertise`, `--cluster-key-file`), a real HAProxy in round-robin mode in front of
 * them (test/helpers/haproxy.ts, the configuration docs/operations.md shows), and real `kubepair
 * share`, `kubepair connect --no-shell` and kubectl processes against the fixture API server, all
 * given HAProxy's URL only (test/helpers/relay-cluster.ts).
 *
 * In order, on sessions that stay open across the steps:
 * a. a session whose two sockets land on different nodes (the nodes' logs say which: the node
 *    that relays a socket logs `splice_open`, the other `socket_connected`): kubectl works and
 *    bytes through an `--expose` target arrive unchanged both ways (SHA-256 at both ends);
 * b. the node holding the session killed with SIGKILL during a 256 MiB transfer and a `kubectl
 *    logs -f`: both endpoints reconnect through HAProxy to the other nodes and resume; every byte
 *    (hash checked) and every log line arrive once, kubectl reports no error;
 * c. a rolling restart of the three nodes one by one (SIGTERM, wait for the exit, start on the
 *    same port, wait until HAProxy sees it up), with kubectl requests through the open session
 *    between the steps, all succeeding;
 * d. Redis restarted empty while a session is open: the session still resumes after its node is
 *    killed (its keys are stateless, docs/design.md §8.1), only the unpaired code of a waiting
 *    share is lost; then Redis unreachable: a new session gets 503 KP_ERR_RELAY_STORE_UNAVAILABLE,
 *    the open session keeps forwarding, and the nodes are ready again once Redis is back;
 * e. 200 concurrent sessions spread over the nodes by HAProxy. 200 share + connect process pairs
 *    are too heavy for the 2-core machines this suite runs on, so these endpoints are in-process:
 *    the project's own relay client (createSession, pair, openRelaySocket) and SecureChannel
 *    (openSecureChannel: the real CPace pairing) at both ends, over real WebSockets through
 *    HAProxy. Every session pairs, carries random bytes both ways (SHA-256 checked), and the
 *    sockets landed on all three nodes.
 *
 * Bounded: one timeout for the file, every wait bounded, every process stopped by pid in `after`.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { openSecureChannel } from '../../src/channel/open-secure-channel.js';
import { newPairingCode } from '../../src/channel/pairing-code.js';
import type { SecureChannel } from '../../src/channel/secure-channel.js';
import { createSession, openRelaySocket, pair } from '../../src/relay-client/index.js';
import type { RelaySocket } from '../../src/relay-client/index.js';
import type { KubectlOptions, RunningKubectl } from '../helpers/kubectl.js';
import { kubectlSandbox, runKubectl, startKubectl } from '../helpers/kubectl.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import type { LogEvent, RelayCluster } from '../helpers/relay-cluster.js';
import { NODE_COUNT, startRelayCluster } from '../helpers/relay-cluster.js';
import { BulkTarget, HashingSink } from '../helpers/bulk-transfer.js';
import { freePort } from '../helpers/tcp.js';
import { waitUntil, within } from '../helpers/wait-until.js';

/** The whole file on a loaded 2-core machine. */
const WHOLE_FILE_MS = 12 * 60_000;
/** A paired connect's kubeconfig, one kubectl request, in ms. */
const SETUP_MS = 60_000;
/** Both endpoints back after a node died or restarted, in ms. */
const RECOVERY_MS = 120_000;
/** The bulk transfer of part b. */
const TRANSFER_BYTES = 256 * 1024 * 1024;
/** Bytes allowed before the kill, so the transfer is in flight when the node dies. */
const BEFORE_KILL_BYTES = 48 * 1024 * 1024;
/** Bytes each way in part a. */
const SMALL_EXCHANGE_BYTES = 8 * 1024 * 1024;
/** Tries at a session whose sockets land on different nodes (each lands so by 2/3 chance). */
const SPREAD_TRIES = 8;
/** How long a node may take to stop after SIGTERM (its --shutdown-grace, 5 s, plus the close handshakes), in ms. */
const NODE_STOP_MS = 30_000;

/** Concurrent in-process sessions of part e, opened PARALLEL_OPENS at a time and then all kept open. */
const MANY_SESSIONS = 200;
const PARALLEL_OPENS = 20;
/** Bytes each way on each of them. */
const MANY_SESSION_BYTES = 128 * 1024;

const OBJECTS = [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'logger-0', namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } }];
const RESUMED = /resumed after [^;]+; nothing lost/;

/** One share + connect pair with its exposed target. */
interface OpenSession {
  readonly share: ManagedProcess;
  readonly connect: ManagedProcess;
  readonly sessionId: string;
  readonly target: BulkTarget;
  readonly forwardPort: number;
  readonly kubectl: KubectlOptions;
}

/** `resumed` lines a process printed so far. */
function resumedLines(process: ManagedProcess): number {
  return process.stderr().split('\n').filter((line) => RESUMED.test(line)).length;
}

describe('e2e: a relay cluster of three nodes on one Redis behind HAProxy: sessions span nodes and survive node and Redis failures', { timeout: WHOLE_FILE_MS }, () => {
  let cluster: RelayCluster;
  let sandbox: Awaited<ReturnType<typeof kubectlSandbox>>;
  const sessions: OpenSession[] = [];
  const kubectls: RunningKubectl[] = [];
  const sinks: HashingSink[] = [];
  let kubeconfigs = 0;

  before(async () => {
    cluster = await startRelayCluster({ api: { objects: OBJECTS, logs: { initialLines: 3, intervalMs: 25 } } });
    sandbox = await kubectlSandbox('kubepair-e2e-cluster-');
  });

  after(async () => {
    for (const sink of sinks) sink.socket.destroy();
    await Promise.allSettled(kubectls.map((kubectl) => kubectl.stop()));
    await Promise.allSettled(sessions.flatMap((session) => [session.connect.stop('SIGTERM', 3000), session.share.stop('SIGTERM', 3000)]));
    await Promise.allSettled(sessions.map((session) => session.target.close()));
    await cluster?.close();
    await sandbox?.remove();
  });

  /** Which node session `id`'s `role` endpoint is connected to: the node relaying it, else the node admitting it. */
  function landing(id: string, role: 'agent' | 'client', from: readonly number[] = []): number {
    const after = (index: number): LogEvent[] => cluster.events(index).slice(from[index] ?? 0);
    for (let index = 0; index < NODE_COUNT; index++) if (after(index).some((e) => e.event === 'splice_open' && e.session === id && e.role === role)) return index;
    for (let index = 0; index < NODE_COUNT; index++) {
      const events = after(index);
      const relayedHere = events.some((e) => e.event === 'splice_accepted' && e.session === id && e.role === role);
      if (!relayedHere && events.some((e) => e.event === 'socket_connected' && e.session === id && e.role === role)) return index;
    }
    return -1;
  }

  /** For a failure message: what each node logged of session `id`, and the endpoints' last lines. */
  function story(session: OpenSession): string {
    const lines: string[] = [];
    for (let index = 0; index < NODE_COUNT; index++) {
      for (const e of cluster.events(index)) {
        if (e.session !== session.sessionId) continue;
        const { event, role, node, code, status, err } = e as Record<string, unknown>;
        lines.push(`n${index + 1} ${String(e['time'])} ${String(event)} ${JSON.stringify({ role, node, code, status, err })}`);
      }
    }
    return [...lines.sort((a, b) => a.slice(3).localeCompare(b.slice(3))).slice(-80), `share: ${session.share.stderr().slice(-1500)}`, `connect: ${session.connect.stderr().slice(-1500)}`].join('\n');
  }

  /** waitUntil, with the session's story in the error. */
  async function waitFor(session: OpenSession, condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    try {
      await waitUntil(condition, timeoutMs, what);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${story(session)}`, { cause: err });
    }
  }

  /** How many log records each node has now (to look only at later ones). */
  const marks = (): number[] => Array.from({ length: NODE_COUNT }, (_, index) => cluster.events(index).length);

  /** Start share (exposing a BulkTarget of `bytes`) and connect, wait until kubectl can use it. */
  async function openSession(bytes: number): Promise<OpenSession> {
    const target = new BulkTarget(bytes, { halfOpen: true });
    const targetPort = await target.listen();
    const shared = await cluster.startShare(['--policy', 'open', '--expose', `bulk=127.0.0.1:${targetPort}`]);
    const forwardPort = await freePort();
    const connect = cluster.startConnect(['--no-shell', '--forward', `${forwardPort}:bulk`, shared.code]);
    const session: Omit<OpenSession, 'sessionId' | 'kubectl'> = { share: shared.process, connect, target, forwardPort };
    sessions.push(session as OpenSession);
    const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, SETUP_MS, 'stdout');
    const nameplate = shared.code.split('-')[0];
    const created = cluster.nodeWith((e) => e.event === 'session_created' && e.nameplate === nameplate);
    const sessionId = String(cluster.events(created).findLast((e) => e.event === 'session_created' && e.nameplate === nameplate)?.session);
    kubeconfigs += 1;
    const kubeconfig = await sandbox.writeKubeconfig(`tunnel-${kubeconfigs}.kubeconfig`, await readFile(exported[1]!, 'utf8'));
    const opened: OpenSession = { ...session, sessionId, kubectl: { kubeconfig, home: sandbox.dir, timeoutMs: SETUP_MS } };
    sessions[sessions.indexOf(session as OpenSession)] = opened;
    return opened;
  }

  /** `kubectl get pods` through the session: exit 0, the fixture's pod listed. */
  async function kubectlWorks(session: OpenSession, what: string): Promise<void> {
    const result = await runKubectl(['get', 'pods', '-o', 'name'], session.kubectl);
    assert.equal(result.code, 0, `kubectl get pods ${what}: ${result.stderr}`);
    assert.match(result.stdout, /pod\/logger-0/, `kubectl get pods ${what}`);
  }

  /** Stop a session's processes (connect first: the session ends). */
  async function endSession(session: OpenSession): Promise<void> {
    await session.connect.stop('SIGTERM', 10_000);
    await session.share.stop('SIGTERM', 10_000);
  }

  /** SMALL_EXCHANGE_BYTES each way through the session's --forward port and its (unused) target: same SHA-256 at both ends. */
  async function exchange(session: OpenSession, what: string): Promise<void> {
    const sink = new HashingSink(session.forwardPort, { halfOpen: true });
    sinks.push(sink);
    session.target.allow(SMALL_EXCHANGE_BYTES);
    await sink.sendAndEnd(SMALL_EXCHANGE_BYTES, SETUP_MS);
    await waitUntil(() => sink.ended || sink.error !== undefined, SETUP_MS, `the target's bytes to arrive ${what}`);
    await waitUntil(() => session.target.received >= SMALL_EXCHANGE_BYTES, SETUP_MS, `the forward port's bytes to reach the target ${what}`);
    assert.equal(sink.error, undefined, what);
    assert.equal(sink.received, SMALL_EXCHANGE_BYTES, what);
    assert.equal(sink.hash.digest('hex'), session.target.sentHash.digest('hex'), `target → connect: same SHA-256 ${what}`);
    assert.equal(session.target.receivedHash.digest('hex'), sink.sentHash.digest('hex'), `connect → target: same SHA-256 ${what}`);
    sink.socket.destroy();
  }

  let spanning: OpenSession | undefined;
  let spanningNodes: { agent: number; client: number } | undefined;

  it('a. a session whose sockets land on different nodes: kubectl works and bytes through --expose arrive unchanged both ways', async (t) => {
    for (let attempt = 0; attempt < SPREAD_TRIES && spanning === undefined; attempt++) {
      const session = await openSession(SMALL_EXCHANGE_BYTES);
      await waitUntil(() => landing(session.sessionId, 'agent') >= 0 && landing(session.sessionId, 'client') >= 0, SETUP_MS, 'both sockets in the nodes\' logs');
      const nodes = { agent: landing(session.sessionId, 'agent'), client: landing(session.sessionId, 'client') };
      t.diagnostic(`try ${attempt + 1}: agent on n${nodes.agent + 1}, client on n${nodes.client + 1}`);
      if (nodes.agent !== nodes.client) {
        spanning = session;
        spanningNodes = nodes;
      } else {
        await endSession(session);
      }
    }
    assert.ok(spanning !== undefined && spanningNodes !== undefined, `no session spanned two nodes in ${SPREAD_TRIES} tries`);
    // The later socket's node relays it to the earlier one's: exactly one splice_open, on one of the two.
    const relaying = cluster.nodeWith((e) => e.event === 'splice_open' && e.session === spanning!.sessionId);
    assert.ok(relaying === spanningNodes.agent || relaying === spanningNodes.client, `the splice is opened by the node of one of the sockets (n${relaying + 1})`);
    await kubectlWorks(spanning, 'on a session spanning two nodes');

    await exchange(spanning, 'on a session spanning two nodes');
  });

  it('b. the node holding the session killed (SIGKILL) during a 256 MiB transfer and kubectl logs -f: both endpoints resume through HAProxy on the other nodes, nothing lost', async (t) => {
    const session = await openSession(TRANSFER_BYTES);
    await waitUntil(() => landing(session.sessionId, 'agent') >= 0 && landing(session.sessionId, 'client') >= 0, SETUP_MS, 'both sockets in the nodes\' logs');
    // The node that admitted the agent's socket (directly or through a link) holds the session.
    const holder = cluster.nodeWith((e) => e.event === 'socket_connected' && e.session === session.sessionId && e.role === 'agent');
    t.diagnostic(`agent on n${landing(session.sessionId, 'agent') + 1}, client on n${landing(session.sessionId, 'client') + 1}, session held by n${holder + 1}`);
    const logs = startKubectl(['logs', '-f', 'logger-0'], { ...session.kubectl, timeoutMs: WHOLE_FILE_MS });
    kubectls.push(logs);
    await logs.waitFor((lines) => lines.length >= 10, SETUP_MS);
    const sink = new HashingSink(session.forwardPort, { halfOpen: true });
    sinks.push(sink);
    session.target.allow(BEFORE_KILL_BYTES);
    await waitUntil(() => sink.received >= BEFORE_KILL_BYTES / 2, RECOVERY_MS, 'the transfer to move before the kill');
    const resumedBefore = { share: resumedLines(session.share), connect: resumedLines(session.connect) };
    const from = marks();
    await cluster.killNode(holder);
    assert.ok(sink.received < TRANSFER_BYTES, 'the transfer is in flight at the kill');
    session.target.allow(TRANSFER_BYTES);
    await waitFor(session, () => resumedLines(session.share) > resumedBefore.share && resumedLines(session.connect) > resumedBefore.connect, RECOVERY_MS, 'share and connect to say they resumed');
    const now = { agent: landing(session.sessionId, 'agent', from), client: landing(session.sessionId, 'client', from) };
    t.diagnostic(`after the kill: agent on n${now.agent + 1}, client on n${now.client + 1}`);
    assert.ok(now.agent !== holder && now.agent >= 0 && now.client !== holder && now.client >= 0, 'both endpoints reconnected to the nodes still running');
    const lines = logs.lines().length;
    await waitUntil(() => logs.lines().length > lines + 10, RECOVERY_MS, 'log lines to flow again');
    await waitUntil(() => sink.ended || sink.error !== undefined, RECOVERY_MS * 2, 'the transfer to end');
    assert.equal(sink.error, undefined, 'no error on the transfer');
    assert.equal(sink.received, TRANSFER_BYTES, 'every byte arrived');
    assert.equal(sink.hash.digest('hex'), session.target.sentHash.digest('hex'), 'the SHA-256 at the far end is the one of the bytes sent');
    assert.equal(session.target.connections, 1, 'one connection to the target: the transfer was never restarted');

    cluster.api.deleteObject('v1', 'Pod', 'default', 'logger-0'); // ends the followed log
    const logsExit = await within(SETUP_MS, 'kubectl logs -f to exit', new Promise<number | null>((resolve) => {
      if (logs.child.exitCode !== null) resolve(logs.child.exitCode);
      else logs.child.once('close', (code) => resolve(code));
    }));
    assert.equal(logsExit, 0, `kubectl logs -f exit code; stderr: ${logs.stderr()}`);
    assert.equal(logs.stderr(), '', 'kubectl logs -f reported no error');
    const followed = logs.lines();
    assert.deepEqual(followed, followed.map((_, index) => `line ${index + 1} from logger-0/app`), 'every log line exactly once, in order');
    cluster.api.createObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'logger-0', namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } });
    await cluster.startNode(holder);
    await cluster.haproxy.waitForServer(`n${holder + 1}`, 'UP', RECOVERY_MS);
    await kubectlWorks(session, 'after the kill');
    await endSession(session);
  });

  it('c. a rolling restart of all three nodes one by one (SIGTERM, restart on the same port): the open session carries kubectl requests between every step', async (t) => {
    const session = spanning ?? (await openSession(SMALL_EXCHANGE_BYTES));
    await kubectlWorks(session, 'before the rolling restart');
    for (let index = 0; index < NODE_COUNT; index++) {
      const name = `n${index + 1}`;
      const exit = await cluster.stopNode(index, NODE_STOP_MS);
      assert.equal(exit.code, 0, `${name} exited 0 after SIGTERM`);
      await kubectlWorks(session, `with ${name} stopped`);
      await cluster.startNode(index);
      await cluster.haproxy.waitForServer(name, 'UP', RECOVERY_MS);
      await kubectlWorks(session, `after ${name} restarted`);
      t.diagnostic(`${name} restarted; share resumed ${resumedLines(session.share)} times, connect ${resumedLines(session.connect)}`);
    }
    assert.doesNotMatch(session.share.stderr() + session.connect.stderr(), /KP_ERR_/, 'neither endpoint reported an error');
  });

  it('d. Redis restarted empty: the open session still resumes after its node is killed, only a waiting code is lost; Redis away: new sessions 503, the open session forwards, the nodes recover', async (t) => {
    const session = await openSession(SMALL_EXCHANGE_BYTES);
    const waiting = await cluster.startShare(['--policy', 'open']);
    const waitingNameplate = waiting.code.split('-')[0];
    sessions.push({ share: waiting.process, connect: waiting.process, sessionId: '', target: new BulkTarget(0), forwardPort: 0, kubectl: session.kubectl });

    await cluster.redis.restart();
    for (let index = 0; index < NODE_COUNT; index++) await cluster.haproxy.waitForServer(`n${index + 1}`, 'UP', RECOVERY_MS);
    // The node holding the session now dies: the endpoints resume on stateless keys alone.
    const holder = cluster.nodes.findIndex((_, index) => cluster.events(index).some((e) => e.event === 'socket_connected' && e.session === session.sessionId && e.role === 'agent'));
    const resumedBefore = { share: resumedLines(session.share), connect: resumedLines(session.connect) };
    await cluster.killNode(holder);
    await waitFor(session, () => resumedLines(session.share) > resumedBefore.share && resumedLines(session.connect) > resumedBefore.connect, RECOVERY_MS, 'share and connect to resume after Redis lost everything');
    assert.ok(cluster.nodeWith((e) => e.event === 'session_recreated' && e.session === session.sessionId) >= 0, 'a node recreated the session from its keys');
    await kubectlWorks(session, 'after Redis restarted empty and the node died');
    await cluster.startNode(holder);
    await cluster.haproxy.waitForServer(`n${holder + 1}`, 'UP', RECOVERY_MS);
    // The code offered before Redis restarted finds no session.
    const lost = cluster.startConnect(['--no-shell', waiting.code]);
    sessions.push({ share: waiting.process, connect: lost, sessionId: '', target: new BulkTarget(0), forwardPort: 0, kubectl: session.kubectl });
    const lostExit = await lost.exitedWithin(SETUP_MS);
    assert.notEqual(lostExit.code, 0, 'a code from before Redis restarted does not pair');
    t.diagnostic(`the lost code ${waitingNameplate}: ${lost.stderr().trim().split('\n').at(-1) ?? ''}`);

    // Redis away.
    await cluster.redis.kill();
    const answer = await createSessionOn(cluster.nodes[0]!.port, cluster.tokens.agent);
    assert.equal(answer.status, 503, answer.body);
    assert.match(answer.body, /KP_ERR_RELAY_STORE_UNAVAILABLE/);
    // Every node says it is not ready, so HAProxy takes them all out of rotation.
    for (let index = 0; index < NODE_COUNT; index++) await cluster.haproxy.waitForServer(`n${index + 1}`, 'DOWN', RECOVERY_MS);
    // The open session forwards all the same: bytes both ways and a new kubectl request.
    await exchange(session, 'while Redis is away');
    await kubectlWorks(session, 'while Redis is away');
    await cluster.redis.restart();
    for (let index = 0; index < NODE_COUNT; index++) await cluster.haproxy.waitForServer(`n${index + 1}`, 'UP', RECOVERY_MS);
    const fresh = await openSession(0);
    await kubectlWorks(fresh, 'on a session made after Redis came back');
    await endSession(fresh);
  });

  it('e. 200 concurrent sessions through HAProxy (in-process endpoints: the project\'s relay client and secure channel): every one pairs and carries hashed bytes both ways, and they landed on all three nodes', async (t) => {
    const opened: InProcessSession[] = [];
    try {
      for (let start = 0; start < MANY_SESSIONS; start += PARALLEL_OPENS) {
        const batch = await Promise.allSettled(Array.from({ length: Math.min(PARALLEL_OPENS, MANY_SESSIONS - start) }, () => pairInProcess(cluster.haproxy.url, cluster.tokens)));
        for (const result of batch) if (result.status === 'fulfilled') opened.push(result.value);
        const failed = batch.find((result) => result.status === 'rejected');
        if (failed !== undefined) throw new Error(`a session did not pair (${opened.length} paired so far)`, { cause: failed.reason });
      }
      assert.equal(opened.length, MANY_SESSIONS, 'every session paired');
      // All open at once: bytes both ways on every session.
      await within(RECOVERY_MS * 2, 'bytes both ways on every session', Promise.all(opened.map(async (session) => {
        const toClient = randomBytes(MANY_SESSION_BYTES);
        const toAgent = randomBytes(MANY_SESSION_BYTES);
        const arrivals = Promise.all([readHashed(session.client, MANY_SESSION_BYTES), readHashed(session.agent, MANY_SESSION_BYTES)]);
        session.agent.mux.write(toClient);
        session.client.mux.write(toAgent);
        const [atClient, atAgent] = await arrivals;
        assert.equal(atClient, createHash('sha256').update(toClient).digest('hex'), `agent → client of ${session.sessionId}`);
        assert.equal(atAgent, createHash('sha256').update(toAgent).digest('hex'), `client → agent of ${session.sessionId}`);
      })));
      const nodesUsed = new Set<number>();
      let spanningCount = 0;
      for (const session of opened) {
        const agent = landing(session.sessionId, 'agent');
        const client = landing(session.sessionId, 'client');
        assert.ok(agent >= 0 && client >= 0, `both sockets of ${session.sessionId} in the nodes' logs`);
        nodesUsed.add(agent).add(client);
        if (agent !== client) spanningCount += 1;
      }
      t.diagnostic(`${MANY_SESSIONS} sessions; ${spanningCount} spanned two nodes`);
      assert.deepEqual([...nodesUsed].sort(), Array.from({ length: NODE_COUNT }, (_, index) => index), 'sockets landed on every node');
      assert.ok(spanningCount > 0, 'some sessions spanned two nodes');
    } finally {
      for (const session of opened) {
        session.agent.close();
        session.client.close();
        for (const socket of session.sockets) socket.close(1000, 'test done');
      }
    }
  });
});

/** One paired in-process session (part e): both ends' relay sockets and secure channels. */
interface InProcessSession {
  readonly sessionId: string;
  readonly sockets: readonly RelaySocket[];
  readonly agent: SecureChannel;
  readonly client: SecureChannel;
}

/** Create, pair and open a session through `relayUrl` with the project's relay client and channel. */
async function pairInProcess(relayUrl: string, tokens: { agent: string; client: string }): Promise<InProcessSession> {
  const agentEndpoint = { url: relayUrl, token: tokens.agent };
  const clientEndpoint = { url: relayUrl, token: tokens.client };
  const created = await createSession(agentEndpoint);
  const agentSocket = await openRelaySocket({ endpoint: agentEndpoint, role: 'agent', sessionId: created.sessionId, key: created.agentKey });
  const sockets: RelaySocket[] = [agentSocket];
  try {
    const agentHeard = agentSocket.nextControl(['peer_connected']);
    // No wait for a node to admit the agent: a client socket that reaches another node at the same
    // moment meets it all the same (docs/design.md §8.2 "Concurrent attaches").
    const code = newPairingCode(created.nameplate);
    const paired = await pair(clientEndpoint, created.nameplate);
    const clientSocket = await openRelaySocket({ endpoint: clientEndpoint, role: 'client', sessionId: paired.sessionId, key: paired.clientKey });
    sockets.push(clientSocket);
    const heard = await within(SETUP_MS, 'peer_connected on both sides', Promise.all([agentHeard, clientSocket.nextControl(['peer_connected'])]));
    if (heard.some((message) => message === undefined)) throw new Error(`a socket of ${created.sessionId} closed before peer_connected`);
    const sessionId = new Uint8Array(Buffer.from(created.sessionId, 'base64url'));
    const [agent, client] = await within(SETUP_MS, 'the pairing handshake', Promise.all([
      openSecureChannel('agent', { transport: agentSocket, code, sessionId }),
      openSecureChannel('client', { transport: clientSocket, code, sessionId }),
    ]));
    agentSocket.sendEstablished();
    return { sessionId: created.sessionId, sockets, agent, client };
  } catch (err) {
    for (const socket of sockets) socket.close(1000, 'test failed');
    throw err;
  }
}

/** Read exactly `bytes` from a channel's byte stream; its SHA-256. */
function readHashed(channel: SecureChannel, bytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let received = 0;
    const onData = (chunk: Buffer): void => {
      hash.update(chunk);
      received += chunk.length;
      if (received > bytes) reject(new Error(`${received} bytes arrived, ${bytes} were sent`));
      if (received === bytes) {
        channel.mux.off('data', onData);
        resolve(hash.digest('hex'));
      }
    };
    channel.mux.on('data', onData);
  });
}

/** POST /api/v1/sessions straight to one node (not through HAProxy): its status and body. */
function createSessionOn(port: number, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/sessions', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, timeout: 20_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer to POST /api/v1/sessions')));
    req.on('error', reject);
    req.end(JSON.stringify({ protocol: 'kubepair/1' }));
  });
}
