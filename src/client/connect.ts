/**
 * `kubepair connect`: the client role (docs/design.md §1, §4, §6). It pairs with the agent through
 * the relay using the code, validates the session description, opens the local listener(s) on
 * 127.0.0.1, writes the temporary kubeconfig, and runs the shell, the command, or waits.
 *
 * Every exit path removes the kubeconfig: normal exit, a command's exit, the tunnel dying
 * (the user is told in one line and the child is stopped), the AbortSignal passed to start
 * (the CLI aborts it on a signal: connect-termination.ts), and as a last resort the process
 * `exit` hook in kubeconfig.ts. Kubeconfigs that earlier connects could not remove (killed
 * with SIGKILL) are removed before pairing (stale-kubeconfigs.ts).
 *
 * Cancellation: an abort at any point before the shell or command is spawned — while pairing,
 * waiting for the session description, setting up — ends start() with the abort's reason and
 * nothing is run; the last check is made right before the spawn, after letting pending signal
 * handlers run. An abort afterwards stops the child.
 */
import type { PairingCode } from '../channel/pairing-code.js';
import type { SecureChannel } from '../channel/secure-channel.js';
import { openSecureChannel } from '../channel/open-secure-channel.js';
import type { ControlMessage } from '../channel/control-message.js';
import { KubepairError, toKubepairError } from '../errors/index.js';
import { HANDSHAKE_STEP_TIMEOUT_MS } from '../limits.js';
import { MuxClient } from '../mux/mux-client.js';
import { KUBE_API_TARGET } from '../mux/target-name.js';
import type { RelayEndpoint } from '../relay-client/index.js';
import { openRelaySocket, pair } from '../relay-client/index.js';
import { sanitizeClusterName } from '../session/cluster-name.js';
import type { SessionDescription } from '../session/session-description.js';
import { parseSessionDescription } from '../session/session-description.js';
import type { ChildPlan, RunningChild } from './child-session.js';
import { startChildSession } from './child-session.js';
import type { KubeconfigSpec } from './kubeconfig.js';
import { TempKubeconfig } from './kubeconfig.js';
import { LocalListener } from './local-listener.js';
import type { ProxyIdentity } from './proxy-identity.js';
import { createProxyIdentity } from './proxy-identity.js';
import { chooseRuntimeDir } from './runtime-dir.js';
import { removeStaleKubeconfigs } from './stale-kubeconfigs.js';

export interface PortForward {
  readonly localPort: number;
  readonly target: string;
}

export interface ConnectConfig {
  readonly relay: RelayEndpoint;
  readonly code: PairingCode;
  readonly plan: ChildPlan;
  /** Port for the API-server listener (0: any free port). */
  readonly port: number;
  readonly forwards: readonly PortForward[];
  readonly handshakeStepTimeoutMs?: number;
  /** Called right after the shell or command is spawned (not for the `wait` plan). */
  readonly onChildStarted?: () => void;
}

export interface ConnectReporter {
  /** Kubeconfigs of connect processes that no longer run were removed. */
  staleKubeconfigsRemoved?(count: number): void;
  paired(description: SessionDescription): void;
  ready(info: { readonly kubeconfig: string; readonly port: number; readonly forwards: readonly PortForward[]; readonly ramBacked: boolean }): void;
  /** A plain local connection (passthrough API, --forward) was closed because its tunnel stream could not be opened. */
  connectionRefused?(info: { readonly target: string; readonly localPort: number }, error: KubepairError): void;
  tunnelClosed(error: KubepairError | undefined): void;
}

/** The reason `signal` was aborted, as the error start() ends with. */
function abortReason(signal: AbortSignal): KubepairError {
  return toKubepairError(signal.reason, 'KP_ERR_ABORTED');
}

