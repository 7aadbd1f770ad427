/**
 * Credentials the agent hands to the client in passthrough mode (docs/design.md §6): its own client
 * certificate or bearer token, or — with `--service-account NS/NAME` — a token from the
 * TokenRequest API (`POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`), so the agent's
 * own credentials never leave it. docs/passthrough.md explains the choices made here.
 *
 * - The token is asked for the session lifetime, but at least SERVICE_ACCOUNT_TOKEN_MIN_SECONDS
 *   (Kubernetes refuses less). The API server may issue a shorter one
 *   (--service-account-max-token-expiration): the answer's `status.expirationTimestamp` is
 *   returned, and the agent ends the session no later than that.
 * - `checkPassthroughCredentials` runs before any pairing code is shown, so a missing
 *   ServiceAccount, a refused TokenRequest or unusable credentials fail `share` at once.
 * - A kubeconfig that impersonates (`as:`) cannot be passed through: the client would get the
 *   credentials without the impersonation, a wider identity than the agent's user asked for.
 *
 * Untrusted input: none from the client. The API server's answer is bounded
 * (TOKEN_REQUEST_ANSWER_MAX_BYTES), schema-checked, and its messages are quoted only as
 * printable ASCII of bounded length. The token is never logged.
 */
import { request } from 'node:https';
import * as z from 'zod';
import { KubepairError } from '../errors/index.js';
import { SERVICE_ACCOUNT_TOKEN_MIN_SECONDS, TOKEN_REQUEST_ANSWER_MAX_BYTES, TOKEN_REQUEST_TIMEOUT_MS, UPSTREAM_MESSAGE_MAX_CHARS } from '../limits.js';
import type { SessionDescription } from '../protocol/session-description.js';
import type { UpstreamCluster } from './upstream-cluster.js';

export interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
}

/** A ServiceAccount token and when the API server says it stops working. */
export interface ServiceAccountToken {
  readonly token: string;
  readonly expiresAt: Date;
}

/** What a passthrough session description carries, and until when it works when that is known. */
export interface PassthroughCredentials {
  readonly credentials: NonNullable<SessionDescription['credentials']>;
  /** A ServiceAccount token's expiry; undefined for the agent's own credentials. */
  readonly expiresAt: Date | undefined;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** A ServiceAccount in a share's configuration. */
export const ServiceAccountRefSchema = z.strictObject({
  namespace: z.string().regex(DNS_LABEL, 'a namespace name'),
  name: z.string().regex(DNS_SUBDOMAIN, 'a ServiceAccount name'),
});

/** Parse `NAMESPACE/NAME`; throws KP_ERR_INVALID_ARGUMENT (exit 2). */
export function parseServiceAccountRef(text: string): ServiceAccountRef {
  const [namespace = '', name = '', ...rest] = text.split('/');
  if (rest.length > 0 || !DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name)) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `--service-account "${text.slice(0, 100)}" must be NAMESPACE/NAME`);
  }
  return { namespace, name };
}

// The fields kubepair uses of an authentication.k8s.io/v1 TokenRequest answer (and of a Status).
const tokenRequestAnswer = z.object({
  status: z.object({
    // The session description accepts printable ASCII up to 16 KiB; a JWT is that.
    token: z.string().min(1).max(16 * 1024).regex(/^[\x21-\x7e]+$/),
    expirationTimestamp: z.iso.datetime({ offset: true }),
  }),
});
const statusAnswer = z.object({ message: z.string() });

/** An API server message, safe to show on a terminal: printable ASCII only, bounded length. */
function quoted(message: string): string {
  const clean = message.replace(/[^\x20-\x7e]/g, '?').trim();
  return clean.length > UPSTREAM_MESSAGE_MAX_CHARS ? `${clean.slice(0, UPSTREAM_MESSAGE_MAX_CHARS)}...` : clean;
}

function refused(account: ServiceAccountRef, detail: string, cause?: unknown): KubepairError {
  return new KubepairError('KP_ERR_SERVICE_ACCOUNT_TOKEN', `${account.namespace}/${account.name}: ${detail}`, cause === undefined ? undefined : { cause });
}

