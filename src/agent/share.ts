/**
 * `kubepair share`: the agent role (docs/design.md §1, §3, §4, §6). It creates a relay session,
 * shows the pairing code, and runs the CPace handshake each time the relay reports a client. The
 * agent counts failed pairings itself (it does not trust the relay's count): every failed
 * attempt is reported to the relay as `pake_failed`, and after 5 the code is discarded and
 * share stops, saying someone may be guessing. A paired client gets the session description,
 * then tunnel streams to the offered targets, each recorded in the audit log before it is
 * served and refused while it cannot be (connection-audit.ts). When that client leaves, share
 * offers a fresh code (or exits with --once); an unused code that expires is replaced by a new
 * one.
 * Passthrough mode (docs/passthrough.md) checks its credentials before the first code and ends
 * a session no later than the ServiceAccount token it handed out.
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { PairingCode } from '../channel/pairing-code.js';
import { newPairingCode } from '../channel/pairing-code.js';
import type { SecureChannel } from '../channel/secure-channel.js';
import { openSecureChannel } from '../channel/open-secure-channel.js';
import { KubepairError, toKubepairError } from '../errors/index.js';
import { PAIRING_MAX_ATTEMPTS } from '../limits.js';
import type { TargetHandler } from '../mux/mux-server.js';
import { MuxServer } from '../mux/mux-server.js';
import { KUBE_API_TARGET } from '../mux/target-name.js';
import type { CreatedSession, RelayEndpoint, RelayControlMessage, RelaySocket } from '../relay-client/index.js';
import { createSession, openRelaySocket } from '../relay-client/index.js';
import type { SessionDescription } from '../session/session-description.js';
import { ConnectionAudit } from './connection-audit.js';
import { KubeProxy } from './kube-proxy.js';
import type { ServiceAccountRef } from './passthrough-credentials.js';
import { checkPassthroughCredentials, passthroughCredentials } from './passthrough-credentials.js';
import type { RequestPolicy } from './policy/index.js';
import type { RequestAuditRecord } from '../audit/record.js';
import type { TcpTarget } from './tcp-targets.js';
import { tcpTargetHandler } from './tcp-targets.js';
import type { UpstreamCluster } from './upstream-cluster.js';

export type ShareMode = 'proxy' | 'passthrough';

export interface ShareConfig {
  readonly relay: RelayEndpoint;
  readonly upstream: UpstreamCluster;
  readonly mode: ShareMode;
  readonly policy: RequestPolicy;
  readonly expose: readonly TcpTarget[];
  readonly audit: AuditLog | undefined;
  readonly auditFailOpen?: boolean;
  readonly impersonate?: { readonly user: string; readonly groups: readonly string[] };
  readonly serviceAccount?: ServiceAccountRef;
  /** Exit after the first client's session ends. */
  readonly once: boolean;
  /** How long one paired session may last (default 8 h; the relay enforces its own bound). */
  readonly sessionLifetimeMs: number;
  readonly handshakeStepTimeoutMs?: number;
}

/** What share tells its user; the CLI prints it, tests record it. */
export interface ShareReporter {
  code(code: PairingCode, expiresAt: Date): void;
  attemptFailed(failures: number, max: number, error: KubepairError): void;
  connected(description: SessionDescription): void;
  request(record: RequestAuditRecord): void;
  disconnected(error: KubepairError | undefined): void;
  codeExpired(): void;
}

const CAPABILITIES = ['mux.h2'];

function sessionIdBytes(id: string): Uint8Array {
  return new Uint8Array(Buffer.from(id, 'base64url'));
}

