/**
 * The agent's view of a test API server on 127.0.0.1 (`UpstreamCluster`), for tests that put a
 * server of their own behind the agent's API server client or kube proxy: TLS with the test's
 * CA under the name `kubernetes`, and a fixed bearer token as the agent's credential; and an
 * open-policy kube proxy in front of it on a TCP port.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import { KubeProxy } from '../../src/agent/kube-proxy.js';
import { RequestPolicy } from '../../src/agent/policy/index.js';
import type { PolicySource } from '../../src/agent/policy/index.js';
import type { UpstreamAuth, UpstreamCluster } from '../../src/agent/upstream-cluster.js';
import type { RequestAuditRecord } from '../../src/audit/record.js';

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

/** An agent's kube proxy under `--policy open` behind a plain TCP port on 127.0.0.1. */
export interface ProxyFront {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Put an open-policy `KubeProxy` (HTTP/1.1 to the upstream, no audit) in front of `upstream`,
 * reached through a plain TCP listener: TCP stands in for a tunnel stream, since the proxy only
 * needs a Duplex. `policy` replaces the open policy (a holder the test narrows while requests run);
 * `onRequest` gets each request's audit record.
 */
export async function startProxyFront(upstream: UpstreamCluster, policy?: PolicySource, onRequest?: (record: RequestAuditRecord) => void): Promise<ProxyFront> {
  const proxy = new KubeProxy({
    upstream,
    policy: policy ?? RequestPolicy.create({ mode: 'open' }),
    audit: undefined,
    session: 's',
    client: 'c',
    http2: false,
    ...(onRequest !== undefined && { onRequest }),
  });
  const front = createTcpServer({ allowHalfOpen: true }, (socket) => proxy.handle(socket));
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  return {
    port: (front.address() as AddressInfo).port,
    close: async () => {
      await proxy.close();
      await new Promise<void>((resolve) => front.close(() => resolve()));
    },
  };
}
