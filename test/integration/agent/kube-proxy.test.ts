/**
 * Real kubectl through the whole in-process data path (docs/design.md §5, §6): TLS + token at the
 * local listener, HTTP/2 CONNECT over the secure channel, the agent's reverse proxy with its
 * own credentials, against the fixture API server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runKubectl, startKubectl } from '../../helpers/kubectl.js';
import { waitUntil } from '../../helpers/wait-until.js';
import type { InProcessTunnel } from '../../helpers/in-process-tunnel.js';
import { startInProcessTunnel } from '../../helpers/in-process-tunnel.js';

describe('kube proxy through the in-process tunnel, real kubectl', () => {
  let tunnel: InProcessTunnel;
  before(async () => {
    tunnel = await startInProcessTunnel();
  });
  after(() => tunnel.close());

  it('get, create -f, delete work and the API server sees the agent\'s identity', async () => {
    const version = await runKubectl(['version', '-o', 'json'], tunnel.kubectl);
    assert.equal(version.code, 0, version.stderr);
    const create = await runKubectl(['create', '-f', '-'], {
      ...tunnel.kubectl,
      stdin: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'through-tunnel', namespace: 'default' }, data: { a: '1' } }),
    });
    assert.equal(create.code, 0, create.stderr);
    const get = await runKubectl(['get', 'configmap', 'through-tunnel', '-o', 'jsonpath={.data.a}'], tunnel.kubectl);
    assert.equal(get.stdout, '1', get.stderr);
    const del = await runKubectl(['delete', 'configmap', 'through-tunnel'], tunnel.kubectl);
    assert.equal(del.code, 0, del.stderr);
    const seen = tunnel.api.requests().filter((r) => r.resource === 'configmaps');
    assert.ok(seen.length >= 3, 'the API server saw the configmap requests');
    assert.ok(seen.every((r) => r.user !== undefined && r.user !== ''), 'every request authenticated as the agent');
  });

  it('a watch receives an event through the tunnel', async () => {
    const watch = startKubectl(['get', 'configmaps', '--watch', '-o', 'name'], tunnel.kubectl);
    await waitUntil(() => tunnel.api.openStreams().watches >= 1, 10_000, 'the watch to be open at the API server');
    const create = await runKubectl(['create', 'configmap', 'watched', '--from-literal=x=1'], tunnel.kubectl);
    assert.equal(create.code, 0, create.stderr);
    const lines = await watch.waitFor((l) => l.includes('configmap/watched'), 10_000);
    assert.ok(lines.includes('configmap/watched'));
    await watch.stop();
  });

  it('exec -i carries stdin through the upgrade', async () => {
    await runKubectl(['run', 'shell', '--image=busybox', '--restart=Never'], tunnel.kubectl);
    const exec = await runKubectl(['exec', '-i', 'shell', '--', 'cat'], { ...tunnel.kubectl, stdin: 'hello through kubepair\n' });
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout, 'hello through kubepair\n');
  });

  it('every request got an audit record with status, bytes and a response hash', async () => {
    // An upgrade's record is written when the upgraded stream closes, which can be after kubectl exited.
    const exec = await tunnel.waitForRecord((r) => r.subresource === 'exec', 10_000);
    assert.ok(tunnel.records.length >= 5);
    for (const record of tunnel.records) {
      assert.match(record.response_sha256, /^[0-9a-f]{64}$/);
      // 0 means the client went away before any response (docs/audit.md); anything else is HTTP.
      assert.ok(record.status === 0 || (record.status >= 100 && record.status <= 599), `${record.method} ${record.path} status ${record.status}`);
      assert.equal(record.decision, 'allow');
    }
    const statusOf = (verb: string, name: string): number | undefined =>
      tunnel.records.find((r) => r.verb === verb && r.resource === 'configmaps' && r.name === name)?.status;
    assert.equal(statusOf('get', 'through-tunnel'), 200, 'get');
    assert.equal(statusOf('delete', 'through-tunnel'), 200, 'delete');
    const create = tunnel.records.find((r) => r.verb === 'create' && r.resource === 'configmaps');
    assert.equal(create?.status, 201, 'create');
    assert.ok((create?.bytes_in ?? 0) > 0, 'the create body was counted');
    assert.equal(exec.status, 101);
    assert.equal(exec.tier, 3);
  });
});
