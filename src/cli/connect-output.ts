/**
 * What `kubepair connect` prints: a banner with cluster, mode, policy and expiry (all from the
 * validated session description; the cluster name sanitized), where the kubeconfig is, one line
 * for each plain local connection the agent refused, and one line when the tunnel dies. Human text goes to stderr; `--no-shell` prints the export line on
 * stdout so scripts can `eval` it.
 */
import type { ConnectReporter, PortForward } from '../client/connect.js';
import type { KubepairError } from '../errors/index.js';
import { sanitizeClusterName } from '../session/cluster-name.js';
import type { SessionDescription } from '../session/session-description.js';

export class ConnectOutput implements ConnectReporter {
  readonly #noShell: boolean;

  constructor(noShell: boolean) {
    this.#noShell = noShell;
  }

  paired(description: SessionDescription): void {
    const policy = description.policy;
    const rules = [...policy.allow.map((r) => `allow "${r}"`), ...policy.deny.map((r) => `deny "${r}"`)].join(', ');
    const lines = [
      `kubepair: paired with cluster "${sanitizeClusterName(description.cluster.name)}"`,
      `  mode:    ${description.mode}${description.mode === 'passthrough' ? ' (TLS end to end; you hold credentials)' : ''}`,
      `  policy:  ${description.mode === 'passthrough' ? 'none (passthrough)' : policy.mode}${rules !== '' ? `; ${rules}` : ''}`,
      `  expires: ${description.expires_at}`,
    ];
    const extra = description.targets.filter((t) => t !== 'kube-apiserver');
    if (extra.length > 0) lines.push(`  targets: ${extra.join(', ')} (use --forward LOCALPORT:NAME)`);
    process.stderr.write(lines.join('\n') + '\n');
  }

  ready(info: { readonly kubeconfig: string; readonly port: number; readonly forwards: readonly PortForward[]; readonly ramBacked: boolean }): void {
    const lines = [`  API:     https://127.0.0.1:${info.port}`, `  kubeconfig: ${info.kubeconfig}${info.ramBacked ? '' : ' (no RAM-backed directory found; removed on exit)'}`];
    for (const forward of info.forwards) lines.push(`  forward: 127.0.0.1:${forward.localPort} -> ${forward.target}`);
    process.stderr.write(lines.join('\n') + '\n');
    if (this.#noShell) {
      process.stdout.write(`export KUBECONFIG=${info.kubeconfig}\n`);
      process.stderr.write('kubepair: waiting; press Ctrl-C to end the session\n');
    }
  }

  connectionRefused(info: { readonly target: string; readonly localPort: number }, error: KubepairError): void {
    process.stderr.write(`kubepair: a connection on 127.0.0.1:${info.localPort} (${info.target}) was closed: ${error.message}\n`);
  }

  tunnelClosed(error: KubepairError | undefined): void {
    process.stderr.write(`\nkubepair: the tunnel closed${error !== undefined ? `: ${error.message}` : ''}; the kubeconfig is removed\n`);
  }
}
