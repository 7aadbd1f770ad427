/**
 * Passthrough credentials against the fixture API server (docs/design.md §6): the agent's own
 * client certificate or token, a ServiceAccount token from the TokenRequest API with the expiry the
 * API server chose, clear coded errors for a missing ServiceAccount, refused credentials, an
 * unreachable server, and a kubeconfig that impersonates (which passthrough cannot carry).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { checkPassthroughCredentials, parseServiceAccountRef, passthroughCredentials, requestServiceAccountToken } from '../../../src/agent/passthrough-credentials.js';
import { loadUpstreamCluster } from '../../../src/agent/upstream-cluster.js';
import type { UpstreamCluster } from '../../../src/agent/upstream-cluster.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { SERVICE_ACCOUNT_TOKEN_MIN_SECONDS } from '../../../src/limits.js';
import type { KubeApiServer, KubeconfigForOptions } from '../../fixtures/kube-api-server/server.js';
import { startKubeApiServer } from '../../fixtures/kube-api-server/server.js';
import { kubectlSandbox } from '../../helpers/kubectl.js';

const TEST_TIMEOUT_MS = 30_000;
const BOT = { namespace: 'default', name: 'pair-bot' };

function rejectsWith(code: string, message?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isKubepairError(err), `a KubepairError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  };
}

describe('passthrough credentials', { timeout: 10 * TEST_TIMEOUT_MS }, () => {
  let api: KubeApiServer;
  let sandbox: Awaited<ReturnType<typeof kubectlSandbox>>;
  let now = Date.now();
  let count = 0;

  before(async () => {
    api = await startKubeApiServer({ clock: () => now, objects: [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: BOT.name, namespace: BOT.namespace } }] });
    sandbox = await kubectlSandbox('kubepair-passthrough-credentials-');
  });
  after(async () => {
    await api.close();
    await sandbox.remove();
  });

  async function upstreamFor(server: KubeApiServer, options: KubeconfigForOptions = {}): Promise<UpstreamCluster> {
    const kubeconfig = await sandbox.writeKubeconfig(`agent-${++count}.kubeconfig`, server.kubeconfigFor(options));
    return loadUpstreamCluster({ kubeconfig });
  }

  it('parses NAMESPACE/NAME and refuses anything else with KP_ERR_INVALID_ARGUMENT', () => {
    assert.deepEqual(parseServiceAccountRef('ops/pair-bot'), { namespace: 'ops', name: 'pair-bot' });
    assert.deepEqual(parseServiceAccountRef('kube-system/a.b'), { namespace: 'kube-system', name: 'a.b' });
    for (const bad of ['', 'pair-bot', 'ops/', '/pair-bot', 'ops/pair-bot/x', 'Ops/pair-bot', 'ops/pair bot', 'ops/../x', 'ops/%2e', `ops/${'a'.repeat(254)}`]) {
      assert.throws(() => parseServiceAccountRef(bad), rejectsWith('KP_ERR_INVALID_ARGUMENT', /must be NAMESPACE\/NAME/), JSON.stringify(bad));
    }
  });

  it('a TokenRequest for the session lifetime returns the token and the expiry the API server gives', { timeout: TEST_TIMEOUT_MS }, async () => {
    now = Date.now();
    const upstream = await upstreamFor(api);
    const issued = await requestServiceAccountToken(upstream, BOT, 1800);
    assert.equal(issued.expiresAt.getTime(), Math.floor((now + 1_800_000) / 1000) * 1000);
    const record = api.requests().at(-1);
    assert.equal(record?.subresource, 'token');
    assert.equal(record?.user, 'fixture-admin', 'asked for with the agent\'s own credentials');

    // The token acts as the ServiceAccount.
    const described = await passthroughCredentials(upstream, BOT, 1800);
    assert.ok('token' in described.credentials);
    const asBot = await upstreamFor(api, { credentials: { token: described.credentials.token } });
    await requestServiceAccountToken(asBot, BOT, 1800);
    assert.equal(api.requests().at(-1)?.user, 'system:serviceaccount:default:pair-bot');
  });

  it('asks for at least Kubernetes\' 10 minutes when the session is shorter', { timeout: TEST_TIMEOUT_MS }, async () => {
    now = Date.now();
    const issued = await requestServiceAccountToken(await upstreamFor(api), BOT, 60);
    assert.equal(issued.expiresAt.getTime(), Math.floor((now + SERVICE_ACCOUNT_TOKEN_MIN_SECONDS * 1000) / 1000) * 1000);
  });

  it('reports a token the API server capped below the session lifetime', { timeout: TEST_TIMEOUT_MS }, async () => {
    now = Date.now();
    const capped = await startKubeApiServer({ clock: () => now, tokenRequest: { maxExpirationSeconds: 900 } });
    try {
      capped.createObject({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: BOT.name, namespace: BOT.namespace } });
      const described = await passthroughCredentials(await upstreamFor(capped), BOT, 8 * 3600);
      assert.equal(described.expiresAt?.getTime(), Math.floor((now + 900_000) / 1000) * 1000);
    } finally {
      await capped.close();
    }
  });

  it('a missing ServiceAccount is KP_ERR_SERVICE_ACCOUNT_TOKEN quoting the API server', { timeout: TEST_TIMEOUT_MS }, async () => {
    const upstream = await upstreamFor(api);
    const missing = { namespace: 'default', name: 'ghost' };
    await assert.rejects(
      requestServiceAccountToken(upstream, missing, 1800),
      rejectsWith('KP_ERR_SERVICE_ACCOUNT_TOKEN', /^the API server did not issue a token for --service-account: default\/ghost: serviceaccounts "ghost" not found \(HTTP 404\)$/),
    );
    await assert.rejects(checkPassthroughCredentials(upstream, missing), rejectsWith('KP_ERR_SERVICE_ACCOUNT_TOKEN', /not found \(HTTP 404\)/));
    await assert.rejects(
      checkPassthroughCredentials(upstream, { namespace: 'no-such-ns', name: 'pair-bot' }),
      rejectsWith('KP_ERR_SERVICE_ACCOUNT_TOKEN', /no-such-ns\/pair-bot: .*not found \(HTTP 404\)/),
    );
  });

  it('credentials the API server refuses are KP_ERR_SERVICE_ACCOUNT_TOKEN (HTTP 401), an unreachable server KP_ERR_UPSTREAM', { timeout: TEST_TIMEOUT_MS }, async () => {
    const stranger = await upstreamFor(api, { credentials: { token: 'a-token-the-fixture-never-issued' } });
    await assert.rejects(requestServiceAccountToken(stranger, BOT, 1800), rejectsWith('KP_ERR_SERVICE_ACCOUNT_TOKEN', /default\/pair-bot: Unauthorized \(HTTP 401\)/));

    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const gone = await upstreamFor(api, { server: `https://127.0.0.1:${port}` });
    await assert.rejects(requestServiceAccountToken(gone, BOT, 1800), rejectsWith('KP_ERR_UPSTREAM', /TokenRequest to https:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/));
  });

  it('without --service-account: the agent\'s client certificate, or its bearer token, with no expiry', { timeout: TEST_TIMEOUT_MS }, async () => {
    const byCertificate = await passthroughCredentials(await upstreamFor(api), undefined, 1800);
    assert.deepEqual(byCertificate, { credentials: { client_certificate: api.clientCertPem, client_key: api.clientKeyPem }, expiresAt: undefined });
    const byToken = await passthroughCredentials(await upstreamFor(api, { credentials: 'token' }), undefined, 1800);
    assert.deepEqual(byToken, { credentials: { token: api.token }, expiresAt: undefined });
  });

  describe('Security: passthrough never widens the identity', () => {
    it('a kubeconfig that impersonates is refused (the client would act without the impersonation)', { timeout: TEST_TIMEOUT_MS }, async () => {
      const impersonating = await upstreamFor(api, { impersonate: { user: 'jane' } });
      await assert.rejects(
        checkPassthroughCredentials(impersonating, undefined),
        rejectsWith('KP_ERR_KUBECONFIG_UNSUPPORTED', /impersonates "jane", which passthrough cannot carry/),
      );
      // With a ServiceAccount the impersonated identity only asks for the token.
      const described = await passthroughCredentials(impersonating, BOT, 1800);
      assert.ok('token' in described.credentials);
      const record = api.requests().at(-1);
      assert.equal(record?.user, 'jane');
      assert.equal(record?.impersonated, true);
    });
  });
});
