/**
 * `pods/proxy` and `services/proxy` end to end (issue 10: "`Upgrade` travels upstream ... on
 * exec, attach, portforward, and proxy where allowed"; "Prove every upgrade end to end"): a real
 * relay, `kubepair share --policy open|readonly --audit-log FILE` and `kubepair connect
 * --no-shell` processes, the fixture API server serving the proxy subresources to a backend the
 * test controls (test/helpers/proxy-backend.ts), the real kubectl on connect's kubeconfig and a
 * WebSocket client on connect's listener.
 *
 * Under `open`: `kubectl get --raw` through pods/proxy and services/proxy returns the backend's
 * bytes, a WebSocket through pods/{name}/proxy/ws carries bytes both ways (checked on both ends),
 * and each request has its audit record. Under `readonly` the same requests are refused with a
 * 403 Status, the backend and the API server see nothing, and each refusal is audited. Under
 * `guarded` with `--allow "get pods/proxy"` only that upgrade goes through. A
 * Security test: an upgrade on a proxy path that the backend answers 200 is answered as an
 * ordinary response, and nothing pipelined behind it reaches the backend or the API server.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket } from 'ws';
import type { JsonObject } from '../fixtures/kube-api-server/objects.js';
import type { AuditRecord } from '../helpers/audit-records.js';
import { readAuditRecords } from '../helpers/audit-records.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import type { KubectlOptions } from '../helpers/kubectl.js';
import { kubectlSandbox, runKubectl } from '../helpers/kubectl.js';
import type { ProxyBackend } from '../helpers/proxy-backend.js';
import { startProxyBackend } from '../helpers/proxy-backend.js';
import { waitUntil, within } from '../helpers/wait-until.js';

const WAIT_MS = 20_000;
const TEST_TIMEOUT_MS = 60_000;
const NS = '/api/v1/namespaces/default';
const POD_PROXY = `${NS}/pods/web/proxy`;
const SERVICE_PROXY = `${NS}/services/web/proxy`;

const OBJECTS: JsonObject[] = [
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ name: 'http', containerPort: 8080 }] }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } },
];

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A share with `policy`, a connect paired with it, and what a client needs to reach connect's listener. */
interface TunnelUnderTest {
  readonly stack: E2EStack;
  readonly backend: ProxyBackend;
  readonly kubectl: KubectlOptions;
  readonly auditPath: string;
  /** connect's local listener. */
  readonly port: number;
  readonly caPem: string;
  readonly token: string;
  close(): Promise<void>;
}

async function startTunnel(policy: string, rules: readonly string[] = []): Promise<TunnelUnderTest> {
  const backend = await startProxyBackend('web');
  const sandbox = await kubectlSandbox(`kubepair-e2e-proxy-${policy}-`);
  let stack: E2EStack | undefined;
  try {
    stack = await startE2EStack({ api: { objects: OBJECTS, portForward: { 'default/web': { 8080: `tcp://127.0.0.1:${backend.port}` } } } });
    const auditPath = join(stack.dir, 'agent-audit', 'audit.jsonl');
    const { code } = await stack.startShare(['--policy', policy, ...rules, '--audit-log', auditPath]);
    const connect = stack.startConnect(['--no-shell', code]);
    const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout');
    const text = await readFile(exported[1]!, 'utf8');
    const kubeconfig = JSON.parse(text) as {
      clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
      users: Array<{ user: { token: string } }>;
    };
    const owned = stack;
    return {
      stack,
      backend,
      kubectl: { kubeconfig: await sandbox.writeKubeconfig('tunnel.kubeconfig', text), home: sandbox.dir },
      auditPath,
      port: Number(new URL(kubeconfig.clusters[0]!.cluster.server).port),
      caPem: Buffer.from(kubeconfig.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString('utf8'),
      token: kubeconfig.users[0]!.user.token,
      close: async () => {
        await owned.close();
        await backend.close();
        await sandbox.remove();
      },
    };
  } catch (err) {
    await stack?.close();
    await backend.close();
    await sandbox.remove();
    throw err;
  }
}

/** The agent's final `request` records for proxy requests, oldest first. */
function proxyRecords(tunnel: TunnelUnderTest): AuditRecord[] {
  return readAuditRecords(tunnel.auditPath).filter((record) => record['event'] === 'request' && record['subresource'] === 'proxy');
}

/** A WebSocket to `path` through connect's listener (the session CA, the session token). */
function openWebSocket(tunnel: TunnelUnderTest, path: string): WebSocket {
  return new WebSocket(`wss://127.0.0.1:${tunnel.port}${path}`, { ca: tunnel.caPem, headers: { Authorization: `Bearer ${tunnel.token}` }, handshakeTimeout: WAIT_MS });
}

/** Send raw bytes to connect's listener and collect everything answered until the connection closes (bounded). */
async function rawExchange(tunnel: TunnelUnderTest, bytes: string): Promise<string> {
  const socket = tlsConnect({ host: '127.0.0.1', port: tunnel.port, ca: tunnel.caPem });
  const bound = setTimeout(() => socket.destroy(), WAIT_MS);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => socket.destroy());
  await once(socket, 'secureConnect');
  socket.write(bytes);
  await once(socket, 'close');
  clearTimeout(bound);
  return received;
}

