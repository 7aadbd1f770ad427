/**
 * DurableLink (src/relay-client/durable-link.ts, docs/design.md §8.1 "Liveness") against a real
 * relay process, with a fault proxy in front of the relay for each endpoint: a bulk transfer from
 * the agent's channel to the client's survives a cut of the client's carrier, a black hole on the
 * agent's (found by the acknowledgement deadline, not by TCP), and a relay killed with SIGKILL
 * and started again on the same port with the same state directory; the bytes arrive complete,
 * in order (SHA-256 at the far end). When nothing comes back within the resume window both
 * links end with KP_ERR_RESUME_WINDOW_EXPIRED and close their channels.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import type { SecureChannel } from '../../../src/channel/index.js';
import { openSecureChannel } from '../../../src/channel/index.js';
import { KubepairError, isKubepairError } from '../../../src/errors/index.js';
import { DurableLink, backoffDelayMs, createSession, openRelaySocket, pair } from '../../../src/relay-client/index.js';
import type { LinkTiming, RelaySocket } from '../../../src/relay-client/index.js';
import type { RelayControlMessage } from '../../../src/protocol/relay-control.js';
import type { FaultProxy } from '../../helpers/fault-proxy.js';
import { startFaultProxy } from '../../helpers/fault-proxy.js';
import { startRelay, within } from '../../helpers/relay-process.js';
import type { StartedRelay } from '../../helpers/relay-process.js';

const T = { timeout: 120_000 };
const SECRET = '73150286';
const FAST: Partial<LinkTiming> = {
  initialDelayMs: 50,
  maxDelayMs: 400,
  idlePingMs: 200,
  ackDeadlineMs: 1_500,
  checkIntervalMs: 100,
  resumeTimeoutMs: 5_000,
};

type OpenSocket = (signal: AbortSignal) => Promise<RelaySocket>;

interface LinkedPair {
  readonly agent: SecureChannel;
  readonly client: SecureChannel;
  readonly agentLink: DurableLink;
  readonly clientLink: DurableLink;
  readonly events: string[];
}

async function nextControl(socket: RelaySocket, type: RelayControlMessage['type']): Promise<RelayControlMessage> {
  const message = await within(10_000, type, socket.nextControl([type]));
  assert.ok(message !== undefined, `the socket closed before ${type}`);
  return message;
}

describe('DurableLink: a session survives cuts, black holes and relay restarts', { timeout: 600_000 }, () => {
  let relay: StartedRelay;
  let agentProxy: FaultProxy;
  let clientProxy: FaultProxy;
  const pairs: LinkedPair[] = [];

  before(async () => {
    relay = await startRelay({ args: ['--rate-limit', '10000'] });
    agentProxy = await startFaultProxy({ port: relay.port });
    clientProxy = await startFaultProxy({ port: relay.port });
  });
  after(async () => {
    for (const linked of pairs) {
      linked.agentLink.stop();
      linked.clientLink.stop();
      linked.agent.close();
      linked.client.close();
    }
    await agentProxy.close();
    await clientProxy.close();
    await relay.dispose();
  });

  const agentEndpoint = () => ({ url: `http://127.0.0.1:${agentProxy.port}`, token: relay.tokens.agent });
  const clientEndpoint = () => ({ url: `http://127.0.0.1:${clientProxy.port}`, token: relay.tokens.client });

  /** `clientOpen` wraps how the client's link opens its later sockets (a test's refusals). */
  async function linkedPair(resumeWindowS: number, clientOpen: (open: OpenSocket) => OpenSocket = (open) => open): Promise<LinkedPair> {
    const session = await createSession(agentEndpoint());
    const openAgent = (signal?: AbortSignal) => openRelaySocket({ endpoint: agentEndpoint(), role: 'agent', sessionId: session.sessionId, key: session.agentKey, signal });
    const agentSocket = await openAgent();
    const agentConnected = nextControl(agentSocket, 'peer_connected');
    const paired = await pair(clientEndpoint(), session.nameplate);
    const openClient = (signal?: AbortSignal) => openRelaySocket({ endpoint: clientEndpoint(), role: 'client', sessionId: paired.sessionId, key: paired.clientKey, signal });
    const clientSocket = await openClient();
    await Promise.all([agentConnected, nextControl(clientSocket, 'peer_connected')]);
    const code = { nameplate: session.nameplate, secret: SECRET };
    const sessionId = new Uint8Array(Buffer.from(session.sessionId, 'base64url'));
    const common = { code, sessionId, caps: [], stepTimeoutMs: 10_000, channel: { resumable: true } };
    const [agent, client] = await within(
      20_000,
      'pairing',
      Promise.all([openSecureChannel('agent', { ...common, transport: agentSocket }), openSecureChannel('client', { ...common, transport: clientSocket })]),
    );
    agentSocket.sendEstablished(resumeWindowS);
    const events: string[] = [];
    const windowMs = resumeWindowS * 1000;
    const agentLink = new DurableLink({
      channel: agent,
      socket: agentSocket,
      openSocket: openAgent,
      resumeWindowMs: windowMs,
      timing: FAST,
      onCarrier: (socket) => socket.sendEstablished(resumeWindowS),
    });
    const clientLink = new DurableLink({ channel: client, socket: clientSocket, openSocket: clientOpen(openClient), resumeWindowMs: windowMs, timing: FAST });
    for (const [name, link] of [
      ['agent', agentLink],
      ['client', clientLink],
    ] as const) {
      link.on('dropped', (drop) => events.push(`${name} dropped ${drop.side}`));
      link.on('resumed', () => events.push(`${name} resumed`));
      link.on('ended', (error) => events.push(`${name} ended ${error.code}`));
    }
    const linked = { agent, client, agentLink, clientLink, events };
    pairs.push(linked);
    return linked;
  }

  /** Send `bytes` from the agent's mux to the client's; resolves with the SHA-256 the client received. */
  function transfer(linked: LinkedPair, bytes: Buffer): Promise<string> {
    const received = createHash('sha256');
    let count = 0;
    const done = new Promise<string>((resolve, reject) => {
      linked.client.mux.on('data', (chunk: Buffer) => {
        received.update(chunk);
        count += chunk.length;
        if (count === bytes.length) resolve(received.digest('hex'));
      });
      void linked.client.closed.then((error) => reject(error ?? new Error('client channel closed')));
      void linked.agent.closed.then((error) => reject(error ?? new Error('agent channel closed')));
    });
    void (async () => {
      const chunk = 256 * 1024;
      for (let offset = 0; offset < bytes.length; offset += chunk) {
        if (!linked.agent.mux.write(bytes.subarray(offset, offset + chunk))) {
          await new Promise((resolve) => linked.agent.mux.once('drain', resolve));
        }
      }
    })();
    return done;
  }

  /** Wait (bounded) until the client has received at least `bytes` bytes since `since` events... */
  /** A transfer of `sizeMiB` random MiB (see transfer) once its first `firstMiB` have arrived: the bytes and the hash promise. */
  async function transferUnderway(linked: LinkedPair, sizeMiB: number, firstMiB: number): Promise<{ bytes: Buffer; hash: Promise<string> }> {
    const bytes = randomBytes(sizeMiB * 1024 * 1024);
    let seen = 0;
    linked.client.mux.on('data', (chunk: Buffer) => (seen += chunk.length));
    const hash = transfer(linked, bytes);
    await until(() => seen >= firstMiB * 1024 * 1024, `the first ${firstMiB} MiB`);
    return { bytes, hash };
  }

  async function until(predicate: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    const started = Date.now();
    while (!predicate()) {
      if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

  it('backoff doubles from the first delay up to the cap, each delay jittered down by at most the fraction', () => {
    const timing = { initialDelayMs: 100, maxDelayMs: 1_000, jitterFraction: 0.5 };
    assert.deepEqual([1, 2, 3, 4, 5, 40].map((n) => backoffDelayMs(n, timing, () => 0)), [100, 200, 400, 800, 1_000, 1_000]);
    assert.deepEqual([1, 2, 5].map((n) => backoffDelayMs(n, timing, () => 0.999_999)), [50, 100, 500]);
  });

  it('a cut of the client\'s carrier in the middle of a transfer: both sides resume, every byte arrives once, in order', T, async () => {
    const linked = await linkedPair(60);
    const { bytes, hash } = await transferUnderway(linked, 24, 4);
    await clientProxy.cut();
    assert.equal(await within(60_000, 'transfer', hash), sha256(bytes));
    await until(() => linked.events.includes('client resumed') && linked.events.includes('agent resumed'), 'both resumed');
    assert.ok(linked.events.includes('client dropped carrier'), linked.events.join(', '));
    assert.equal(linked.agent.state, 'live');
    assert.equal(linked.client.state, 'live');
  });

  it('a black hole on the agent\'s carrier is found by the acknowledgement deadline; the agent reconnects and the transfer completes', T, async () => {
    const linked = await linkedPair(60);
    const { bytes, hash } = await transferUnderway(linked, 16, 2);
    await agentProxy.blackHole();
    // Nothing closes: only the agent's own deadline can tell the carrier is dead.
    await until(() => linked.events.includes('agent dropped carrier'), 'the agent giving up its carrier');
    await agentProxy.restore();
    assert.equal(await within(60_000, 'transfer', hash), sha256(bytes));
    await until(() => linked.events.includes('agent resumed'), 'agent resumed');
  });

  it('the relay killed with SIGKILL and started again on the same port and state directory: both sides come back, nothing lost', T, async () => {
    const linked = await linkedPair(60);
    const { bytes, hash } = await transferUnderway(linked, 16, 2);
    await relay.stop('SIGKILL');
    relay = await startRelay({ args: ['--rate-limit', '10000'], restartOf: relay });
    assert.equal(await within(60_000, 'transfer', hash), sha256(bytes));
    await until(() => linked.events.includes('client resumed') && linked.events.includes('agent resumed'), 'both resumed');
  });

  it('a reconnect the relay refuses with Retry-After waits at least that long (longer than the whole backoff), then resumes', T, async () => {
    const retryAfterMs = 1_500; // above FAST.maxDelayMs (400 ms): only the Retry-After can explain a wait this long
    const attempts: number[] = [];
    const linked = await linkedPair(60, (open) => async (signal) => {
      attempts.push(performance.now());
      // The relay's answer to the first reconnect: 429 with Retry-After, as relay-socket.ts maps it.
      if (attempts.length === 1) throw new KubepairError('KP_ERR_RELAY_RATE_LIMITED', 'too many new sockets for this side of the session; wait a minute', { retryAfterMs });
      return open(signal);
    });
    // Bytes the agent sent after `established`, on the same socket, have crossed the relay: it is
    // established there, so the cut suspends the session instead of ending a pairing attempt.
    const first = randomBytes(64 * 1024);
    assert.equal(await within(30_000, 'a first transfer', transfer(linked, first)), sha256(first));
    await clientProxy.cut();
    await until(() => linked.events.includes('client resumed'), 'the client to resume after the wait').catch((err: unknown) => {
      throw new Error(`${(err as Error).message} (events: ${linked.events.join(', ')}; attempts: ${attempts.length})`);
    });
    assert.equal(attempts.length, 2, 'one refused attempt, one that resumed');
    // A lower bound only: a timer never fires early, so this cannot flake on a slow machine.
    assert.ok(attempts[1]! - attempts[0]! >= retryAfterMs - 5, `the second attempt came ${Math.round(attempts[1]! - attempts[0]!)} ms after the refusal`);
    assert.equal(linked.client.state, 'live');
  });

  it('Security: nothing comes back within the resume window: both links end with KP_ERR_RESUME_WINDOW_EXPIRED and close their channels', T, async () => {
    const linked = await linkedPair(2);
    await clientProxy.refuseNew(true, 'unlisten');
    await agentProxy.refuseNew(true, 'unlisten');
    try {
      await clientProxy.cut();
      await agentProxy.cut();
      const [agentError, clientError] = await within(30_000, 'both ends', Promise.all([linked.agent.closed, linked.client.closed]));
      const codes = [agentError, clientError].map((error: KubepairError | undefined) => error?.code);
      assert.deepEqual(codes, ['KP_ERR_RESUME_WINDOW_EXPIRED', 'KP_ERR_RESUME_WINDOW_EXPIRED']);
      assert.ok(isKubepairError(agentError, 'KP_ERR_RESUME_WINDOW_EXPIRED'));
      assert.ok(linked.events.includes('agent ended KP_ERR_RESUME_WINDOW_EXPIRED'), linked.events.join(', '));
    } finally {
      await clientProxy.refuseNew(false);
      await agentProxy.refuseNew(false);
    }
  });
});
