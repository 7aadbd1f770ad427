/**
 * End to end, proxy mode (issue 4): real relay, share and connect processes, the fixture API
 * server, and the real kubectl binary. Each test pairs a fresh `share --once`.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import type { KubectlOptions } from '../helpers/kubectl.js';
import { kubectlSandbox, runKubectl, startKubectl } from '../helpers/kubectl.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { waitUntil } from '../helpers/wait-until.js';

interface KubeconfigDoc {
  clusters: Array<{ cluster: Record<string, string> }>;
  users: Array<{ user: Record<string, string> }>;
}

describe('e2e: proxy mode with real kubectl', () => {
  let stack: E2EStack;
  let home: Awaited<ReturnType<typeof kubectlSandbox>>;
  before(async () => {
    stack = await startE2EStack();
    home = await kubectlSandbox('kubepair-e2e-home-');
  });
  after(async () => {
    await stack.close();
    await home.remove();
  });

  /** share --once + connect --no-shell; returns kubectl options for the tunnel. */
  async function pairNoShell(shareArgs: readonly string[] = []) {
    const share = await stack.startShare(['--once', ...shareArgs]);
    const connect = stack.startConnect(['--no-shell', share.code]);
    const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 20_000, 'stdout');
    const kubectl: KubectlOptions = { kubeconfig: exported[1]!, home: home.dir };
    return { share, connect, kubectl };
  }

  it('get, create, delete, watch, logs -f, exec -i and 20 parallel kubectls through the tunnel', async () => {
    const { share, connect, kubectl } = await pairNoShell(['--policy', 'open']);
    const version = await runKubectl(['version', '-o', 'json'], kubectl);
    assert.equal(version.code, 0, version.stderr);

    const created = await runKubectl(['create', '-f', '-'], {
      ...kubectl,
      stdin: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'e2e' }, data: { k: 'v' } }),
    });
    assert.equal(created.code, 0, created.stderr);
    const got = await runKubectl(['get', 'configmap', 'e2e', '-o', 'jsonpath={.data.k}'], kubectl);
    assert.equal(got.stdout, 'v', got.stderr);

    const watch = startKubectl(['get', 'configmaps', '--watch', '-o', 'name'], kubectl);
    await waitUntil(() => stack.api.openStreams().watches >= 1, 10_000, 'the watch to open');
    const second = await runKubectl(['create', 'configmap', 'watched', '--from-literal=a=b'], kubectl);
    assert.equal(second.code, 0, second.stderr);
    assert.ok((await watch.waitFor((lines) => lines.includes('configmap/watched'), 10_000)).includes('configmap/watched'));
    await watch.stop();

    const run = await runKubectl(['run', 'app', '--image=busybox', '--restart=Never'], kubectl);
    assert.equal(run.code, 0, run.stderr);
    const logs = startKubectl(['logs', '-f', 'app'], kubectl);
    const lines = await logs.waitFor((l) => l.length >= 3, 15_000);
    assert.ok(lines.length >= 3, 'log lines streamed');
    await logs.stop();

    const exec = await runKubectl(['exec', '-i', 'app', '--', 'cat'], { ...kubectl, stdin: 'through the relay\n' });
    assert.equal(exec.stdout, 'through the relay\n', exec.stderr);

    const parallel = await Promise.all(Array.from({ length: 20 }, () => runKubectl(['get', 'configmaps', '-o', 'name'], kubectl)));
    for (const [index, result] of parallel.entries()) {
      assert.equal(result.code, 0, `kubectl #${index}: ${result.stderr}`);
      assert.match(result.stdout, /configmap\/e2e/);
    }

    const deleted = await runKubectl(['delete', 'configmap', 'e2e'], kubectl);
    assert.equal(deleted.code, 0, deleted.stderr);

    // The share side logged and audited the requests it served.
    assert.match(share.process.stderr(), /list configmaps/);
    const kubeconfigPath = kubectl.kubeconfig;
    const stopped = await connect.stop('SIGTERM');
    assert.equal(stopped.code, 143, `128 + SIGTERM: ${connect.stderr()}`);
    await assert.rejects(stat(kubeconfigPath), { code: 'ENOENT' }, 'the kubeconfig is removed on SIGTERM');
    const shareExit = await share.process.exited;
    assert.equal(shareExit.code, 0, share.process.stderr());
  });

  it('Security: the kubeconfig is 0600 in the runtime dir, trusts a session CA, and never skips TLS verification', async () => {
    const { connect, kubectl } = await pairNoShell();
    const text = await readFile(kubectl.kubeconfig, 'utf8');
    assert.doesNotMatch(text, /insecure-skip-tls-verify/);
    assert.equal((await stat(kubectl.kubeconfig)).mode & 0o777, 0o600);
    assert.ok(kubectl.kubeconfig.startsWith(stack.runtimeDir), 'written to $XDG_RUNTIME_DIR');
    const doc = JSON.parse(text) as KubeconfigDoc;
    assert.match(doc.clusters[0]!.cluster['server']!, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(Buffer.from(doc.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString(), stack.api.caPem, 'not the cluster CA');

    // Another local user without the token gets a 401 and no stream.
    const server = new URL(doc.clusters[0]!.cluster['server']!);
    const ca = Buffer.from(doc.clusters[0]!.cluster['certificate-authority-data']!, 'base64').toString();
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: server.hostname, port: server.port, path: '/api/v1/secrets', ca, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 401);
    assert.equal(stack.api.requests().filter((r) => r.path === '/api/v1/secrets').length, 0, 'nothing reached the API server');
    await connect.stop('SIGTERM');
    assert.deepEqual(await stack.kubeconfigsLeft(), []);
  });

  it('connect -- CMD runs the command, exits with its status and removes the kubeconfig', async () => {
    const share = await stack.startShare(['--once']);
    const ok = stack.startConnect([share.code, '--', 'kubectl', 'get', 'namespaces', '-o', 'name'], { HOME: home.dir });
    const okExit = await ok.exited;
    assert.equal(okExit.code, 0, ok.stderr());
    assert.match(ok.stdout(), /namespace\/default/);
    const share2 = await stack.startShare(['--once']);
    const failing = stack.startConnect([share2.code, '--', 'kubectl', 'get', 'configmap', 'no-such-thing'], { HOME: home.dir });
    const failExit = await failing.exited;
    assert.equal(failExit.code, 1, 'kubectl\'s exit status is passed through');
    assert.match(failing.stderr(), /NotFound|not found/);
    assert.deepEqual(await stack.kubeconfigsLeft(), []);
  });

  it('a wrong code: clear error, non-zero exit, nothing written; the agent counts the attempt', async () => {
    const share = await stack.startShare(['--once']);
    const [nameplate, first, second] = share.code.split('-') as [string, string, string];
    const wrongSecret = String((Number(first + second) + 1) % 1e8).padStart(8, '0');
    const connect = stack.startConnect([`${nameplate}-${wrongSecret}`, '--', 'kubectl', 'version']);
    const exit = await connect.exited;
    assert.equal(exit.code, 255, "connect's own failure with -- CMD (docs/exit-codes.md)");
    assert.match(connect.stderr(), /pairing failed: wrong code or the relay tampered with the handshake/);
    assert.doesNotMatch(connect.stderr(), /\n\s+at /, 'no stack trace');
    assert.deepEqual(await stack.kubeconfigsLeft(), [], 'no kubeconfig was written');
    await share.process.waitFor(/pairing attempt 1 of 5 failed/, 10_000, 'stderr');
    await share.process.stop('SIGTERM');
  });

  it('a malformed code is refused before anything is contacted (exit 2)', async () => {
    const connect = stack.startConnect(['42-7315-02x6', '--', 'kubectl', 'version']);
    const exit = await connect.exited;
    assert.equal(exit.code, 255, "bad input with -- CMD is 255 too");
    assert.match(connect.stderr(), /unexpected 'x'/);
  });

  it('Security: five wrong codes make share discard the code and stop, saying someone may be guessing', async () => {
    const share = await stack.startShare([]);
    const [nameplate, first, second] = share.code.split('-') as [string, string, string];
    const real = Number(first + second);
    for (let attempt = 1; attempt <= 5; attempt++) {
      const wrong = String((real + attempt) % 1e8).padStart(8, '0');
      const connect = stack.startConnect([`${nameplate}-${wrong}`, '--', 'kubectl', 'version']);
      const exit = await connect.exited;
      assert.equal(exit.code, 255, `attempt ${attempt}: ${connect.stderr()}`);
      await share.process.waitFor(new RegExp(`pairing attempt ${attempt} of 5 failed`), 10_000, 'stderr');
    }
    const exit = await share.process.exited;
    assert.equal(exit.code, 1);
    assert.match(share.process.stderr(), /someone may be guessing the code/);
    // The right code no longer works: the session is gone.
    const late = stack.startConnect([share.code, '--', 'kubectl', 'version']);
    assert.equal((await late.exited).code, 255);
    assert.doesNotMatch(late.stderr(), /\n\s+at /);
  });

  for (const signal of ['SIGINT', 'SIGHUP'] as const) {
    it(`connect --no-shell removes its kubeconfig on ${signal}`, async () => {
      const { share, connect, kubectl } = await pairNoShell();
      await stat(kubectl.kubeconfig);
      const started = Date.now();
      const exit = await connect.stop(signal, 15_000);
      assert.notEqual(exit.signal, 'SIGKILL', `connect exited by itself (gave up after ${Date.now() - started} ms)`);
      await assert.rejects(stat(kubectl.kubeconfig), { code: 'ENOENT' });
      await share.process.exited;
    });
  }
});
