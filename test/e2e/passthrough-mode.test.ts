/**
 * End to end, passthrough mode (issue 4, docs/design.md §6): real relay, share and connect
 * processes, the fixture API server, and the real kubectl binary. TLS goes from kubectl to the API
 * server untouched: the client's kubeconfig trusts the cluster CA and verifies `tls-server-name:
 * kubernetes` (the fixture's certificate names no IP address), never skips verification, and
 * holds credentials that came inside the encrypted session. With `--service-account NS/NAME`
 * those credentials are a TokenRequest token of that ServiceAccount, and the fixture's request
 * records prove that nothing reached the API server as the agent's own identity.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RequestRecord } from '../fixtures/kube-api-server/server.js';
import { ADMIN_IDENTITY } from '../fixtures/kube-api-server/server.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import type { KubectlOptions } from '../helpers/kubectl.js';
import { kubectlSandbox, runKubectl, startKubectl } from '../helpers/kubectl.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import { waitUntil } from '../helpers/wait-until.js';
import { localClockTime } from '../../src/cli/relative-time.js';

const TEST_TIMEOUT_MS = 180_000;
const STREAM_WAIT_MS = 15_000;
const BOT_USER = 'system:serviceaccount:default:pair-bot';
const BOT_GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'];
/** The fixture's cap on ServiceAccount token lifetimes, in seconds. */
const TOKEN_CAP_SECONDS = 3600;

interface KubeconfigDoc {
  clusters: Array<{ name: string; cluster: Record<string, string> }>;
  users: Array<{ name: string; user: Record<string, string> }>;
}

function decodeBase64(text: string | undefined): string {
  return Buffer.from(text ?? '', 'base64').toString('utf8');
}

function jwtClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('e2e: passthrough mode with real kubectl', { timeout: 6 * TEST_TIMEOUT_MS }, () => {
  let stack: E2EStack;
  let home: Awaited<ReturnType<typeof kubectlSandbox>>;
  before(async () => {
    // The API server caps ServiceAccount tokens at 1 h, as --service-account-max-token-expiration does.
    stack = await startE2EStack({ api: { objects: [], tokenRequest: { maxExpirationSeconds: TOKEN_CAP_SECONDS } } });
    home = await kubectlSandbox('kubepair-e2e-passthrough-home-');
  });
  after(async () => {
    await stack.close();
    await home.remove();
  });

  /** share --once --mode passthrough + connect --no-shell; returns kubectl options for the tunnel. */
  async function pairNoShell(shareArgs: readonly string[] = []): Promise<{ share: { process: ManagedProcess; code: string }; connect: ManagedProcess; kubectl: KubectlOptions }> {
    const share = await stack.startShare(['--once', '--mode', 'passthrough', ...shareArgs]);
    const connect = stack.startConnect(['--no-shell', share.code]);
    const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 20_000, 'stdout');
    return { share, connect, kubectl: { kubeconfig: exported[1]!, home: home.dir } };
  }

  /** Records of the API server after request number `mark`. */
  function recordsAfter(mark: number): RequestRecord[] {
    return stack.api.requests().filter((record) => record.seq > mark);
  }

  function lastSeq(): number {
    return stack.api.requests().at(-1)?.seq ?? 0;
  }

  it('get, create, delete, watch, logs -f, exec -i and 20 parallel kubectls, TLS end to end with the agent\'s credentials', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { share, connect, kubectl } = await pairNoShell();
    assert.match(share.process.stderr(), /passthrough mode: the client receives credentials/);
    assert.match(connect.stderr(), /mode: +passthrough \(TLS end to end; you hold credentials\)/);
    const mark = lastSeq();

    const version = await runKubectl(['version', '-o', 'json'], kubectl);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /v1\.32\.4\+kubepair-fixture/);

    const created = await runKubectl(['create', '-f', '-'], {
      ...kubectl,
      stdin: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'e2e-passthrough' }, data: { k: 'v' } }),
    });
    assert.equal(created.code, 0, created.stderr);
    const got = await runKubectl(['get', 'configmap', 'e2e-passthrough', '-o', 'jsonpath={.data.k}'], kubectl);
    assert.equal(got.stdout, 'v', got.stderr);
    const listed = await runKubectl(['get', 'configmaps', '-o', 'name'], kubectl);
    assert.match(listed.stdout, /^configmap\/e2e-passthrough$/m, listed.stderr);

    const watch = startKubectl(['get', 'configmaps', '--watch', '-o', 'name'], kubectl);
    await waitUntil(() => stack.api.openStreams().watches >= 1, STREAM_WAIT_MS, 'the watch to open');
    const second = await runKubectl(['create', 'configmap', 'watched-passthrough', '--from-literal=a=b'], kubectl);
    assert.equal(second.code, 0, second.stderr);
    assert.ok((await watch.waitFor((lines) => lines.includes('configmap/watched-passthrough'), STREAM_WAIT_MS)).includes('configmap/watched-passthrough'));
    await watch.stop();

    const run = await runKubectl(['run', 'app-passthrough', '--image=busybox', '--restart=Never'], kubectl);
    assert.equal(run.code, 0, run.stderr);
    const logs = startKubectl(['logs', '-f', 'app-passthrough'], kubectl);
    const lines = await logs.waitFor((l) => l.length >= 5, STREAM_WAIT_MS);
    assert.deepEqual(lines.slice(0, 5), [1, 2, 3, 4, 5].map((n) => `line ${n} from app-passthrough/app-passthrough`), 'initial lines, then followed ones');
    await logs.stop();

    const exec = await runKubectl(['exec', '-i', 'app-passthrough', '--', 'cat'], { ...kubectl, stdin: 'raw TLS through the relay\n' });
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout, 'raw TLS through the relay\n');

    const parallel = await Promise.all(Array.from({ length: 20 }, () => runKubectl(['get', 'configmaps', '-o', 'name'], kubectl)));
    for (const [index, result] of parallel.entries()) {
      assert.equal(result.code, 0, `kubectl #${index}: ${result.stderr}`);
      assert.match(result.stdout, /configmap\/e2e-passthrough/, `kubectl #${index}`);
    }

    const deleted = await runKubectl(['delete', 'configmap', 'e2e-passthrough', 'watched-passthrough'], kubectl);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /configmap "e2e-passthrough" deleted/);
    assert.equal((await runKubectl(['get', 'configmap', 'e2e-passthrough'], kubectl)).code, 1, 'gone');

    // Without --service-account the client acts with the agent's own client certificate, by TLS
    // end to end: the API server saw the certificate itself, not a proxy's.
    const seen = recordsAfter(mark);
    assert.ok(seen.length > 40, `${seen.length} requests reached the API server`);
    for (const record of seen) {
      assert.equal(record.authMethod, 'x509', `${record.method} ${record.path}`);
      assert.equal(record.user, ADMIN_IDENTITY.user);
      assert.equal(record.impersonated, false);
    }
    assert.ok(seen.some((record) => record.subresource === 'exec' && record.status === 101), 'the exec upgrade went through');

    const kubeconfigPath = kubectl.kubeconfig;
    const stopped = await connect.stop('SIGTERM');
    assert.equal(stopped.code, 143, `128 + SIGTERM: ${connect.stderr()}`);
    await assert.rejects(stat(kubeconfigPath), { code: 'ENOENT' }, 'the kubeconfig is removed on SIGTERM');
    assert.deepEqual(await stack.kubeconfigsLeft(), []);
    const shareExit = await share.process.exited;
    assert.equal(shareExit.code, 0, share.process.stderr());
  });

  it('Security: the kubeconfig trusts the cluster CA, verifies tls-server-name kubernetes, holds the credentials, never skips verification', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { connect, kubectl } = await pairNoShell();
    const text = await readFile(kubectl.kubeconfig, 'utf8');
    assert.doesNotMatch(text, /insecure-skip-tls-verify/);
    assert.equal((await stat(kubectl.kubeconfig)).mode & 0o777, 0o600);
    assert.ok(kubectl.kubeconfig.startsWith(stack.runtimeDir), 'written to $XDG_RUNTIME_DIR');
    const doc = JSON.parse(text) as KubeconfigDoc;
    assert.equal(doc.clusters.length, 1);
    const cluster = doc.clusters[0]!.cluster;
    assert.match(cluster['server']!, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(cluster['server'], stack.api.url, 'the local listener, not the API server');
    assert.equal(decodeBase64(cluster['certificate-authority-data']), stack.api.caPem, 'the cluster CA');
    assert.equal(cluster['tls-server-name'], 'kubernetes');
    const user = doc.users[0]!.user;
    assert.equal(decodeBase64(user['client-certificate-data']), stack.api.clientCertPem, 'the agent\'s client certificate');
    assert.equal(decodeBase64(user['client-key-data']), stack.api.clientKeyPem);

    // The name check is what makes TLS work through 127.0.0.1: without it kubectl refuses the
    // fixture's certificate, so the kubeconfig cannot be working by skipping verification.
    const sandbox = await kubectlSandbox('kubepair-e2e-passthrough-noname-');
    try {
      const withoutName = { ...doc, clusters: [{ ...doc.clusters[0]!, cluster: { ...cluster, 'tls-server-name': undefined } }] };
      const kubeconfig = await sandbox.writeKubeconfig('no-name.kubeconfig', JSON.stringify(withoutName));
      const refused = await runKubectl(['get', 'namespaces'], { kubeconfig, home: sandbox.dir });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /doesn't contain any IP SANs|x509/);
    } finally {
      await sandbox.remove();
    }
    const ok = await runKubectl(['get', 'namespaces', '-o', 'name'], kubectl);
    assert.match(ok.stdout, /namespace\/default/, ok.stderr);

    await connect.stop('SIGTERM');
    assert.deepEqual(await stack.kubeconfigsLeft(), []);
  });

  it('Security: --service-account default/pair-bot: the client holds only a session-long ServiceAccount token and the API server never sees the agent\'s identity', { timeout: TEST_TIMEOUT_MS }, async () => {
    stack.api.createObject({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'pair-bot', namespace: 'default' } });
    const mark = lastSeq();
    const { share, connect, kubectl } = await pairNoShell(['--service-account', 'default/pair-bot', '--max-duration', '30m']);

    const text = await readFile(kubectl.kubeconfig, 'utf8');
    assert.doesNotMatch(text, /insecure-skip-tls-verify/);
    const doc = JSON.parse(text) as KubeconfigDoc;
    const user = doc.users[0]!.user;
    assert.deepEqual(Object.keys(user), ['token'], 'a token and nothing else');
    for (const secret of [stack.api.clientCertPem, stack.api.clientKeyPem, stack.api.token]) {
      assert.ok(!text.includes(secret) && !text.includes(Buffer.from(secret).toString('base64')), 'none of the agent\'s credentials');
    }
    const claims = jwtClaims(user['token']!);
    assert.equal(claims['sub'], BOT_USER);
    assert.equal(Number(claims['exp']) - Number(claims['iat']), 30 * 60, 'the token lives as long as the session (--max-duration 30m)');

    const listed = await runKubectl(['get', 'configmaps', '-A', '-o', 'name'], kubectl);
    assert.equal(listed.code, 0, listed.stderr);
    const created = await runKubectl(['create', 'configmap', 'made-by-pair-bot', '--from-literal=who=bot'], kubectl);
    assert.equal(created.code, 0, created.stderr);
    const deleted = await runKubectl(['delete', 'configmap', 'made-by-pair-bot'], kubectl);
    assert.equal(deleted.code, 0, deleted.stderr);

    const seen = recordsAfter(mark);
    // Two TokenRequests, both by the agent: the check before the code was shown (that token is
    // dropped at once) and the session's.
    const issued = seen.filter((record) => record.subresource === 'token');
    assert.deepEqual(
      issued.map((record) => [record.user, record.status]),
      [
        [ADMIN_IDENTITY.user, 201],
        [ADMIN_IDENTITY.user, 201],
      ],
    );
    const sessionToken = issued[1]!;
    const throughTunnel = seen.filter((record) => record.seq > sessionToken.seq);
    assert.ok(throughTunnel.length >= 3, 'kubectl reached the API server');
    for (const record of throughTunnel) {
      assert.equal(record.user, BOT_USER, `${record.method} ${record.path}`);
      assert.deepEqual(record.groups, BOT_GROUPS);
      assert.equal(record.authenticatedUser, BOT_USER, 'authenticated as the ServiceAccount, not impersonated');
      assert.equal(record.authMethod, 'serviceaccount-token');
    }
    assert.ok(throughTunnel.some((record) => record.verb === 'create' && record.name === undefined && record.resource === 'configmaps'));
    assert.ok(!stack.api.requests().filter((r) => r.seq > sessionToken.seq).some((r) => r.user === ADMIN_IDENTITY.user), 'never as the admin');

    // Nothing either side printed contains the token.
    assert.ok(!share.process.stderr().includes(user['token']!) && !share.process.stdout().includes(user['token']!));
    assert.ok(!connect.stderr().includes(user['token']!) && !connect.stdout().includes(user['token']!));

    await connect.stop('SIGTERM');
    assert.equal((await share.process.exited).code, 0, share.process.stderr());
    assert.deepEqual(await stack.kubeconfigsLeft(), []);

    // The agent's audit log says which credentials went out and until when, never the token.
    const audit = await readFile(join(stack.dir, 'state', 'kubepair', 'audit.jsonl'), 'utf8');
    assert.ok(!audit.includes(user['token']!), 'no token in the audit log');
    const established = audit
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { event?: string; detail?: string })
      .filter((record) => record.event === 'session_established')
      .at(-1);
    const detail = /^mode=passthrough credentials=serviceaccount-token:default\/pair-bot expires_at=(\S+)$/.exec(established?.detail ?? '');
    assert.ok(detail, established?.detail);
    // The session ends at its --max-duration; the token (whole seconds) ends at most a second later.
    const sessionEnds = Date.parse(detail[1]!);
    assert.ok(sessionEnds <= Number(claims['exp']) * 1000 && sessionEnds > (Number(claims['exp']) - 2) * 1000, `${detail[1]!} vs exp ${String(claims['exp'])}`);
  });
  it('a token the API server issues for less than --max-duration ends the session with it, and both sides say when', { timeout: TEST_TIMEOUT_MS }, async () => {
    stack.api.createObject({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'capped-bot', namespace: 'default' } });
    const { share, connect, kubectl } = await pairNoShell(['--service-account', 'default/capped-bot', '--max-duration', '2h']);
    const doc = JSON.parse(await readFile(kubectl.kubeconfig, 'utf8')) as KubeconfigDoc;
    const claims = jwtClaims(doc.users[0]!.user['token']!);
    assert.equal(Number(claims['exp']) - Number(claims['iat']), TOKEN_CAP_SECONDS, 'the API server capped the 2 h request');
    const tokenEndClock = localClockTime(new Date(Number(claims['exp']) * 1000), new Date(Number(claims['exp']) * 1000));
    assert.match(connect.stderr(), new RegExp(`expires: (\\d{4}-\\d\\d-\\d\\d )?${tokenEndClock} \\(in (59 min|1 h)`), 'connect shows the token\'s end, not 2 h');
    await share.process.waitFor(new RegExp(`until (\\d{4}-\\d\\d-\\d\\d )?${tokenEndClock} \\(in (59 min|1 h)`), 10_000, 'stderr');
    const stopped = await connect.stop('SIGTERM');
    assert.equal(stopped.code, 143, `128 + SIGTERM: ${connect.stderr()}`);
    assert.deepEqual(await stack.kubeconfigsLeft(), []);
    assert.equal((await share.process.exited).code, 0, share.process.stderr());
  });

  it('a missing ServiceAccount: share fails before it shows a code, quoting the API server; nothing reaches the relay', { timeout: TEST_TIMEOUT_MS }, async () => {
    const createdBefore = (await stack.relayAuditEvents()).filter((event) => event === 'session_created').length;
    const share = stack.spawnShare(['--once', '--mode', 'passthrough', '--service-account', 'default/ghost']);
    const exit = await share.exited;
    assert.equal(exit.code, 1, share.stderr());
    assert.match(share.stderr(), /^kubepair: the API server did not issue a token for --service-account: default\/ghost: serviceaccounts "ghost" not found \(HTTP 404\)$/m);
    assert.doesNotMatch(share.stdout(), /Pairing code/, 'no code to read out');
    assert.doesNotMatch(share.stderr(), /\n\s+at /, 'no stack trace');
    assert.equal((await stack.relayAuditEvents()).filter((event) => event === 'session_created').length, createdBefore, 'no relay session');
  });

  it('a ServiceAccount deleted after share started: the session cannot be described, both sides exit 1, nothing is written', { timeout: TEST_TIMEOUT_MS }, async () => {
    const kubeconfigsBefore = await stack.kubeconfigsLeft();
    stack.api.createObject({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'doomed-bot', namespace: 'default' } });
    const share = await stack.startShare(['--once', '--mode', 'passthrough', '--service-account', 'default/doomed-bot']);
    stack.api.deleteObject('v1', 'ServiceAccount', 'default', 'doomed-bot');
    const connect = stack.startConnect(['--no-shell', share.code]);
    const [connectExit, shareExit] = await Promise.all([connect.exited, share.process.exited]);
    assert.equal(shareExit.code, 1, share.process.stderr());
    assert.match(share.process.stderr(), /^kubepair: the API server did not issue a token for --service-account: default\/doomed-bot: serviceaccounts "doomed-bot" not found \(HTTP 404\)$/m);
    assert.equal(connectExit.code, 1, connect.stderr());
    // The agent cannot send its reason: docs/design.md §4 has no message for a session that cannot
    // be described, so the client learns from the relay that the agent left (docs/passthrough.md).
    assert.match(connect.stderr(), /^kubepair: the relay ended the session: the agent left$/m);
    assert.doesNotMatch(connect.stdout(), /export KUBECONFIG/);
    assert.doesNotMatch(`${share.process.stderr()}${connect.stderr()}`, /\n\s+at /, 'no stack trace');
    assert.deepEqual(await stack.kubeconfigsLeft(), kubeconfigsBefore, 'no kubeconfig was written');
  });
});
