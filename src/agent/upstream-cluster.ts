/**
 * The agent's view of its own cluster (docs/design.md §1, §6): which API server, how to verify it,
 * and how to authenticate to it. The kubeconfig comes from `--kubeconfig`, `$KUBECONFIG`,
 * `~/.kube/config`, or the in-cluster ServiceAccount, parsed and merged by
 * @kubernetes/client-node; `--context` picks the context.
 *
 * Credentials: client certificates, static tokens, token files (re-read, as ServiceAccount
 * tokens rotate), basic auth, and exec plugins (run by exec-credential.ts with a stripped
 * environment). Refused with a clear message: `insecure-skip-tls-verify`, plain-http servers,
 * and the removed auth-provider plugins (gcp, azure, oidc).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Cluster, User } from '@kubernetes/client-node';
import { KubepairError } from '../errors/index.js';
import type { ExecCredential } from './exec-credential.js';
import { ExecCredentialSource, execConfigSchema } from './exec-credential.js';

/** Largest CA, certificate, key or token file read, in bytes. */
const CREDENTIAL_FILE_MAX_BYTES = 256 * 1024; // 256 KiB
/** How long a token file's content is reused before it is read again. */
const TOKEN_FILE_TTL_MS = 60_000; // 1 min

export interface UpstreamLoadOptions {
  /** Explicit kubeconfig path (`--kubeconfig`); otherwise $KUBECONFIG, ~/.kube/config, in-cluster. */
  readonly kubeconfig?: string;
  readonly context?: string;
  /** Use the in-cluster ServiceAccount (`--in-cluster`). */
  readonly inCluster?: boolean;
  /** Variables exec plugins may see although they look sensitive. */
  readonly passEnv?: readonly string[];
}

/** What the agent presents to the API server on each request. */
export interface UpstreamAuth {
  /** Headers to add (Authorization, Impersonate-User from the kubeconfig). */
  readonly headers: Readonly<Record<string, string>>;
  readonly certPem?: string;
  readonly keyPem?: string;
}

export interface UpstreamCluster {
  readonly contextName: string;
  readonly clusterName: string;
  readonly namespace: string | undefined;
  readonly server: URL;
  readonly host: string;
  readonly port: number;
  /** CA bundle PEM to verify the API server; undefined: the system roots. */
  readonly caPem: string | undefined;
  /** Name to verify in the API server's certificate (tls-server-name, else the URL host). */
  readonly serverName: string;
  /** Current credentials (exec plugins and token files are refreshed as needed). */
  auth(): Promise<UpstreamAuth>;
  /** Drop cached credentials after a 401, so the next auth() fetches fresh ones. */
  invalidateAuth(): void;
}

async function readBounded(path: string, what: string): Promise<string> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new KubepairError('KP_ERR_KUBECONFIG_LOAD', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  if (data.length > CREDENTIAL_FILE_MAX_BYTES) throw new KubepairError('KP_ERR_KUBECONFIG_LOAD', `${what} ${path} is larger than 256 KiB`);
  return data.toString('utf8');
}

async function dataOrFile(data: string | undefined, file: string | undefined, what: string): Promise<string | undefined> {
  if (data !== undefined && data !== '') return Buffer.from(data, 'base64').toString('utf8');
  if (file !== undefined && file !== '') return readBounded(file, what);
  return undefined;
}

/**
 * True when loadFromDefault would find nothing real: no $KUBECONFIG, no ~/.kube/config and not
 * in a pod. client-node then invents a cluster at http://localhost:8080, which would only
 * produce a confusing "not https" error.
 */
function noDefaultKubeconfig(env: NodeJS.ProcessEnv): boolean {
  const fromEnv = env['KUBECONFIG'];
  if (fromEnv !== undefined && fromEnv !== '') return false;
  if (env['KUBERNETES_SERVICE_HOST'] !== undefined) return false;
  return !existsSync(join(homedir(), '.kube', 'config'));
}

function loadKubeConfig(options: UpstreamLoadOptions): KubeConfig {
  const kc = new KubeConfig();
  if (options.inCluster !== true && options.kubeconfig === undefined && noDefaultKubeconfig(process.env)) {
    throw new KubepairError(
      'KP_ERR_KUBECONFIG_LOAD',
      'no kubeconfig found: pass --kubeconfig FILE, set $KUBECONFIG, create ~/.kube/config, or use --in-cluster inside a pod',
    );
  }
  try {
    if (options.inCluster === true) kc.loadFromCluster();
    else if (options.kubeconfig !== undefined) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    const where = options.inCluster === true ? 'the in-cluster ServiceAccount' : (options.kubeconfig ?? 'the default kubeconfig');
    throw new KubepairError('KP_ERR_KUBECONFIG_LOAD', `${where}: ${err instanceof Error ? err.message.split('\n')[0] : 'unreadable'}`, { cause: err });
  }
  if (options.context !== undefined) {
    if (kc.getContextObject(options.context) === null) {
      const known = kc.getContexts().map((c) => c.name).join(', ') || 'none';
      throw new KubepairError('KP_ERR_KUBECONFIG_LOAD', `no context "${options.context}" (contexts: ${known})`);
    }
    kc.setCurrentContext(options.context);
  }
  return kc;
}