/** Exchange three binary messages over a WebSocket to `path`; every byte must come back, and reach the backend, in order. */
async function webSocketRoundTrip(tunnel: TunnelUnderTest, path: string): Promise<void> {
  const before = tunnel.backend.received().length;
  const payloads = [randomBytes(2048), randomBytes(256 * 1024), Buffer.from('last message')];
  const ws = openWebSocket(tunnel, path);
  const echoed: Buffer[] = [];
  try {
    await once(ws, 'open');
    for (const payload of payloads) {
      const answer = once(ws, 'message') as Promise<[Buffer]>;
      ws.send(payload, { binary: true });
      // within: the bound's timer is cleared with the answer (one left running kept the file's process alive).
      const [data] = await within(WAIT_MS, `the echo of message ${echoed.length} over the WebSocket to ${path}`, answer);
      echoed.push(Buffer.from(data));
    }
  } finally {
    ws.close();
  }
  echoed.forEach((got, i) => assert.equal(sha256(got), sha256(payloads[i]!), `message ${i}: every byte came back, in order`));
  assert.equal(sha256(tunnel.backend.received().subarray(before)), sha256(Buffer.concat(payloads)), 'the backend received every byte, in order');
}

/** Open a WebSocket to `path` that the agent must refuse; resolves with the answer's status and body. */
async function refusedWebSocket(tunnel: TunnelUnderTest, path: string): Promise<{ status: number | undefined; body: string }> {
  const ws = openWebSocket(tunnel, path);
  ws.on('error', () => undefined); // ended below before it was ever established
  const [, response] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  ws.terminate();
  return { status: response.statusCode, body: Buffer.concat(chunks).toString('utf8') };
}

