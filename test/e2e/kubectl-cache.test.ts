/**
 * End to end (issue 11 §3, "every session leaves a ~/.kube/cache/discovery/127.0.0.1_PORT
 * directory behind"): connect's command gets KUBECACHEDIR in the session's runtime directory,
 * so kubectl's cache is not written under ~/.kube, and the directory is removed when the
 * command ends.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
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
});
