/** The temporary kubeconfig: content, permissions, exclusivity, removal (docs/design.md §6, §7). */
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TempKubeconfig, renderKubeconfig } from '../../../src/client/kubeconfig.js';
import { chooseRuntimeDir } from '../../../src/process/runtime-dir.js';
import { isKubepairError } from '../../../src/errors/index.js';

const CA = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';

describe('kubeconfig', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubepair-kc-'));
  after(() => rm(dir, { recursive: true, force: true }));

  it('proxy mode: local server, session CA, bearer token; never insecure-skip-tls-verify', () => {
    const text = renderKubeconfig({ clusterName: 'prod', server: 'https://127.0.0.1:4443', caPem: CA, user: { token: 'tok' } });
    const doc = JSON.parse(text) as {
      clusters: Array<{ name: string; cluster: Record<string, string> }>;
      users: Array<{ user: Record<string, string> }>;
      'current-context': string;
    };
    assert.equal(doc.clusters[0]!.cluster['server'], 'https://127.0.0.1:4443');
    assert.equal(Buffer.from(doc.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString(), CA);
    assert.equal(doc.users[0]!.user['token'], 'tok');
    assert.equal(doc['current-context'], 'kubepair-prod');
    assert.doesNotMatch(text, /insecure-skip-tls-verify/);
  });

  it('passthrough mode: cluster CA with tls-server-name and client certificates', () => {
    const text = renderKubeconfig({
      clusterName: 'prod',
      server: 'https://127.0.0.1:4443',
      caPem: CA,
      tlsServerName: 'kubernetes.default.svc',
      user: { clientCertificatePem: CA, clientKeyPem: 'KEY' },
      namespace: 'team-a',
    });
    assert.match(text, /"tls-server-name": "kubernetes.default.svc"/);
    assert.match(text, /"client-key-data": "S0VZ"/);
    assert.match(text, /"namespace": "team-a"/);
    assert.doesNotMatch(text, /insecure-skip-tls-verify/);
  });

  it('Security: a malicious cluster name cannot escape the directory or the JSON', async () => {
    const file = await TempKubeconfig.create(dir, {
      clusterName: '../../x; rm -rf ~"\n',
      server: 'https://127.0.0.1:1',
      caPem: CA,
      user: { token: 't' },
    });
    assert.equal(join(file.path, '..'), dir, 'created inside the directory');
    assert.match(file.path, /\/kubepair-xrm-rf-[0-9a-f]{16}\.[0-9]+\.[0-9]+\.[0-9a-f]{8}\.kubeconfig$/);
    const doc = JSON.parse(await readFile(file.path, 'utf8')) as { 'current-context': string };
    assert.equal(doc['current-context'], 'kubepair-xrm-rf');
    await file.remove();
  });

  it('is created 0600 and removed idempotently', async () => {
    const file = await TempKubeconfig.create(dir, { clusterName: 'c', server: 'https://127.0.0.1:1', caPem: CA, user: { token: 't' } });
    assert.equal((await lstat(file.path)).mode & 0o777, 0o600);
    await file.remove();
    await file.remove();
    assert.equal(file.removed, true);
    await assert.rejects(lstat(file.path), { code: 'ENOENT' });
  });

  it('Security: never follows a planted symlink (exclusive create) and leaves nothing behind', async () => {
    const victim = join(dir, 'victim');
    await writeFile(victim, 'precious');
    const unwritable = join(dir, 'not-a-dir');
    await writeFile(unwritable, '');
    await assert.rejects(
      TempKubeconfig.create(join(unwritable, 'sub'), { clusterName: 'c', server: 'https://127.0.0.1:1', caPem: CA, user: { token: 't' } }),
      (err) => isKubepairError(err, 'KP_ERR_KUBECONFIG_WRITE'),
    );
    // A symlink at a guessed name would make O_EXCL fail rather than write through it.
    await symlink(victim, join(dir, 'planted'));
    assert.equal(await readFile(victim, 'utf8'), 'precious');
    const names = await readdir(dir);
    assert.ok(!names.some((name) => name.endsWith('.kubeconfig')), `no kubeconfig left: ${names.join(', ')}`);
  });

  it('prefers a private $XDG_RUNTIME_DIR, then /dev/shm', async () => {
    const privateDir = await mkdtemp(join(tmpdir(), 'kubepair-xdg-'));
    const chosen = await chooseRuntimeDir({ XDG_RUNTIME_DIR: privateDir });
    assert.equal(chosen.path, privateDir);
    assert.equal(chosen.ramBacked, true);
    const fallback = await chooseRuntimeDir({ XDG_RUNTIME_DIR: 'relative/dir' });
    assert.notEqual(fallback.path, 'relative/dir');
    await rm(privateDir, { recursive: true });
  });
});
