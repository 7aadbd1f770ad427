/**
 * End to end (issue 4): the relay dying mid-session, and a hostile cluster name. Real relay,
 * share and connect processes; each test has its own stack because the first kills its relay.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { describe, it } from 'node:test';
import { kubectlSandbox, runKubectl } from '../helpers/kubectl.js';
import { startE2EStack } from '../helpers/e2e-stack.js';

describe('e2e: failures and hostile input', () => {
  it('with --resume-window 0, the relay killed mid-session: connect exits with a clear message and the kubeconfig is gone; share ends the session and waits for the relay to offer a new code', async () => {
    const stack = await startE2EStack();
    const home = await kubectlSandbox('kubepair-e2e-home-');
    try {
      const share = await stack.startShare(['--resume-window', '0']);
      const connect = stack.startConnect(['--no-shell', share.code]);
      const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 20_000, 'stdout');
      const ok = await runKubectl(['get', 'namespaces', '-o', 'name'], { kubeconfig: exported[1]!, home: home.dir });
      assert.equal(ok.code, 0, ok.stderr);

      await stack.relay.stop('SIGKILL');
      const connectExit = await connect.exited;
      assert.equal(connectExit.code, 1, connect.stderr());
      assert.match(connect.stderr(), /kubepair: the session ended: the relay went away; the kubeconfig is removed\n/);
      assert.doesNotMatch(connect.stderr(), /\n\s+at /, 'no stack trace');
      assert.deepEqual(await stack.kubeconfigsLeft(), [], 'kubeconfig removed');

      // share's session ended; it does not exit for a relay that is away (docs/design.md §8.1): it waits to offer a new code.
      await share.process.waitFor(/the client disconnected/, 20_000, 'stderr');
      await share.process.waitFor(/kubepair share: cannot reach the relay \(.*\); retrying until it answers/, 20_000, 'stderr');
      assert.equal(share.process.child.exitCode, null, 'share is still running');
      const shareExit = await share.process.stop('SIGTERM');
      assert.equal(shareExit.code, 143, share.process.stderr());
      assert.doesNotMatch(share.process.stderr(), /\n\s+at /, 'no stack trace');
    } finally {
      await stack.close();
      await home.remove();
    }
  });

  it('Security: a malicious cluster name is sanitized in the banner, the kubeconfig name and its contexts', async () => {
    const hostile = '../../x; rm -rf ~';
    const stack = await startE2EStack({ contextName: hostile });
    const home = await kubectlSandbox('kubepair-e2e-home-');
    try {
      const share = await stack.startShare(['--once']);
      const connect = stack.startConnect(['--no-shell', share.code]);
      const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 20_000, 'stdout');
      const path = exported[1]!;
      assert.match(basename(path), /^kubepair-xrm-rf-[0-9a-f]{16}\.[0-9]+\.[0-9]+\.[0-9a-f]{8}\.kubeconfig$/);
      assert.ok(path.startsWith(stack.runtimeDir + '/'), 'inside the runtime directory');
      assert.match(connect.stderr(), /paired with cluster "xrm-rf"/);
      assert.doesNotMatch(connect.stderr(), /rm -rf/);
      const text = await readFile(path, 'utf8');
      assert.doesNotMatch(text, /rm -rf|\.\.\//);
      const context = await runKubectl(['config', 'current-context'], { kubeconfig: path, home: home.dir });
      assert.equal(context.stdout.trim(), 'kubepair-xrm-rf');
      await connect.stop('SIGTERM');
      assert.deepEqual(await stack.kubeconfigsLeft(), []);
    } finally {
      await stack.close();
      await home.remove();
    }
  });
});
