/**
 * The agent's view of a test API server on 127.0.0.1 (`UpstreamCluster`), for tests that put a
 * server of their own behind the agent's API server client or kube proxy: TLS with the test's
 * CA under the name `kubernetes`, and a fixed bearer token as the agent's credential.
 */
import type { UpstreamAuth, UpstreamCluster } from '../../src/agent/upstream-cluster.js';

/** The agent's credential unless a test gives its own. */
export const TEST_UPSTREAM_AUTH: UpstreamAuth = { headers: { Authorization: 'Bearer agent' } };

export interface TestUpstreamOptions {
  /** A path prefix of the server URL (an API server behind a path-routing proxy). */
  readonly prefix?: string;
  readonly auth?: UpstreamAuth;
}

export function upstreamAt(port: number, caPem: string, options: TestUpstreamOptions = {}): UpstreamCluster {
  const auth = options.auth ?? TEST_UPSTREAM_AUTH;
  return {
    contextName: 'test',
    clusterName: 'test',
    namespace: undefined,
    server: new URL(`https://127.0.0.1:${port}${options.prefix ?? ''}`),
    host: '127.0.0.1',
    port,
    caPem,
    serverName: 'kubernetes',
    auth: () => Promise.resolve(auth),
    invalidateAuth: () => undefined,
  };
}
