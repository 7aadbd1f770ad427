/**
 * The three roles as objects in one process (issue 11 §1; docs/architecture.md "Role objects"):
 * a RelayServer on 127.0.0.1 port 0 with a real tokens file, the agent's CodeOffer (and the
 * AgentSession it creates for whoever pairs) in front of the test API server, and a
 * ClientTunnel, each built from its Config with no CLI in between. A real kubectl uses the
 * tunnel's kubeconfig; the tests then close every part and check what each says about how it
 * ended, and that nothing is left behind (the kubeconfig file, the relay).
 */
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { AuditLog } from '../../src/audit/audit-log.js';
import type { RequestAuditRecord } from '../../src/audit/record.js';
import type { AgentSession } from '../../src/agent/agent-session.js';
import { CodeOffer } from '../../src/agent/code-offer.js';
import type { ShareConfigInput } from '../../src/agent/share-config.js';
import type { UpstreamCluster } from '../../src/agent/upstream-cluster.js';
import { loadUpstreamCluster } from '../../src/agent/upstream-cluster.js';
import { ClientTunnel } from '../../src/client/client-tunnel.js';
import { isKubepairError } from '../../src/errors/index.js';
import { DEFAULT_RELAY_LIMITS } from '../../src/relay/relay-options.js';
import { RelayServer } from '../../src/relay/relay-server.js';
import { createToken } from '../../src/relay/token-file.js';
import type { KubeApiServer } from '../fixtures/kube-api-server/server.js';
import { startKubeApiServer } from '../fixtures/kube-api-server/server.js';
import { startCountingTarget } from '../helpers/counting-target.js';
import { kubectlSandbox, runKubectl } from '../helpers/kubectl.js';
import { within } from '../helpers/relay-process.js';
import { exchangeTcp, freePort } from '../helpers/tcp.js';
import { waitUntil } from '../helpers/wait-until.js';

const T = { timeout: 60_000 };
/** Bound on every wait for a role to reach a state. */
const STEP_MS = 20_000;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The session `offer` announces next. */
function nextSession(offer: CodeOffer): Promise<AgentSession> {
  return within(STEP_MS, 'an agent session', new Promise((resolve) => offer.once('session', resolve)));
}