/** Resolves with the next relay control message of one of `types`, or rejects when the socket closes. */
function nextControl(socket: RelaySocket, types: ReadonlyArray<RelayControlMessage['type']>, signal: AbortSignal): Promise<RelayControlMessage | undefined> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      socket.controlMessages.off('control', onControl);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const onControl = (message: RelayControlMessage): void => {
      if (!types.includes(message.type)) return;
      cleanup();
      resolve(message);
    };
    const onClose = (): void => {
      cleanup();
      resolve(undefined);
    };
    const onAbort = (): void => {
      cleanup();
      reject(new KubepairError('KP_ERR_ABORTED', undefined, { cause: signal.reason }));
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    socket.controlMessages.on('control', onControl);
    socket.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class Share {
  readonly #config: ShareConfig;
  readonly #reporter: ShareReporter;

  constructor(config: ShareConfig, reporter: ShareReporter) {
    this.#config = config;
    this.#reporter = reporter;
  }

  /**
   * Run until `signal` aborts, the 5th failed pairing, or (with --once) the first session ends.
   * In passthrough mode the credentials are checked first (a ServiceAccount's TokenRequest
   * included), so a setup that cannot work fails before a code is shown.
   */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#config.mode === 'passthrough') {
      this.#clusterCa();
      await checkPassthroughCredentials(this.#config.upstream, this.#config.serviceAccount);
    }
    for (;;) {
      const outcome = await this.#runSession(signal);
      if (outcome === 'served' && this.#config.once) return;
      if (outcome === 'expired') this.#reporter.codeExpired();
    }
  }

  async #runSession(signal: AbortSignal): Promise<'served' | 'expired'> {
    const relay = this.#config.relay;
    const created = await createSession(relay, { signal });
    const code = newPairingCode(created.nameplate);
    const socket = await openRelaySocket({ endpoint: relay, role: 'agent', sessionId: created.sessionId, key: created.agentKey, signal });
    try {
      this.#reporter.code(code, created.expiresAt);
      for (let failures = 0; failures < PAIRING_MAX_ATTEMPTS; ) {
        const peer = await nextControl(socket, ['peer_connected'], signal);
        if (peer === undefined) return 'expired';
        const channel = await this.#pair(socket, code, created, failures, signal);
        if (channel !== undefined) {
          socket.sendEstablished();
          await this.#serve(channel, created, signal);
          return 'served';
        }
        failures += 1;
      }
      throw new KubepairError('KP_ERR_PAIRING_ATTEMPTS_EXHAUSTED', `${PAIRING_MAX_ATTEMPTS} failed pairings on code ${code.nameplate}-…`);
    } finally {
      socket.close(1000, 'agent done');
    }
  }

  /** One pairing attempt; undefined (and the failure reported) when it failed. */
  async #pair(
    socket: RelaySocket,
    code: PairingCode,
    created: CreatedSession,
    failuresSoFar: number,
    signal: AbortSignal,
  ): Promise<SecureChannel | undefined> {
    const attempt = new AbortController();
    const onLeft = (message: RelayControlMessage): void => {
      if (message.type === 'peer_disconnected') attempt.abort(new KubepairError('KP_ERR_TRANSPORT_CLOSED', 'the client left'));
    };
    socket.controlMessages.on('control', onLeft);
    try {
      return await openSecureChannel('agent', {
        transport: socket,
        code,
        sessionId: sessionIdBytes(created.sessionId),
        caps: CAPABILITIES,
        keepTransportOnFailure: true,
        signal: AbortSignal.any([signal, attempt.signal]),
        ...(this.#config.handshakeStepTimeoutMs !== undefined && { stepTimeoutMs: this.#config.handshakeStepTimeoutMs }),
      });
    } catch (err) {
      if (signal.aborted) throw toKubepairError(err, 'KP_ERR_ABORTED');
      const error = toKubepairError(err);
      if (!socket.closed) socket.sendPakeFailed();
      this.#reporter.attemptFailed(failuresSoFar + 1, PAIRING_MAX_ATTEMPTS, error);
      if (socket.closed && error.code !== 'KP_ERR_PAIRING_FAILED') throw error;
      return undefined;
    } finally {
      socket.controlMessages.off('control', onLeft);
    }
  }

  /** The cluster CA the client's kubeconfig will trust in passthrough mode; the kubeconfig must name one. */
  #clusterCa(): string {
    const ca = this.#config.upstream.caPem;
    if (ca === undefined) throw new KubepairError('KP_ERR_KUBECONFIG_UNSUPPORTED', 'passthrough mode needs the cluster CA in the kubeconfig');
    return ca;
  }

  /**
   * The session description for a session that may last until `expiresAt`. In passthrough mode
   * with a ServiceAccount token that the API server issued for less time, the session ends
   * when the token does, and `expires_at` says so.
   */
  async #describe(expiresAt: Date): Promise<SessionDescription> {
    const { upstream, mode, policy, expose } = this.#config;
    const base = {
      type: 'session' as const,
      cluster: { name: upstream.contextName || upstream.clusterName },
      mode,
      policy: policy.description,
      targets: [KUBE_API_TARGET, ...expose.map((target) => target.name)],
      ...(upstream.namespace !== undefined && { namespace: upstream.namespace }),
      expires_at: expiresAt.toISOString(),
    };
    if (mode === 'proxy') return base;
    const ca = this.#clusterCa();
    const passthrough = await passthroughCredentials(upstream, this.#config.serviceAccount, (expiresAt.getTime() - Date.now()) / 1000);
    const ends = passthrough.expiresAt !== undefined && passthrough.expiresAt < expiresAt ? passthrough.expiresAt : expiresAt;
    return {
      ...base,
      cluster: { ...base.cluster, server_name: upstream.serverName, ca },
      credentials: passthrough.credentials,
      expires_at: ends.toISOString(),
    };
  }

  /**
   * What the audit records about a session: its mode and, in passthrough mode, which kind of
   * credentials the client received and until when (never the credentials themselves), so it
   * can be shown afterwards what was handed out.
   */
  #auditDetail(description: SessionDescription): string {
    const parts = [`mode=${description.mode}`];
    const credentials = description.credentials;
    if (credentials !== undefined) {
      const account = this.#config.serviceAccount;
      const kind = 'token' in credentials ? (account !== undefined ? `serviceaccount-token:${account.namespace}/${account.name}` : 'bearer-token') : 'client-certificate';
      parts.push(`credentials=${kind}`);
    }
    parts.push(`expires_at=${description.expires_at}`);
    return parts.join(' ');
  }

  async #serve(channel: SecureChannel, created: CreatedSession, signal: AbortSignal): Promise<void> {
    const config = this.#config;
    const client = 'paired-client';
    let proxy: KubeProxy | undefined;
    const targets = new Map<string, TargetHandler>();
    if (config.mode === 'proxy') {
      proxy = new KubeProxy({
        upstream: config.upstream,
        policy: config.policy,
        audit: config.audit,
        ...(config.auditFailOpen !== undefined && { auditFailOpen: config.auditFailOpen }),
        session: created.sessionId,
        client,
        ...(config.impersonate !== undefined && { impersonate: config.impersonate }),
        onRequest: (record) => this.#reporter.request(record),
      });
      const kubeProxy = proxy;
      targets.set(KUBE_API_TARGET, (stream) => kubeProxy.handle(stream));
    } else {
      targets.set(KUBE_API_TARGET, tcpTargetHandler({ name: KUBE_API_TARGET, host: config.upstream.host, port: config.upstream.port }));
    }
    for (const target of config.expose) targets.set(target.name, tcpTargetHandler(target));
    // Every stream, to every target, is recorded before it is served, or refused (fail closed).
    const gate = new ConnectionAudit({ audit: config.audit, failOpen: config.auditFailOpen === true, session: created.sessionId, client });

    let description: SessionDescription;
    try {
      description = await this.#describe(new Date(Date.now() + config.sessionLifetimeMs));
    } catch (err) {
      channel.close(toKubepairError(err));
      throw err;
    }
    channel.sendControl(description);
    const mux = new MuxServer(channel, { targets, gate });
    void config.audit?.append({ event: 'session_established', session: created.sessionId, detail: this.#auditDetail(description) }).catch(() => undefined);
    this.#reporter.connected(description);

    const lifetime = setTimeout(() => channel.close(new KubepairError('KP_ERR_SESSION_EXPIRED')), Math.max(0, Date.parse(description.expires_at) - Date.now()));
    const onAbort = (): void => channel.close();
    signal.addEventListener('abort', onAbort, { once: true });
    const error = await channel.closed;
    clearTimeout(lifetime);
    signal.removeEventListener('abort', onAbort);
    mux.close();
    await proxy?.close();
    void config.audit?.append({ event: 'session_ended', session: created.sessionId, ...(error !== undefined && { detail: error.code }) }).catch(() => undefined);
    this.#reporter.disconnected(error);
  }
}
