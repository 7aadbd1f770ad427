/**
 * A hostile or slow agent for end-to-end tests of `kubepair connect`: it runs in the test
 * process against a real relay, with the project's own relay client and secure channel, but
 * sends whatever session description the test gives it (escape sequences in rules, a mode that
 * does not match the rules), and can hold back its half of the handshake until the test says
 * so (a share that pairs slowly, or never). Everything it opens is closed by close().
 */
import { newPairingCode, formatPairingCode } from '../../src/channel/pairing-code.js';
import type { SecureChannel } from '../../src/channel/secure-channel.js';
import { openSecureChannel } from '../../src/channel/open-secure-channel.js';
import { MuxServer } from '../../src/mux/mux-server.js';
import { PEER_CAPABILITIES } from '../../src/protocol/capabilities.js';
import type { RelayEndpoint, RelaySocket } from '../../src/relay-client/index.js';
import { createSession, openRelaySocket } from '../../src/relay-client/index.js';

export interface ScriptedAgentOptions {
  /** The relay and an agent-scope token. */
  readonly relay: RelayEndpoint;
  /** The CONTROL message sent as the session description (not validated here). */
  readonly description: { readonly type: string } & Record<string, unknown>;
  /**
   * When given, the agent waits for it after the client arrives and before its handshake (a
   * gate that never opens: an agent that never answers).
   */
  readonly gate?: Promise<void>;
}

export interface ScriptedAgent {
  /** The code to give connect. */
  readonly code: string;
  /** Resolves when the relay reports that a client claimed the code. */
  readonly clientArrived: Promise<void>;
  /** Resolves with the outcome of the agent's part: paired (description sent) or the error. */
  readonly outcome: Promise<'paired' | Error>;
  close(): Promise<void>;
}

/** A description for a well-behaved proxy-mode session ending in an hour. */
export function proxyDescription(overrides: Record<string, unknown> = {}): { readonly type: string } & Record<string, unknown> {
  return {
    type: 'session',
    cluster: { name: 'scripted' },
    mode: 'proxy',
    policy: { mode: 'readonly', allow: [], deny: [] },
    targets: ['kube-apiserver'],
    expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    ...overrides,
  };
}

export async function startScriptedAgent(options: ScriptedAgentOptions): Promise<ScriptedAgent> {
  const abort = new AbortController();
  const created = await createSession(options.relay, { signal: abort.signal });
  const code = newPairingCode(created.nameplate);
  const socket: RelaySocket = await openRelaySocket({ endpoint: options.relay, role: 'agent', sessionId: created.sessionId, key: created.agentKey, signal: abort.signal });
  let channel: SecureChannel | undefined;
  let mux: MuxServer | undefined;
  const clientArrived = new Promise<void>((resolve) => {
    const onControl = (message: { type: string }): void => {
      if (message.type !== 'peer_connected') return;
      socket.controlMessages.off('control', onControl);
      resolve();
    };
    socket.controlMessages.on('control', onControl);
  });
  const outcome = (async (): Promise<'paired' | Error> => {
    try {
      const stopped = new Promise<never>((_resolve, reject) => abort.signal.addEventListener('abort', () => reject(new Error('closed by the test')), { once: true }));
      stopped.catch(() => undefined); // rejects on close() even after the races below are over
      await Promise.race([clientArrived, stopped]);
      if (options.gate !== undefined) await Promise.race([options.gate, stopped]);
      channel = await openSecureChannel('agent', {
        transport: socket,
        code,
        sessionId: new Uint8Array(Buffer.from(created.sessionId, 'base64url')),
        caps: PEER_CAPABILITIES,
        signal: abort.signal,
      });
      socket.sendEstablished();
      channel.sendControl({ ...options.description });
      mux = new MuxServer(channel, { targets: new Map() });
      return 'paired';
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  })();
  return {
    code: formatPairingCode(code),
    clientArrived,
    outcome,
    async close() {
      abort.abort();
      mux?.close();
      channel?.close();
      socket.close(1000, 'test done');
      await outcome;
    },
  };
}