/** Why the API server refused, from its Status body when it sent one. */
function refusalDetail(statusCode: number | undefined, body: Buffer): string {
  let message: string | undefined;
  try {
    const parsed = statusAnswer.safeParse(JSON.parse(body.toString('utf8')));
    if (parsed.success && parsed.data.message !== '') message = quoted(parsed.data.message);
  } catch {
    message = undefined; // not JSON: the HTTP status alone says what happened
  }
  return `${message ?? 'refused'} (HTTP ${statusCode ?? '?'})`;
}

/**
 * Ask the API server for a token of `account` valid for `seconds` (raised to Kubernetes'
 * minimum). Throws KP_ERR_SERVICE_ACCOUNT_TOKEN when it refuses, KP_ERR_UPSTREAM when it
 * cannot be reached.
 */
export async function requestServiceAccountToken(upstream: UpstreamCluster, account: ServiceAccountRef, seconds: number): Promise<ServiceAccountToken> {
  const auth = await upstream.auth();
  const body = JSON.stringify({
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: Math.max(SERVICE_ACCOUNT_TOKEN_MIN_SECONDS, Math.ceil(seconds)) },
  });
  // Both parts were checked against Kubernetes' name rules (parseServiceAccountRef): no '/', '?' or '%'.
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
        timeout: TOKEN_REQUEST_TIMEOUT_MS,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > TOKEN_REQUEST_ANSWER_MAX_BYTES) {
            req.destroy(refused(account, `the answer is larger than ${TOKEN_REQUEST_ANSWER_MAX_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const answer = Buffer.concat(chunks);
          if (res.statusCode !== 201 && res.statusCode !== 200) {
            // Credentials from an exec plugin or a token file may have expired: fetch fresh ones next time.
            if (res.statusCode === 401) upstream.invalidateAuth();
            reject(refused(account, refusalDetail(res.statusCode, answer)));
            return;
          }
          try {
            const { status } = tokenRequestAnswer.parse(JSON.parse(answer.toString('utf8')));
            resolve({ token: status.token, expiresAt: new Date(status.expirationTimestamp) });
          } catch (err) {
            reject(refused(account, 'the answer has no valid status.token and status.expirationTimestamp', err));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new KubepairError('KP_ERR_UPSTREAM', `no answer to the TokenRequest within ${TOKEN_REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof KubepairError) reject(err);
      else reject(new KubepairError('KP_ERR_UPSTREAM', `TokenRequest to ${upstream.server.origin}: ${err.code ?? err.message}`, { cause: err }));
    });
    req.end(body);
  });
}

/** The `credentials` of a passthrough session description, valid for `lifetimeSeconds` when they are a ServiceAccount token. */
export async function passthroughCredentials(upstream: UpstreamCluster, account: ServiceAccountRef | undefined, lifetimeSeconds: number): Promise<PassthroughCredentials> {
  if (account !== undefined) {
    const issued = await requestServiceAccountToken(upstream, account, lifetimeSeconds);
    return { credentials: { token: issued.token }, expiresAt: issued.expiresAt };
  }
  const auth = await upstream.auth();
  const impersonated = auth.headers['Impersonate-User'];
  if (impersonated !== undefined) {
    throw new KubepairError(
      'KP_ERR_KUBECONFIG_UNSUPPORTED',
      `the kubeconfig user impersonates "${quoted(impersonated)}", which passthrough cannot carry (the client would act without it); use --mode proxy or --service-account`,
    );
  }
  const bearer = /^Bearer (.+)$/.exec(auth.headers['Authorization'] ?? '')?.[1];
  if (bearer !== undefined) return { credentials: { token: bearer }, expiresAt: undefined };
  if (auth.certPem !== undefined && auth.keyPem !== undefined) {
    return { credentials: { client_certificate: auth.certPem, client_key: auth.keyPem }, expiresAt: undefined };
  }
  throw new KubepairError('KP_ERR_KUBECONFIG_UNSUPPORTED', 'passthrough mode needs a client certificate or a bearer token in the kubeconfig (or --service-account)');
}

/**
 * Before any pairing code is shown: make sure passthrough credentials can be built. With a
 * ServiceAccount this is one TokenRequest for the shortest lifetime Kubernetes allows; that
 * token is dropped at once and never leaves this process. Throws what passthroughCredentials would.
 */
export async function checkPassthroughCredentials(upstream: UpstreamCluster, account: ServiceAccountRef | undefined): Promise<void> {
  await passthroughCredentials(upstream, account, SERVICE_ACCOUNT_TOKEN_MIN_SECONDS);
}
