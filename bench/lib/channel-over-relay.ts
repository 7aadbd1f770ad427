/**
 * Two SecureChannels (agent and client) in this process, paired through a real relay process
 * the way `share` and `connect` pair (docs/design.md §4): create a session, open both relay
 * sockets, run the handshake over them. The bookkeeping benchmark (workloads/ack-cost.ts) moves
 * bytes from the agent's `mux` to the client's on such a pair, with the channel options under
 * test (acknowledgement schedule, `resumable`); the cluster benchmark (workloads/cluster.ts) pairs
 * many of them, choosing which relay node each side reaches. Loopback only; every wait is bounded.
 */
import type { SecureChannel, SecureChannelOptions } from '../../src/channel/index.js';
import { openSecureChannel } from '../../src/channel/index.js';
import { createSession, openRelaySocket, pair } from '../../src/relay-client/index.js';
import type { RelaySocket } from '../../src/relay-client/index.js';
import { within } from '../../test/helpers/relay-process.js';

const PAIRING_TIMEOUT_MS = 20_000;
const CODE_SECRET = '73150286';

export interface RelayForBench {
  /** Where the agent creates the session and opens its socket. */
  readonly url: string;
  /** Where the client pairs and opens its socket (default `url`): another node of a cluster. */
  readonly clientUrl?: string;
  readonly tokens: { readonly agent: string; readonly client: string };
}

export interface ChannelPairOverRelay {
  readonly sessionId: string;
  readonly agent: SecureChannel;
  readonly client: SecureChannel;
  /** Close both channels and their relay sockets. */
  close(): void;
}

/** Pair an agent and a client channel through `relay`, each with `channel` as its options. */
export async function pairOverRelay(relay: RelayForBench, channel: SecureChannelOptions): Promise<ChannelPairOverRelay> {
  const agentEndpoint = { url: relay.url, token: relay.tokens.agent };
  const clientEndpoint = { url: relay.clientUrl ?? relay.url, token: relay.tokens.client };
  const session = await createSession(agentEndpoint);
  const sockets: RelaySocket[] = [];
  try {
    const agentSocket = await openRelaySocket({ endpoint: agentEndpoint, role: 'agent', sessionId: session.sessionId, key: session.agentKey });
    sockets.push(agentSocket);
    const agentConnected = agentSocket.nextControl(['peer_connected']);
    const paired = await pair(clientEndpoint, session.nameplate);
    const clientSocket = await openRelaySocket({ endpoint: clientEndpoint, role: 'client', sessionId: paired.sessionId, key: paired.clientKey });
    sockets.push(clientSocket);
    await within(PAIRING_TIMEOUT_MS, 'both relay sockets to see their peer', Promise.all([agentConnected, clientSocket.nextControl(['peer_connected'])]));
    const common = {
      code: { nameplate: session.nameplate, secret: CODE_SECRET },
      sessionId: new Uint8Array(Buffer.from(session.sessionId, 'base64url')),
      stepTimeoutMs: PAIRING_TIMEOUT_MS,
      channel,
    };
    const [agent, client] = await within(
      PAIRING_TIMEOUT_MS,
      'the pairing handshake',
      Promise.all([openSecureChannel('agent', { ...common, transport: agentSocket }), openSecureChannel('client', { ...common, transport: clientSocket })]),
    );
    agentSocket.sendEstablished(channel.resumable === true ? 60 : 0);
    return {
      sessionId: session.sessionId,
      agent,
      client,
      close() {
        agent.close();
        client.close();
        for (const socket of sockets) socket.close();
      },
    };
  } catch (err) {
    for (const socket of sockets) socket.close();
    throw err;
  }
}

/**
 * Write `bytes` into the agent's `mux` in `chunkBytes` writes (honouring backpressure) and wait
 * until the client's `mux` has read them all; seconds from the first write to the last byte.
 */
export async function pushThrough(pair: ChannelPairOverRelay, bytes: number, chunkBytes: number, timeoutMs: number): Promise<number> {
  const chunk = Buffer.alloc(chunkBytes, 0x5a);
  let received = 0;
  let onData: ((data: Buffer) => void) | undefined;
  const arrived = new Promise<void>((resolve, reject) => {
    onData = (data: Buffer): void => {
      received += data.length;
      if (received >= bytes) resolve();
    };
    pair.client.mux.on('data', onData);
    void pair.client.closed.then((error) => reject(new Error(`the client channel closed after ${received} of ${bytes} bytes: ${error?.message ?? 'no error'}`)));
    void pair.agent.closed.then((error) => reject(new Error(`the agent channel closed: ${error?.message ?? 'no error'}`)));
  });
  arrived.catch(() => undefined); // awaited below; a late close after a timeout is not unhandled
  const started = process.hrtime.bigint();
  try {
    await within(
      timeoutMs,
      `${bytes} bytes through the channel pair`,
      (async () => {
        for (let sent = 0; sent < bytes; sent += chunkBytes) {
          if (!pair.agent.mux.write(chunk)) await new Promise((resolve) => pair.agent.mux.once('drain', resolve));
        }
        await arrived;
      })(),
    );
  } finally {
    pair.client.mux.off('data', onData!);
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}
