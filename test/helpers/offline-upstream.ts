/**
 * An UpstreamCluster loaded from a small kubeconfig that points at a port nobody is asked to
 * serve: for tests of role configuration and lifecycle that never reach the API server.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UpstreamCluster } from '../../src/agent/upstream-cluster.js';
import { loadUpstreamCluster } from '../../src/agent/upstream-cluster.js';

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: offline
  cluster:
    server: https://127.0.0.1:1
users:
- name: someone
  user:
    token: not-a-real-token
contexts:
- name: offline
  context:
    cluster: offline
    user: someone
current-context: offline
`;

export async function offlineUpstream(): Promise<UpstreamCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'kubepair-upstream-'));
  try {
    const path = join(dir, 'kubeconfig');
    await writeFile(path, KUBECONFIG, { mode: 0o600 });
    return await loadUpstreamCluster({ kubeconfig: path });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
