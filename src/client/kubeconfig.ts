/**
 * The temporary kubeconfig `kubepair connect` writes (docs/design.md §6). It is JSON (valid YAML,
 * so no YAML can be injected through a field), names the cluster only by its sanitized name, and
 * never contains `insecure-skip-tls-verify`: proxy mode trusts the per-session CA of the local
 * listener, passthrough mode the cluster's own CA with `tls-server-name`.
 *
 * The file is created exclusively (O_CREAT|O_EXCL, so an existing file or symlink is never
 * followed) with mode 0600 under a random name, written in full or removed, and removed again
 * on every exit path by `TempKubeconfig.remove` plus a last-resort synchronous exit hook.
 *
 * The name also records the owning process (pid, start time, boot: process-identity.ts), so a
 * later connect can remove a file whose owner died without cleaning up — killed with SIGKILL,
 * say (stale-kubeconfigs.ts): `kubepair-CLUSTER-RANDOM16.PID.START.BOOT.kubeconfig`.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KubepairError } from '../errors/index.js';
import type { ProcessIdentity } from '../process/process-identity.js';
import { currentProcessIdentity } from '../process/process-identity.js';
import { CLUSTER_NAME_MAX_CHARS, sanitizeClusterName } from '../session/cluster-name.js';

export type KubeconfigUser =
  | { readonly token: string }
  | { readonly clientCertificatePem: string; readonly clientKeyPem: string };

export interface KubeconfigSpec {
  /** Untrusted cluster name from the agent; sanitized here. */
  readonly clusterName: string;
  /** `https://127.0.0.1:PORT` of the local listener. */
  readonly server: string;
  /** PEM of the CA that signs the server certificate kubectl will see. */
  readonly caPem: string;
  /** Name the server certificate is valid for, when it is not the server URL's host. */
  readonly tlsServerName?: string;
  readonly user: KubeconfigUser;
  readonly namespace?: string;
}

/** The kubeconfig document as a JSON string. */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  const name = `kubepair-${sanitizeClusterName(spec.clusterName)}`;
  const user =
    'token' in spec.user
      ? { token: spec.user.token }
      : {
          'client-certificate-data': Buffer.from(spec.user.clientCertificatePem).toString('base64'),
          'client-key-data': Buffer.from(spec.user.clientKeyPem).toString('base64'),
        };
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name,
        cluster: {
          server: spec.server,
          'certificate-authority-data': Buffer.from(spec.caPem).toString('base64'),
          ...(spec.tlsServerName !== undefined && { 'tls-server-name': spec.tlsServerName }),
        },
      },
    ],
    users: [{ name, user }],
    contexts: [{ name, context: { cluster: name, user: name, ...(spec.namespace !== undefined && { namespace: spec.namespace }) } }],
    'current-context': name,
    preferences: {},
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

/**
 * The names kubepair gives its kubeconfigs, and nothing else: a sanitized cluster name, 16
 * random hex digits, then the owner's pid, start time and boot (see process-identity.ts).
 */
const FILE_NAME_PATTERN = new RegExp(
  `^kubepair-[a-zA-Z0-9._-]{1,${CLUSTER_NAME_MAX_CHARS}}-[0-9a-f]{16}\\.([1-9][0-9]{0,9})\\.([0-9]{1,20})\\.([0-9a-f]{8})\\.kubeconfig$`,
);

/** The file name of a kubeconfig for `clusterName` owned by `owner`. */
export function kubeconfigFileName(clusterName: string, owner: ProcessIdentity, random: string = randomBytes(8).toString('hex')): string {
  return `kubepair-${sanitizeClusterName(clusterName)}-${random}.${owner.pid}.${owner.startTime}.${owner.boot}.kubeconfig`;
}

/** The owner recorded in a kubeconfig's file name; undefined for any name kubepair does not give. */
export function kubeconfigOwner(fileName: string): ProcessIdentity | undefined {
  const match = FILE_NAME_PATTERN.exec(fileName);
  if (match === null) return undefined;
  return { pid: Number(match[1]), startTime: match[2]!, boot: match[3]! };
}

const liveFiles = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for paths that skip the normal cleanup (an uncaught error, process.exit()).
  process.on('exit', () => {
    for (const path of liveFiles) rmSync(path, { force: true });
  });
}

export class TempKubeconfig {
  readonly path: string;
  #removed = false;

  private constructor(path: string) {
    this.path = path;
  }

  /** Write `spec` to a new 0600 file in `directory`; nothing is left behind on failure. */
  static async create(directory: string, spec: KubeconfigSpec): Promise<TempKubeconfig> {
    const path = join(directory, kubeconfigFileName(spec.clusterName, currentProcessIdentity()));
    let handle;
    try {
      handle = await open(path, 'wx', 0o600);
    } catch (err) {
      throw new KubepairError('KP_ERR_KUBECONFIG_WRITE', `cannot create ${path}`, { cause: err });
    }
    liveFiles.add(path);
    installExitHook();
    try {
      await handle.writeFile(renderKubeconfig(spec));
      await handle.sync();
      await handle.close();
    } catch (err) {
      await handle.close().catch(() => undefined);
      await rm(path, { force: true });
      liveFiles.delete(path);
      throw new KubepairError('KP_ERR_KUBECONFIG_WRITE', `cannot write ${path}`, { cause: err });
    }
    return new TempKubeconfig(path);
  }

  get removed(): boolean {
    return this.#removed;
  }

  /** Delete the file; idempotent. */
  async remove(): Promise<void> {
    if (this.#removed) return;
    this.#removed = true;
    liveFiles.delete(this.path);
    await rm(this.path, { force: true });
  }
}