function credentialSource(user: User, cluster: Cluster, options: UpstreamLoadOptions): () => Promise<UpstreamAuth> {
  const impersonate: Record<string, string> = user.impersonateUser ? { 'Impersonate-User': user.impersonateUser } : {};
  if (user.exec !== undefined && user.exec !== null) {
    const parsed = execConfigSchema.safeParse(user.exec);
    if (!parsed.success) {
      throw new KubepairError('KP_ERR_KUBECONFIG_UNSUPPORTED', `user "${user.name}": exec plugin config is invalid (${parsed.error.issues[0]?.message ?? ''})`);
    }
    const source = new ExecCredentialSource({
      config: parsed.data,
      ...(options.passEnv !== undefined && { passEnv: options.passEnv }),
      cluster: { server: cluster.server, ...(cluster.caData !== undefined && { 'certificate-authority-data': cluster.caData }) },
    });
    const auth = async (): Promise<UpstreamAuth> => {
      const credential: ExecCredential = await source.get();
      return {
        headers: { ...impersonate, ...(credential.token !== undefined && { Authorization: `Bearer ${credential.token}` }) },
        ...(credential.clientCertificatePem !== undefined && { certPem: credential.clientCertificatePem }),
        ...(credential.clientKeyPem !== undefined && { keyPem: credential.clientKeyPem }),
      };
    };
    return Object.assign(auth, { invalidate: () => source.invalidate() });
  }
  const provider = (user.authProvider ?? undefined) as { name?: string; config?: { tokenFile?: string } } | undefined;
  let tokenFile: string | undefined;
  if (provider !== undefined) {
    if (provider.name === 'tokenFile' && typeof provider.config?.tokenFile === 'string') tokenFile = provider.config.tokenFile;
    else {
      throw new KubepairError(
        'KP_ERR_KUBECONFIG_UNSUPPORTED',
        `user "${user.name}" uses the auth-provider "${provider.name ?? '?'}", which Kubernetes removed; use an exec credential plugin`,
      );
    }
  }
  let cachedToken: { value: string; readAt: number } | undefined;
  return async (): Promise<UpstreamAuth> => {
    const headers: Record<string, string> = { ...impersonate };
    if (tokenFile !== undefined) {
      if (cachedToken === undefined || Date.now() - cachedToken.readAt > TOKEN_FILE_TTL_MS) {
        cachedToken = { value: (await readBounded(tokenFile, 'token file')).trim(), readAt: Date.now() };
      }
      headers['Authorization'] = `Bearer ${cachedToken.value}`;
    } else if (user.token !== undefined && user.token !== '') {
      headers['Authorization'] = `Bearer ${user.token}`;
    } else if (user.username !== undefined && user.password !== undefined) {
      headers['Authorization'] = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
    }
    const certPem = await dataOrFile(user.certData, user.certFile, 'client certificate');
    const keyPem = await dataOrFile(user.keyData, user.keyFile, 'client key');
    return { headers, ...(certPem !== undefined && { certPem }), ...(keyPem !== undefined && { keyPem }) };
  };
}

/** Load the kubeconfig and describe the upstream API server; every problem is a clear error. */
export async function loadUpstreamCluster(options: UpstreamLoadOptions = {}): Promise<UpstreamCluster> {
  const kc = loadKubeConfig(options);
  const contextName = kc.getCurrentContext();
  const context = kc.getContextObject(contextName);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (context === null || cluster === null || user === null) {
    throw new KubepairError('KP_ERR_KUBECONFIG_LOAD', `context "${contextName || '(none)'}" does not name both a cluster and a user`);
  }
  if (cluster.skipTLSVerify) throw new KubepairError('KP_ERR_KUBECONFIG_INSECURE', `cluster "${cluster.name}"`);
  let server: URL;
  try {
    server = new URL(cluster.server);
  } catch (err) {
    throw new KubepairError('KP_ERR_KUBECONFIG_LOAD', `cluster "${cluster.name}" has no valid server URL`, { cause: err });
  }
  if (server.protocol !== 'https:') {
    throw new KubepairError('KP_ERR_KUBECONFIG_UNSUPPORTED', `cluster "${cluster.name}" server ${server.origin} is not https`);
  }
  const caPem = await dataOrFile(cluster.caData, cluster.caFile, 'cluster CA');
  const auth = credentialSource(user, cluster, options);
  const host = server.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    contextName,
    clusterName: cluster.name,
    namespace: context.namespace,
    server,
    host,
    port: server.port === '' ? 443 : Number(server.port),
    caPem,
    serverName: cluster.tlsServerName ?? host,
    auth,
    invalidateAuth: () => (auth as { invalidate?: () => void }).invalidate?.(),
  };
}