describe('e2e: relay, agent and client as objects in one process', { timeout: 300_000 }, () => {
  let api: KubeApiServer;
  let sandbox: Awaited<ReturnType<typeof kubectlSandbox>>;
  let relay: RelayServer;
  let relayUrl: string;
  let agentToken: string;
  let clientToken: string;
  let upstream: UpstreamCluster;
  let audit: AuditLog;

  before(async () => {
    api = await startKubeApiServer();
    sandbox = await kubectlSandbox('kubepair-roles-');
    const tokensFile = join(sandbox.dir, 'relay', 'tokens.json');
    agentToken = await createToken(tokensFile, 'agent', 'agent');
    clientToken = await createToken(tokensFile, 'client', 'client');
    relay = new RelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      insecureNoTls: false,
      trustProxy: [],
      allowOrigins: [],
      auth: { mode: 'tokens', tokensFile },
      auditLogPath: join(sandbox.dir, 'relay', 'audit.jsonl'),
      logLevel: 'silent',
      limits: { ...DEFAULT_RELAY_LIMITS, shutdownGraceMs: 1000 },
      logDestination: new Writable({ write: (_chunk, _encoding, done) => done() }),
    });
    relayUrl = (await relay.start()).url;
    upstream = await loadUpstreamCluster({ kubeconfig: await sandbox.writeKubeconfig('agent.kubeconfig', api.kubeconfigFor()) });
    audit = await AuditLog.open({ path: join(sandbox.dir, 'agent-audit.jsonl') });
  });

  after(async () => {
    await audit?.close();
    await relay?.close();
    await api?.close();
    await sandbox?.remove();
  });

  function offerConfig(extra: Partial<ShareConfigInput> = {}): ShareConfigInput {
    return { relay: { url: relayUrl, token: agentToken }, upstream, audit, ...extra };
  }

  it('kubectl works through a ClientTunnel paired with a CodeOffer; closing the tunnel ends the session, the offer (once) and removes the kubeconfig', T, async () => {
    const offer = new CodeOffer(offerConfig({ once: true }));
    const tunnelEnds: string[] = [];
    try {
      const session = nextSession(offer);
      const { code } = await within(STEP_MS, 'the first code', offer.start());
      const tunnel = new ClientTunnel({ relay: { url: relayUrl, token: clientToken }, code, kubeconfigDir: sandbox.dir });
      tunnel.on('closed', (end) => tunnelEnds.push(end.kind));
      const steps: string[] = [];
      tunnel.on('startStep', (step) => steps.push(step));
      const ready = await within(STEP_MS, 'the tunnel', tunnel.start());
      assert.equal(tunnel.state, 'ready');
      // runtime_dir is file system work done while pairing runs: wherever it finishes, before the kubeconfig.
      assert.deepEqual(
        steps.filter((step) => step !== 'runtime_dir'),
        ['relay_paired', 'relay_socket', 'channel', 'description', 'tls_identity', 'listeners', 'kubeconfig'],
        'each start step once, in order (the start-up timeline)',
      );
      assert.equal(steps.filter((step) => step === 'runtime_dir').length, 1, 'runtime_dir once');
      assert.ok(steps.indexOf('runtime_dir') < steps.indexOf('kubeconfig'), `runtime_dir before the kubeconfig: ${steps.join(', ')}`);
      assert.equal(ready.description.mode, 'proxy');
      assert.equal(ready.description.policy.mode, 'guarded', 'the default policy of a proxy-mode share');
      const agentSession = await session;
      assert.equal(agentSession.state, 'serving');
      const requests: RequestAuditRecord[] = [];
      agentSession.on('request', (record) => requests.push(record));

      const result = await runKubectl(['get', 'namespaces', '-o', 'name'], { kubeconfig: ready.kubeconfig, home: sandbox.dir });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^namespace\/kube-system$/m);
      // The record is made when the response has ended, which kubectl may see first.
      await waitUntil(
        () => requests.some((record) => record.method === 'GET' && record.path === '/api/v1/namespaces' && record.status === 200),
        STEP_MS,
        'the agent session to report GET /api/v1/namespaces',
      );

      await tunnel.close();
      assert.deepEqual(await tunnel.closed, { kind: 'closed' });
      assert.deepEqual(tunnelEnds, ['closed'], 'the closed event, once');
      assert.equal(tunnel.state, 'closed');
      assert.equal(await exists(ready.kubeconfig), false, 'the kubeconfig is removed');
      // The agent sees its client leave: the session ends, and with `once` so does the offer.
      await within(STEP_MS, 'the agent session to end', agentSession.closed);
      assert.equal(agentSession.state, 'closed');
      assert.deepEqual(await within(STEP_MS, 'the offer to end', offer.closed), { kind: 'served' });
    } finally {
      await offer.close();
    }
  });

  it('closing the offer under a ready tunnel: the tunnel is lost because the sharer stopped, its kubeconfig removed, and the offer ends closed', T, async () => {
    const offer = new CodeOffer(offerConfig());
    try {
      const session = nextSession(offer);
      const { code } = await within(STEP_MS, 'the first code', offer.start());
      const tunnel = new ClientTunnel({ relay: { url: relayUrl, token: clientToken }, code, kubeconfigDir: sandbox.dir });
      const ready = await within(STEP_MS, 'the tunnel', tunnel.start());
      await session;
      assert.equal(await exists(ready.kubeconfig), true);

      await within(STEP_MS, 'the offer to close', offer.close());
      assert.deepEqual(await offer.closed, { kind: 'closed' });
      const end = await within(STEP_MS, 'the tunnel to notice', tunnel.closed);
      assert.equal(end.kind, 'lost');
      assert.equal(end.reason, 'sharer_stopped', 'the agent said bye, end to end');
      assert.equal(await exists(ready.kubeconfig), false, 'the kubeconfig is removed');
    } finally {
      await offer.close();
    }
  });

  it('an exposed TCP target reached through the tunnel\'s forward port, bytes both ways', T, async () => {
    const echo = await startCountingTarget();
    const offer = new CodeOffer(offerConfig({ once: true, expose: [{ name: 'echo', host: '127.0.0.1', port: echo.port }] }));
    try {
      const { code } = await within(STEP_MS, 'the first code', offer.start());
      const localPort = await freePort();
      const tunnel = new ClientTunnel({ relay: { url: relayUrl, token: clientToken }, code, kubeconfigDir: sandbox.dir, forwards: [{ localPort, target: 'echo' }] });
      const ready = await within(STEP_MS, 'the tunnel', tunnel.start());
      assert.deepEqual(ready.description.targets, ['kube-apiserver', 'echo']);
      assert.deepEqual(ready.forwards, [{ localPort, target: 'echo' }]);

      const back = await exchangeTcp(localPort, 'through the tunnel and back', STEP_MS);
      assert.equal(back.toString(), 'through the tunnel and back');
      assert.equal(echo.accepted(), 1);

      await tunnel.close();
      assert.deepEqual(await within(STEP_MS, 'the offer to end', offer.closed), { kind: 'served' });
    } finally {
      await offer.close();
      await echo.close();
    }
  });

  it('a wrong code: the tunnel fails with KP_ERR_PAIRING_FAILED and leaves nothing; the offer counts the attempt and still pairs the right code', T, async () => {
    const offer = new CodeOffer(offerConfig({ once: true }));
    const failures: Array<[number, number, string]> = [];
    offer.on('attemptFailed', (count, max, error) => failures.push([count, max, error.code]));
    try {
      const { code } = await within(STEP_MS, 'the first code', offer.start());
      const wrongSecret = code.secret === '00000000' ? '11111111' : '00000000';
      const wrong = new ClientTunnel({ relay: { url: relayUrl, token: clientToken }, code: { nameplate: code.nameplate, secret: wrongSecret }, kubeconfigDir: sandbox.dir });
      await assert.rejects(within(STEP_MS, 'the wrong code to fail', wrong.start()), (err) => isKubepairError(err, 'KP_ERR_PAIRING_FAILED'));
      const end = await wrong.closed;
      assert.ok(end.kind === 'failed' && end.error.code === 'KP_ERR_PAIRING_FAILED', `the tunnel ended failed: ${JSON.stringify(end)}`);
      await within(STEP_MS, 'the agent to count the attempt', new Promise<void>((resolve) => (failures.length > 0 ? resolve() : offer.once('attemptFailed', () => resolve()))));
      assert.deepEqual(failures[0]?.slice(0, 2), [1, 5]);

      const right = new ClientTunnel({ relay: { url: relayUrl, token: clientToken }, code, kubeconfigDir: sandbox.dir });
      const ready = await within(STEP_MS, 'the right code to pair', right.start());
      const result = await runKubectl(['get', 'namespace', 'default', '-o', 'name'], { kubeconfig: ready.kubeconfig, home: sandbox.dir });
      assert.equal(result.code, 0, result.stderr);
      await right.close();
      assert.deepEqual(await within(STEP_MS, 'the offer to end', offer.closed), { kind: 'served' });
    } finally {
      await offer.close();
    }
  });
});
