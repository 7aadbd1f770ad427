/**
 * The whole kubepair data path in one process, for tests where the point is the library:
 * fixture API server ← KubeProxy (agent) ← MuxServer ← SecureChannel ⇄ SecureChannel →
 * MuxClient → LocalListener (TLS + bearer token) ← real kubectl with a kubepair kubeconfig.
 * The relay is replaced by an in-memory transport pair; everything else is the real code.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { AuditLog } from '../../src/audit/audit-log.js';
import type { RequestAuditRecord } from '../../src/audit/record.js';
import { KubeProxy } from '../../src/agent/kube-proxy.js';
import type { ExecRecordingOptions } from '../../src/agent/kube-proxy.js';
import { RequestPolicy } from '../../src/agent/policy/index.js';
import type { PolicyHolder } from '../../src/agent/policy/index.js';
import type { PolicyOptions } from '../../src/agent/policy/index.js';
import { loadUpstreamCluster } from '../../src/agent/upstream-cluster.js';
import { TempKubeconfig } from '../../src/client/kubeconfig.js';
import { LocalListener } from '../../src/client/local-listener.js';
import type { MessageTransport } from '../../src/channel/transport.js';
import type { SecureChannel } from '../../src/channel/secure-channel.js';
import { MuxClient, MuxServer } from '../../src/mux/index.js';
import { CertificateAuthority } from '../../src/tls/index.js';
import type { KubeApiServer, KubeconfigForOptions } from '../fixtures/kube-api-server/server.js';
import { startKubeApiServer } from '../fixtures/kube-api-server/server.js';
import { pairedChannels } from './channel-pair.js';
import type { KubectlOptions } from './kubectl.js';
import { kubectlSandbox } from './kubectl.js';
import { within } from './wait-until.js';

/** How long close() may take (the listener and the proxy end their streams), in ms. */
const CLOSE_TIMEOUT_MS = 15_000;

export interface InProcessTunnelOptions {
  readonly policy?: PolicyOptions;
  /** A policy the test changes while requests run (wins over `policy`). */
  readonly policyHolder?: PolicyHolder;
  readonly audit?: AuditLog;
  readonly auditFailOpen?: boolean;
  readonly impersonate?: { readonly user: string; readonly groups: readonly string[] };
  readonly api?: KubeApiServer;
  /** How the agent's kubeconfig for the fixture is written (default: the admin certificate). */
  readonly agentKubeconfig?: KubeconfigForOptions;
  /** Record exec and attach sessions (default: not recorded). */
  readonly recording?: ExecRecordingOptions;
  /** The carrier between the two channels (default: an in-memory pair), e.g. one a test watches. */
  readonly transports?: [MessageTransport, MessageTransport];
}

export interface InProcessTunnel {
  readonly api: KubeApiServer;
  /** kubectl options pointing at the tunnel's kubeconfig, with a private HOME. */
  readonly kubectl: KubectlOptions;
  readonly kubeconfigPath: string;
  readonly token: string;
  readonly listenerPort: number;
  /** The session CA the local listener's certificate comes from (what the kubeconfig trusts). */
  readonly caPem: string;
  /** The two ends of the secure channel (tests that watch what crosses it). */
  readonly channels: { readonly agent: SecureChannel; readonly client: SecureChannel };
  /** Audit records in the order requests finished. */
  readonly records: RequestAuditRecord[];
  /**
   * Resolves with the first record (already finished or still to come) that `predicate`
   * accepts; rejects after `timeoutMs`. Records are written when a request ends, which for an
   * upgrade or a watch can be after kubectl has exited.
   */
  waitForRecord(predicate: (record: RequestAuditRecord) => boolean, timeoutMs: number): Promise<RequestAuditRecord>;
  close(): Promise<void>;
}

export async function startInProcessTunnel(options: InProcessTunnelOptions = {}): Promise<InProcessTunnel> {
  const api = options.api ?? (await startKubeApiServer());
  const sandbox = await kubectlSandbox('kubepair-tunnel-');
  const agentKubeconfig = await sandbox.writeKubeconfig('agent.kubeconfig', api.kubeconfigFor(options.agentKubeconfig));
  const upstream = await loadUpstreamCluster({ kubeconfig: agentKubeconfig });
  const { agent, client } = await pairedChannels({}, options.transports);
  const records: RequestAuditRecord[] = [];
  const finished = new EventEmitter();
  const proxy = new KubeProxy({
    upstream,
    policy: options.policyHolder ?? RequestPolicy.create(options.policy ?? { mode: 'open' }),
    audit: options.audit,
    ...(options.auditFailOpen !== undefined && { auditFailOpen: options.auditFailOpen }),
    session: 'test-session',
    client: 'test-client',
    ...(options.impersonate !== undefined && { impersonate: options.impersonate }),
    ...(options.recording !== undefined && { recording: options.recording }),
    onRequest: (record) => {
      records.push(record);
      finished.emit('record', record);
    },
  });
  const server = new MuxServer(agent, { targets: new Map([['kube-apiserver', (stream) => proxy.handle(stream)]]) });
  const mux = new MuxClient(client);
  const ca = await CertificateAuthority.create({ commonName: 'kubepair session CA' });
  const leaf = await ca.issueServerCertificate({ ipAddresses: ['127.0.0.1'] });
  const token = randomBytes(32).toString('base64url');
  const listener = new LocalListener({
    security: { kind: 'tls-token', certPem: leaf.certPem, keyPem: leaf.keyPem, token },
    target: 'kube-apiserver',
    beginStream: (target) => Promise.resolve(mux.beginStream(target)),
  });
  const listenerPort = await listener.listen();
  const kubeconfig = await TempKubeconfig.create(sandbox.dir, {
    clusterName: 'fixture',
    server: `https://127.0.0.1:${listenerPort}`,
    caPem: ca.certPem,
    user: { token },
  });
  return {
    api,
    kubectl: { kubeconfig: kubeconfig.path, home: join(sandbox.dir) },
    kubeconfigPath: kubeconfig.path,
    token,
    listenerPort,
    caPem: ca.certPem,
    channels: { agent, client },
    records,
    waitForRecord(predicate, timeoutMs) {
      const done = records.find(predicate);
      if (done !== undefined) return Promise.resolve(done);
      return new Promise((resolve, reject) => {
        const onRecord = (record: RequestAuditRecord): void => {
          if (!predicate(record)) return;
          clearTimeout(timer);
          finished.off('record', onRecord);
          resolve(record);
        };
        const timer = setTimeout(() => {
          finished.off('record', onRecord);
          const last = records.slice(-5).map((r) => `${r.method} ${r.path} ${r.status}`);
          reject(new Error(`no matching audit record within ${timeoutMs} ms; ${records.length} records so far, the last: ${last.join(', ')}`));
        }, timeoutMs);
        finished.on('record', onRecord);
      });
    },
    close: () =>
      within(
        CLOSE_TIMEOUT_MS,
        'the in-process tunnel to close (listener, proxy, API server)',
        (async () => {
          await listener.close();
          mux.close();
          server.close();
          await proxy.close();
          agent.close();
          client.close();
          await kubeconfig.remove();
          if (options.api === undefined) await api.close();
          await sandbox.remove();
        })(),
      ),
  };
}
