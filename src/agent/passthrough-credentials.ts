/**
 * Credentials the agent hands to the client in passthrough mode (DESIGN §6): its own client
 * certificate or bearer token, or — with `--service-account NS/NAME` — a short-lived token
 * from the TokenRequest API, limited to the session lifetime, so the agent's own credentials
 * never leave it.
 */
import { request } from 'node:https';
import { z } from 'zod';
import { KubepairError } from '../errors/index.js';
import type { SessionDescription } from '../session/session-description.js';
import type { UpstreamCluster } from './upstream-cluster.js';

export interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Parse `NAMESPACE/NAME`; throws KP_ERR_INVALID_ARGUMENT (exit 2). */
export function parseServiceAccountRef(text: string): ServiceAccountRef {
  const [namespace = '', name = '', ...rest] = text.split('/');
  if (rest.length > 0 || !DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name)) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `--service-account "${text.slice(0, 100)}" must be NAMESPACE/NAME`);
  }
  return { namespace, name };
}

const tokenRequestAnswer = z.object({ status: z.object({ token: z.string().min(1) }) });

/** Ask the API server for a token of `account` valid for `seconds`. */
export async function requestServiceAccountToken(upstream: UpstreamCluster, account: ServiceAccountRef, seconds: number): Promise<string> {
  const auth = await upstream.auth();
  const body = JSON.stringify({
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: Math.max(600, Math.floor(seconds)) },
  });
  const path = `/api/v1/namespaces/${account.namespace}/serviceaccounts/${account.name}/token`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: upstream.host,
        port: upstream.port,
        servername: upstream.serverName,
        ...(upstream.caPem !== undefined && { ca: upstream.caPem }),
        ...(auth.certPem !== undefined && { cert: auth.certPem }),
        ...(auth.keyPem !== undefined && { key: auth.keyPem }),
        method: 'POST',
        path,
        headers: { ...auth.headers, 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= 1024 * 1024) chunks.push(chunk);
        });
        res.on('end', () => {
          if (res.statusCode !== 201 && res.statusCode !== 200) {
            reject(new KubepairError('KP_ERR_UPSTREAM', `TokenRequest for ${account.namespace}/${account.name} answered ${res.statusCode ?? '?'}`));
            return;
          }
          try {
            resolve(tokenRequestAnswer.parse(JSON.parse(Buffer.concat(chunks).toString('utf8'))).status.token);
          } catch (err) {
            reject(new KubepairError('KP_ERR_UPSTREAM', 'TokenRequest answer without a token', { cause: err }));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new KubepairError('KP_ERR_UPSTREAM', `TokenRequest: ${err.code ?? err.message}`, { cause: err })));
    req.end(body);
  });
}

/** The `credentials` field of a passthrough session description. */
export async function passthroughCredentials(
  upstream: UpstreamCluster,
  account: ServiceAccountRef | undefined,
  lifetimeSeconds: number,
): Promise<NonNullable<SessionDescription['credentials']>> {
  if (account !== undefined) return { token: await requestServiceAccountToken(upstream, account, lifetimeSeconds) };
  const auth = await upstream.auth();
  const bearer = /^Bearer (.+)$/.exec(auth.headers['Authorization'] ?? '')?.[1];
  if (bearer !== undefined) return { token: bearer };
  if (auth.certPem !== undefined && auth.keyPem !== undefined) return { client_certificate: auth.certPem, client_key: auth.keyPem };
  throw new KubepairError('KP_ERR_KUBECONFIG_UNSUPPORTED', 'passthrough mode needs a client certificate or a bearer token in the kubeconfig (or --service-account)');
}