function nextControl(channel: SecureChannel, timeoutMs: number, signal: AbortSignal): Promise<ControlMessage> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortReason(signal));
      return;
    }
    const timer = setTimeout(() => finish(new KubepairError('KP_ERR_SESSION_DESCRIPTION', 'none arrived within the deadline')), timeoutMs);
    const onControl = (message: ControlMessage): void => {
      cleanup();
      resolve(message);
    };
    const onClose = (error: KubepairError | undefined): void => finish(error ?? new KubepairError('KP_ERR_TRANSPORT_CLOSED'));
    const onAbort = (): void => finish(abortReason(signal));
    const cleanup = (): void => {
      clearTimeout(timer);
      channel.off('control', onControl);
      channel.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const finish = (error: KubepairError): void => {
      cleanup();
      reject(error);
    };
    channel.on('control', onControl);
    channel.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** One full turn of the event loop, so that signal handlers already due have run. */
async function letPendingSignalsArrive(): Promise<void> {
  // The first setImmediate may run before this turn's poll phase has read the signal pipe; the
  // second runs after the next poll phase, which has.
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
}

export class Connect {
  readonly #config: ConnectConfig;
  readonly #reporter: ConnectReporter;

  constructor(config: ConnectConfig, reporter: ConnectReporter) {
    this.#config = config;
    this.#reporter = reporter;
  }

  /** Pair, run the plan, clean up; resolves with the exit code to use. */
  async start(signal: AbortSignal): Promise<number> {
    const config = this.#config;
    if (signal.aborted) throw abortReason(signal);
    const runtime = await chooseRuntimeDir();
    const stale = await removeStaleKubeconfigs(runtime.path);
    if (stale.length > 0) this.#reporter.staleKubeconfigsRemoved?.(stale.length);
    // Proxy mode's TLS identity takes tens of ms to make: start now, overlapping the pairing
    // round trips. It is awaited only once the agent says the session is in proxy mode (a
    // failure is reported there); otherwise it is dropped.
    const proxyIdentity: Promise<ProxyIdentity> = createProxyIdentity();
    proxyIdentity.catch(() => undefined);
    let channel: SecureChannel | undefined;
    const listeners: LocalListener[] = [];
    let kubeconfig: TempKubeconfig | undefined;
    let child: RunningChild | undefined;
    try {
      const paired = await pair(config.relay, config.code.nameplate, { signal });
      const socket = await openRelaySocket({ endpoint: config.relay, role: 'client', sessionId: paired.sessionId, key: paired.clientKey, signal });
      channel = await openSecureChannel('client', {
        transport: socket,
        code: config.code,
        sessionId: new Uint8Array(Buffer.from(paired.sessionId, 'base64url')),
        caps: ['mux.h2'],
        signal,
        ...(config.handshakeStepTimeoutMs !== undefined && { stepTimeoutMs: config.handshakeStepTimeoutMs }),
      });
      const description = parseSessionDescription(await nextControl(channel, config.handshakeStepTimeoutMs ?? HANDSHAKE_STEP_TIMEOUT_MS, signal));
      for (const forward of config.forwards) {
        if (!description.targets.includes(forward.target)) {
          throw new KubepairError('KP_ERR_MUX_TARGET_UNKNOWN', `"${forward.target}" (the agent offers: ${description.targets.join(', ')})`);
        }
      }
      this.#reporter.paired(description);
      const mux = new MuxClient(channel);
      const tunnel = channel;
      const openStream = (target: string) => mux.openStream(target);
      const clusterName = sanitizeClusterName(description.cluster.name);

      let spec: Omit<KubeconfigSpec, 'server'>;
      let apiListener: LocalListener;
      if (description.mode === 'proxy') {
        const { caPem, certPem, keyPem, token } = await proxyIdentity;
        apiListener = new LocalListener({ security: { kind: 'tls-token', certPem, keyPem, token }, port: config.port, target: KUBE_API_TARGET, openStream });
        spec = { clusterName, caPem, user: { token }, ...(description.namespace !== undefined && { namespace: description.namespace }) };
      } else {
        const credentials = description.credentials!;
        apiListener = new LocalListener({ security: { kind: 'plain' }, port: config.port, target: KUBE_API_TARGET, openStream });
        spec = {
          clusterName,
          caPem: description.cluster.ca!,
          tlsServerName: description.cluster.server_name!,
          user: 'token' in credentials ? { token: credentials.token } : { clientCertificatePem: credentials.client_certificate, clientKeyPem: credentials.client_key },
          ...(description.namespace !== undefined && { namespace: description.namespace }),
        };
      }
      listeners.push(apiListener);
      const port = await apiListener.listen();
      // A plain client (kubectl in passthrough, anything on a --forward port) can only see its
      // connection close; say why here (kubectl in proxy mode gets a Status instead).
      const reportRefusals = (listener: LocalListener, target: string, localPort: number): void => {
        listener.on('streamError', (error, phase) => {
          if (phase === 'open') this.#reporter.connectionRefused?.({ target, localPort }, error);
        });
      };
      if (description.mode === 'passthrough') reportRefusals(apiListener, KUBE_API_TARGET, port);
      for (const forward of config.forwards) {
        const listener = new LocalListener({ security: { kind: 'plain' }, port: forward.localPort, target: forward.target, openStream });
        listeners.push(listener);
        reportRefusals(listener, forward.target, await listener.listen());
      }
      if (signal.aborted) throw abortReason(signal);
      kubeconfig = await TempKubeconfig.create(runtime.path, { ...spec, server: `https://127.0.0.1:${port}` });
      this.#reporter.ready({ kubeconfig: kubeconfig.path, port, forwards: config.forwards, ramBacked: runtime.ramBacked });

      // The last chance to cancel: nothing has run yet (--no-shell has nothing to run).
      if (config.plan.kind !== 'wait') await letPendingSignalsArrive();
      child = await startChildSession({ plan: config.plan, kubeconfigPath: kubeconfig.path, clusterName, scratchDir: runtime.path, signal });
      if (config.plan.kind !== 'wait') config.onChildStarted?.();
      const running = child;
      const tunnelDied = tunnel.closed.then((error) => ({ kind: 'tunnel' as const, error }));
      const aborted = new Promise<{ kind: 'signal' }>((resolve) => {
        if (signal.aborted) resolve({ kind: 'signal' });
        signal.addEventListener('abort', () => resolve({ kind: 'signal' }), { once: true });
      });
      const outcome = await Promise.race([running.exited.then((code) => ({ kind: 'child' as const, code })), tunnelDied, aborted]);
      if (outcome.kind === 'child') return outcome.code;
      if (outcome.kind === 'tunnel') {
        this.#reporter.tunnelClosed(outcome.error);
        await kubeconfig.remove();
        running.stop();
        await running.exited;
        return 1;
      }
      running.stop();
      return await running.exited.then((code) => (config.plan.kind === 'wait' ? 0 : code));
    } catch (err) {
      if (signal.aborted && child === undefined) throw abortReason(signal);
      throw toKubepairError(err);
    } finally {
      child?.stop();
      await kubeconfig?.remove();
      await Promise.allSettled(listeners.map((listener) => listener.close()));
      channel?.close();
    }
  }
}
