/**
 * Loading the agent's cluster (docs/design.md §6, §7): exec credential plugins run with an argument
 * array and an environment stripped of secret-looking variables; insecure and unsupported
 * kubeconfigs are refused with clear errors.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadUpstreamCluster } from '../../../src/agent/upstream-cluster.js';
import { isKubepairError } from '../../../src/errors/index.js';

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = { server: 'https://kubernetes.example:6443' }): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u', namespace: 'team-a' } }],
    'current-context': 'ctx',
  });
}

describe('upstream cluster loading', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-upstream-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function write(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text, { mode: 0o600 });
    return path;
  }

  it('Security: an exec plugin sees no secret-looking variables unless passed on purpose, and its token is used', async () => {
    const envDump = join(dir, 'env.json');
    const plugin = await write(
      'plugin.mjs',
      `import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(envDump)}, JSON.stringify(process.env));
console.log(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'from-plugin', expirationTimestamp: new Date(Date.now() + 3600e3).toISOString() } }));`,
    );
    await chmod(plugin, 0o700);
    const path = await write(
      'exec.kubeconfig',
      kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin], env: [{ name: 'FROM_KUBECONFIG', value: 'yes' }] } }),
    );
    process.env['KUBEPAIR_TEST_SECRET'] = 'must-not-leak';
    process.env['AWS_SESSION_TOKEN'] = 'passed-on-purpose';
    try {
      const upstream = await loadUpstreamCluster({ kubeconfig: path, passEnv: ['AWS_SESSION_TOKEN'] });
      const auth = await upstream.auth();
      assert.equal(auth.headers['Authorization'], 'Bearer from-plugin');
      const seen = JSON.parse(await readFile(envDump, 'utf8')) as Record<string, string>;
      assert.equal(seen['KUBEPAIR_TEST_SECRET'], undefined, 'secret-looking variable withheld');
      assert.equal(seen['AWS_SESSION_TOKEN'], 'passed-on-purpose', '--pass-env keeps a named variable');
      assert.equal(seen['FROM_KUBECONFIG'], 'yes', 'the kubeconfig env entries are given');
      assert.match(seen['KUBERNETES_EXEC_INFO'] ?? '', /"interactive":false/);
      assert.equal(upstream.namespace, 'team-a');
      assert.equal(upstream.serverName, 'kubernetes.example');
      assert.equal(upstream.port, 6443);
    } finally {
      delete process.env['KUBEPAIR_TEST_SECRET'];
      delete process.env['AWS_SESSION_TOKEN'];
    }
  });

  it('a failing plugin gives KP_ERR_EXEC_CREDENTIAL with its first stderr line', async () => {
    const path = await write(
      'failing.kubeconfig',
      kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: ['-e', 'console.error("login expired"); process.exit(3)'] } }),
    );
    const upstream = await loadUpstreamCluster({ kubeconfig: path });
    await assert.rejects(upstream.auth(), (err) => isKubepairError(err, 'KP_ERR_EXEC_CREDENTIAL') && /exited with 3: login expired/.test(err.message));
  });

  const refused: Array<[string, () => string, string]> = [
    ['insecure-skip-tls-verify', () => kubeconfig({ token: 't' }, { server: 'https://k:6443', 'insecure-skip-tls-verify': true }), 'KP_ERR_KUBECONFIG_INSECURE'],
    ['a plain-http server', () => kubeconfig({ token: 't' }, { server: 'http://k:8080' }), 'KP_ERR_KUBECONFIG_UNSUPPORTED'],
    ['the removed gcp auth-provider', () => kubeconfig({ 'auth-provider': { name: 'gcp', config: {} } }), 'KP_ERR_KUBECONFIG_UNSUPPORTED'],
  ];
  for (const [name, text, code] of refused) {
    it(`Security: refuses ${name} with ${code}`, async () => {
      const path = await write(`${code}.kubeconfig`, text());
      await assert.rejects(loadUpstreamCluster({ kubeconfig: path }), (err) => isKubepairError(err, code as 'KP_ERR_KUBECONFIG_INSECURE'));
    });
  }

  it('an unknown context lists the known ones; a missing file is KP_ERR_KUBECONFIG_LOAD (exit 2)', async () => {
    const path = await write('ok.kubeconfig', kubeconfig({ token: 't' }));
    await assert.rejects(loadUpstreamCluster({ kubeconfig: path, context: 'prod' }), (err) => isKubepairError(err, 'KP_ERR_KUBECONFIG_LOAD') && /contexts: ctx/.test(err.message) && err.exitCode === 2);
    await assert.rejects(loadUpstreamCluster({ kubeconfig: join(dir, 'missing') }), (err) => isKubepairError(err, 'KP_ERR_KUBECONFIG_LOAD'));
  });

  it('with no kubeconfig anywhere the error says where one can come from (exit 2)', async () => {
    const saved = { KUBECONFIG: process.env['KUBECONFIG'], HOME: process.env['HOME'], KUBERNETES_SERVICE_HOST: process.env['KUBERNETES_SERVICE_HOST'] };
    delete process.env['KUBECONFIG'];
    delete process.env['KUBERNETES_SERVICE_HOST'];
    process.env['HOME'] = dir; // no .kube/config here
    try {
      await assert.rejects(
        loadUpstreamCluster({}),
        (err) => isKubepairError(err, 'KP_ERR_KUBECONFIG_LOAD') && err.exitCode === 2 && /no kubeconfig found: pass --kubeconfig FILE, set \$KUBECONFIG/.test(err.message),
      );
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