describe('e2e: pods/proxy and services/proxy through the tunnel, --policy open', { timeout: 6 * TEST_TIMEOUT_MS }, () => {
  let tunnel: TunnelUnderTest;
  before(async () => {
    tunnel = await startTunnel('open');
  });
  after(async () => {
    await tunnel.close();
  });

  it('kubectl get --raw through pods/proxy and services/proxy returns the backend\'s bytes, each request audited', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const path of [`${POD_PROXY}/hello`, `${SERVICE_PROXY}/hello`]) {
      const result = await runKubectl(['get', '--raw', path], tunnel.kubectl);
      assert.equal(result.code, 0, `${path}: ${result.stderr}`);
      assert.equal(result.stdout, 'hello from web', path);
    }
    const seen = tunnel.backend.requests().map((r) => `${r.method} ${r.url} ${r.headers.authorization ?? 'no credentials'}`);
    assert.deepEqual(seen, ['GET /hello no credentials', 'GET /hello no credentials']);
    const executed = tunnel.stack.api.requests().filter((r) => r.subresource === 'proxy');
    assert.deepEqual(executed.map((r) => [r.resource, r.status, r.user]), [['pods', 200, 'fixture-admin'], ['services', 200, 'fixture-admin']]);
    await waitUntil(() => proxyRecords(tunnel).length === 2, WAIT_MS, 'an audit record for each proxy request');
    const records = proxyRecords(tunnel);
    assert.deepEqual(
      records.map((r) => [r['verb'], r['resource'], r['name'], r['path'], r['decision'], r['tier'], r['status']]),
      [
        ['get', 'pods', 'web', `${POD_PROXY}/hello`, 'allow', 3, 200],
        ['get', 'services', 'web', `${SERVICE_PROXY}/hello`, 'allow', 3, 200],
      ],
    );
    assert.ok(records.every((r) => r['response_sha256'] === sha256(Buffer.from('hello from web'))), 'the audit hashed the bytes the client got');
  });

  it('a WebSocket through pods/web/proxy/ws carries bytes both ways, checked on both ends, over a verified 101', { timeout: TEST_TIMEOUT_MS }, async () => {
    await webSocketRoundTrip(tunnel, `${POD_PROXY}/ws`);
    const upgrade = tunnel.backend.requests().find((r) => r.upgrade);
    assert.deepEqual([upgrade?.url, upgrade?.headers.upgrade, upgrade?.headers.authorization], ['/ws', 'websocket', undefined]);
    const executed = tunnel.stack.api.requests().filter((r) => r.subresource === 'proxy').at(-1);
    assert.deepEqual([executed?.status, executed?.protocol, executed?.upgrade, executed?.user], [101, 'http/1.1', true, 'fixture-admin']);
    await waitUntil(() => proxyRecords(tunnel).some((r) => r['status'] === 101), WAIT_MS, 'the upgrade\'s audit record (written when it ends)');
    const record = proxyRecords(tunnel).find((r) => r['status'] === 101);
    assert.deepEqual([record?.['verb'], record?.['path'], record?.['decision']], ['get', `${POD_PROXY}/ws`, 'allow']);
    assert.ok(Number(record?.['bytes_in']) > 256 * 1024 && Number(record?.['bytes_out']) > 256 * 1024, `bytes both ways are counted: ${JSON.stringify(record)}`);
  });

  it('Security: an upgrade on a proxy path that the backend answers 200 is answered as an ordinary response; nothing pipelined behind it reaches the backend or the API server', { timeout: TEST_TIMEOUT_MS }, async () => {
    const backendBefore = tunnel.backend.requests().length;
    const apiBefore = tunnel.stack.api.requests().at(-1)?.seq ?? 0;
    const auth = `Host: 127.0.0.1:${tunnel.port}\r\nAuthorization: Bearer ${tunnel.token}\r\n`;
    const upgrade = `GET ${POD_PROXY}/plain HTTP/1.1\r\n${auth}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    const pipelinedProxy = `GET ${POD_PROXY}/hello HTTP/1.1\r\n${auth}\r\n`;
    const pipelinedDelete = `DELETE ${NS}/pods/web HTTP/1.1\r\n${auth}\r\n`;
    const got = await rawExchange(tunnel, upgrade + pipelinedProxy + pipelinedDelete);
    // kube-apiserver (and the fixture) answer a non-101 to an upgrade with a 500 Status.
    assert.match(got, /^HTTP\/1\.1 500 /, got);
    assert.match(got, /invalid upgrade response: status code 200/);
    assert.equal(got.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, `one answer, then the connection closed: ${got}`);
    assert.deepEqual(tunnel.backend.requests().slice(backendBefore).map((r) => r.url), ['/plain'], 'the backend saw the upgrade request only');
    const executed = tunnel.stack.api.requests().filter((r) => r.seq > apiBefore);
    assert.deepEqual(executed.map((r) => `${r.method} ${r.path} ${r.status}`), [`GET ${POD_PROXY}/plain 500`], 'the API server executed the upgrade request only');
    assert.equal(tunnel.stack.api.getObject('v1', 'Pod', 'default', 'web').metadata['name'], 'web', 'the pod is still there');
    await waitUntil(() => proxyRecords(tunnel).some((r) => r['path'] === `${POD_PROXY}/plain`), WAIT_MS, 'the audit record of the upgrade request');
    assert.equal(proxyRecords(tunnel).find((r) => r['path'] === `${POD_PROXY}/plain`)?.['status'], 500);
  });
});

describe('e2e: Security: pods/proxy and services/proxy through the tunnel, --policy readonly', { timeout: 6 * TEST_TIMEOUT_MS }, () => {
  let tunnel: TunnelUnderTest;
  before(async () => {
    tunnel = await startTunnel('readonly');
  });
  after(async () => {
    await tunnel.close();
  });

  it('get --raw through pods/proxy and services/proxy, and a WebSocket through pods/proxy, are refused with a 403 Status; the backend and the API server see nothing; each refusal is audited', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const [path, description] of [[`${POD_PROXY}/hello`, 'get pods/proxy'], [`${SERVICE_PROXY}/hello`, 'get services/proxy']] as const) {
      const result = await runKubectl(['get', '--raw', path], tunnel.kubectl);
      assert.notEqual(result.code, 0, path);
      assert.match(result.stderr, new RegExp(`Error from server \\(Forbidden\\): kubepair policy "readonly" refuses "${description.replace('/', '\\/')}" \\(tier 3\\)`), result.stderr);
    }
    const refused = await refusedWebSocket(tunnel, `${POD_PROXY}/ws`);
    assert.equal(refused.status, 403);
    const status = JSON.parse(refused.body) as { kind?: string; code?: number; reason?: string };
    assert.deepEqual([status.kind, status.code, status.reason], ['Status', 403, 'Forbidden']);

    assert.deepEqual(tunnel.backend.requests(), [], 'the backend saw nothing');
    assert.deepEqual(tunnel.stack.api.requests().filter((r) => r.subresource === 'proxy'), [], 'the API server saw no proxy request');
    await waitUntil(() => proxyRecords(tunnel).length === 3, WAIT_MS, 'an audit record for each refusal');
    assert.deepEqual(
      proxyRecords(tunnel).map((r) => [r['resource'], r['path'], r['decision'], r['tier'], r['status']]),
      [
        ['pods', `${POD_PROXY}/hello`, 'deny', 3, 403],
        ['services', `${SERVICE_PROXY}/hello`, 'deny', 3, 403],
        ['pods', `${POD_PROXY}/ws`, 'deny', 3, 403],
      ],
    );
  });
});

describe('e2e: Security: --policy guarded with --allow "get pods/proxy" upgrades only what the rule allows', { timeout: 6 * TEST_TIMEOUT_MS }, () => {
  let tunnel: TunnelUnderTest;
  before(async () => {
    tunnel = await startTunnel('guarded', ['--allow', 'get pods/proxy']);
  });
  after(async () => {
    await tunnel.close();
  });

  it('a WebSocket through pods/proxy is spliced; the same through services/proxy is refused with 403 and never reaches the backend', { timeout: TEST_TIMEOUT_MS }, async () => {
    await webSocketRoundTrip(tunnel, `${POD_PROXY}/ws`);
    const refused = await refusedWebSocket(tunnel, `${SERVICE_PROXY}/ws`);
    assert.equal(refused.status, 403);
    assert.match(refused.body, /kubepair policy \\"guarded\\" refuses \\"get services\/proxy\\" \(tier 3\)/, refused.body);
    assert.deepEqual(tunnel.backend.requests().map((r) => `${r.url} ${r.upgrade}`), ['/ws true'], 'the backend saw the allowed upgrade only');
    assert.deepEqual(tunnel.stack.api.requests().filter((r) => r.subresource === 'proxy').map((r) => `${r.resource} ${r.status}`), ['pods 101']);
    await waitUntil(() => proxyRecords(tunnel).length === 2, WAIT_MS, 'an audit record for each');
    assert.deepEqual(
      proxyRecords(tunnel)
        .map((r) => [r['resource'], r['decision'], r['rule'] ?? null, r['status']])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      [
        ['pods', 'allow', '--allow "get pods/proxy"', 101],
        ['services', 'deny', null, 403],
      ],
    );
  });
});
