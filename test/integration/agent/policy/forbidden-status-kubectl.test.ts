/**
 * What the real kubectl prints for a kubepair refusal. A small HTTP server on 127.0.0.1 plays
 * the agent's front door: it classifies each request, asks the policy, and answers refusals with
 * forbiddenResponse(); allowed requests get just enough fake API to let kubectl proceed. kubectl
 * (from $KUBECTL or PATH) talks to it over plain HTTP with an empty kubeconfig.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { forbiddenResponse } from '../../../../src/agent/policy/forbidden-status.js';
import { RequestPolicy } from '../../../../src/agent/policy/policy.js';
import type { PolicyOptions } from '../../../../src/agent/policy/policy.js';
import { requestAttributes } from '../../../../src/agent/policy/request-attributes.js';

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const KUBECTL_TIMEOUT_MS = 30_000;

const RESOURCES = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: 'v1',
  resources: [
    { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['create', 'delete', 'get', 'list', 'watch'], shortNames: ['po'] },
    { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
    { name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ['create', 'delete', 'get', 'list', 'watch'] },
  ],
};
const POD = {
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: { name: 'web', namespace: 'default' },
  spec: { containers: [{ name: 'app', image: 'example' }] },
  status: { phase: 'Running' },
};

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly upgrade: string;
  readonly decision: string;
}

function sendJson(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function fakeApi(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/api') return sendJson(res, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
  if (path === '/apis') return sendJson(res, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
  if (path === '/api/v1') return sendJson(res, RESOURCES);
  if (path === '/version') return sendJson(res, { major: '1', minor: '32', gitVersion: 'v1.32.0' });
  if (path === '/api/v1/namespaces/default/pods/web') return sendJson(res, POD);
  if (path === '/api/v1/namespaces/default/pods') return sendJson(res, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [POD] });
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found');
}

describe('kubectl prints a kubepair refusal as its own Forbidden error', { timeout: 180_000 }, () => {
  let server: Server;
  let port = 0;
  let cacheDir = '';
  let policy = RequestPolicy.create();
  let seen: Seen[] = [];

  before(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'kubepair-kubectl-'));
    server = createServer((req, res) => {
      const attributes = requestAttributes(req.method ?? '', req.url ?? '');
      const decision = policy.decide(attributes, req.headersDistinct);
      seen.push({
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0] ?? '',
        upgrade: req.headers.upgrade ?? '',
        decision: decision.decision,
      });
      if (decision.decision === 'deny') {
        const answer = forbiddenResponse(decision, attributes);
        res.writeHead(answer.statusCode, answer.headers);
        res.end(answer.body);
        return;
      }
      fakeApi(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(cacheDir, { recursive: true, force: true });
  });

  function kubectl(options: PolicyOptions, args: readonly string[]): Promise<{ code: number; stderr: string; stdout: string }> {
    policy = RequestPolicy.create(options);
    seen = [];
    const argv = [`--server=http://127.0.0.1:${port}`, '--kubeconfig=/dev/null', `--cache-dir=${cacheDir}`, '--request-timeout=10s', ...args];
    return new Promise((resolve, reject) => {
      execFile(
        KUBECTL,
        argv,
        { timeout: KUBECTL_TIMEOUT_MS, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cacheDir } },
        (err, stdout, stderr) => {
          if (err !== null && typeof err.code !== 'number') {
            reject(new Error(`could not run ${KUBECTL} (set KUBECTL to the kubectl binary): ${err.message}`, { cause: err }));
            return;
          }
          resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
        },
      );
    });
  }

  it('kubectl-readonly-delete: delete in readonly', async () => {
    const got = await kubectl({ mode: 'readonly' }, ['delete', 'pod', 'web']);
    assert.equal(got.code, 1, `kubectl-readonly-delete: exit code (${got.stderr})`);
    assert.equal(
      got.stderr.trim(),
      'Error from server (Forbidden): kubepair policy "readonly" refuses "delete pods" (tier 3): mode "readonly" allows only tier 0 (reads)',
      'kubectl-readonly-delete: stderr',
    );
  });

  it('kubectl-readonly-secret: get secret in readonly', async () => {
    const got = await kubectl({ mode: 'readonly' }, ['get', 'secret', 'db']);
    assert.equal(got.code, 1, `kubectl-readonly-secret: exit code (${got.stderr})`);
    assert.ok(
      got.stderr.includes('Error from server (Forbidden): kubepair policy "readonly" refuses "get secrets" (tier 1)'),
      `kubectl-readonly-secret: stderr ${got.stderr}`,
    );
  });

  it('kubectl-deny-rule: a --deny rule is named', async () => {
    const got = await kubectl({ mode: 'open', deny: ['delete pods'] }, ['delete', 'pod', 'web']);
    assert.equal(got.code, 1, `kubectl-deny-rule: exit code (${got.stderr})`);
    assert.equal(
      got.stderr.trim(),
      'Error from server (Forbidden): kubepair policy "open" refuses "delete pods" (tier 3): refused by --deny "delete pods"',
      'kubectl-deny-rule: stderr',
    );
  });

  it('kubectl-guarded-delete: guarded without --allow suggests the rule', async () => {
    const got = await kubectl({ mode: 'guarded' }, ['delete', 'pod', 'web']);
    assert.equal(got.code, 1, `kubectl-guarded-delete: exit code (${got.stderr})`);
    assert.equal(
      got.stderr.trim(),
      'Error from server (Forbidden): kubepair policy "guarded" refuses "delete pods" (tier 3): tiers 2-3 need a matching --allow rule (the sharer can add --allow "delete pods")',
      'kubectl-guarded-delete: stderr',
    );
  });

  it('kubectl-guarded-read: an allowed read goes through', async () => {
    const got = await kubectl({ mode: 'guarded' }, ['get', 'pods', '-o', 'name']);
    assert.equal(got.code, 0, `kubectl-guarded-read: exit code (${got.stderr})`);
    assert.equal(got.stdout.trim(), 'pod/web', 'kubectl-guarded-read: stdout');
  });

  it('Security: kubectl-exec-upgrade: the WebSocket GET and the SPDY POST are both refused, and kubectl says why', async () => {
    const got = await kubectl({ mode: 'readonly' }, ['exec', 'web', '--', 'ls']);
    assert.notEqual(got.code, 0, `kubectl-exec-upgrade: exit code (${got.stderr})`);
    assert.ok(
      got.stderr.includes('kubepair policy "readonly" refuses "create pods/exec" (tier 3)'),
      `kubectl-exec-upgrade: stderr ${got.stderr}`,
    );
    const execs = seen.filter((request) => request.path.endsWith('/exec'));
    assert.ok(execs.length > 0, 'kubectl-exec-upgrade: kubectl asked for exec');
    assert.ok(execs.every((request) => request.decision === 'deny'), `kubectl-exec-upgrade: all refused ${JSON.stringify(execs)}`);
    const websocket = execs.find((request) => request.method === 'GET' && request.upgrade.toLowerCase() === 'websocket');
    assert.ok(websocket !== undefined, `kubectl-exec-upgrade: a WebSocket GET was tried ${JSON.stringify(execs)}`);
  });

  it('Security: kubectl-port-forward-upgrade: port-forward is refused before any local port serves', async () => {
    const got = await kubectl({ mode: 'guarded' }, ['port-forward', '--address=127.0.0.1', 'pod/web', ':80']);
    assert.notEqual(got.code, 0, `kubectl-port-forward-upgrade: exit code (${got.stderr})`);
    assert.equal(
      got.stderr.trim(),
      'error: error upgrading connection: kubepair policy "guarded" refuses "create pods/portforward" (tier 3): tiers 2-3 need a matching --allow rule (the sharer can add --allow "create pods/portforward")',
      'kubectl-port-forward-upgrade: stderr',
    );
    const forwards = seen.filter((request) => request.path.endsWith('/portforward'));
    assert.ok(forwards.length > 0, 'kubectl-port-forward-upgrade: kubectl asked for portforward');
    assert.ok(forwards.every((request) => request.decision === 'deny'), `kubectl-port-forward-upgrade: all refused ${JSON.stringify(forwards)}`);
  });
});
