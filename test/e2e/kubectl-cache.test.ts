/**
 * End to end (issue 11 §3, "every session leaves a ~/.kube/cache/discovery/127.0.0.1_PORT
 * directory behind"): connect's command gets KUBECACHEDIR in the session's runtime directory,
 * so kubectl's cache is not written under ~/.kube, and the directory is removed when the
 * command ends. `--no-shell` prints `export KUBECACHEDIR=...` next to `export KUBECONFIG=...`:
 * the real kubectl run with both writes its discovery cache there, not under $HOME, and the
 * directory is gone once connect has ended.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { kubectlSandbox, runKubectl } from '../helpers/kubectl.js';
import { proxyDescription, startScriptedAgent } from '../helpers/scripted-agent.js';

describe('e2e: kubectl\'s cache stays in the session', () => {
  let stack: E2EStack;
  before(async () => {
    stack = await startE2EStack();
  });
  after(() => stack.close());

  it('-- CMD gets KUBECACHEDIR next to the kubeconfig; it is gone after the command', { timeout: 60_000 }, async () => {
    const agent = await startScriptedAgent({ relay: { url: stack.relayUrl, token: stack.tokens.agent }, description: proxyDescription() });
    const record = join(stack.dir, 'cache-dir-seen');
    // What kubectl would do: write its discovery cache under $KUBECACHEDIR.
    const script = 'mkdir -p "$KUBECACHEDIR/discovery/127.0.0.1_1" && echo "$KUBECACHEDIR" > "$0"';
    const connect = stack.startConnect([agent.code, '--', 'sh', '-c', script, record]);
    try {
      assert.equal((await connect.exited).code, 0, connect.stderr());
      const cacheDir = (await readFile(record, 'utf8')).trim();
      assert.ok(cacheDir.startsWith(stack.runtimeDir), `${cacheDir} is in the runtime directory`);
      assert.ok(!existsSync(cacheDir), 'the cache directory was removed');
    } finally {
      await connect.stop('SIGKILL');
      await agent.close();
    }
  });

  it('--no-shell prints KUBECACHEDIR too; kubectl run with the printed environment leaves nothing under HOME, and the directory goes with connect', { timeout: 90_000 }, async () => {
    const home = await kubectlSandbox('kubepair-e2e-cache-home-');
    const share = await stack.startShare(['--once']);
    const connect = stack.startConnect(['--no-shell', share.code]);
    try {
      const kubeconfig = (await connect.waitFor(/^export KUBECONFIG=(\S+)$/m, 30_000, 'stdout'))[1]!;
      const cacheDir = (await connect.waitFor(/^export KUBECACHEDIR=(\S+)$/m, 30_000, 'stdout'))[1]!;
      assert.ok(cacheDir.startsWith(stack.runtimeDir), `${cacheDir} is in the runtime directory`);
      const got = await runKubectl(['get', 'namespaces'], { kubeconfig, home: home.dir, env: { KUBECACHEDIR: cacheDir } });
      assert.equal(got.code, 0, got.stderr);
      assert.ok((await readdir(join(cacheDir, 'discovery'))).some((name) => name.startsWith('127.0.0.1_')), 'kubectl cached discovery in KUBECACHEDIR');
      assert.ok(!existsSync(join(home.dir, '.kube', 'cache')), 'nothing in HOME/.kube/cache');
      assert.equal((await connect.stop('SIGINT', 20_000)).code, 130, connect.stderr());
      assert.ok(!existsSync(cacheDir), 'the cache directory was removed when connect ended');
    } finally {
      await connect.stop('SIGKILL');
      await share.process.stop('SIGTERM');
      await home.remove();
    }
  });
});
