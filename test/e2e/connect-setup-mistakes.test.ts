/**
 * End to end (issue 11 §3, "Setup mistakes get the fix in the message"): real `kubepair
 * connect` processes on a real relay. A command after the code without `--` is refused saying
 * to use `--`; a `-- CMD` that is not on PATH is refused before pairing (exit 127), and the code
 * still works afterwards; an agent that never answers gets progress lines while connect waits,
 * and a final message that says what to check; a code the relay does not know ends connect at
 * once, its control socket (opened while pairing) closed.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { proxyDescription, startScriptedAgent } from '../helpers/scripted-agent.js';
import { waitUntilAsync } from '../helpers/wait-until.js';

const T = { timeout: 90_000 };

describe('e2e: connect setup mistakes say what to fix', () => {
  let stack: E2EStack;
  before(async () => {
    stack = await startE2EStack();
  });
  after(() => stack.close());

  it('a command after the code without "--": exit 2, the message shows the line with "--"', T, async () => {
    const connect = stack.startConnect(['42-7315-0286', 'kubectl', 'get', 'pods']);
    try {
      assert.equal((await connect.exited).code, 2, connect.stderr());
      assert.match(connect.stderr(), /a command after the code needs "--" before it: kubepair connect 42-7315-0286 -- kubectl get pods/);
    } finally {
      await connect.stop('SIGKILL');
    }
  });

  it('a "-- CMD" that is not on PATH: exit 127 before pairing, and the code still pairs afterwards', T, async () => {
    const sockets = async (): Promise<number> => (await stack.relayAuditEvents()).filter((event) => event === 'socket_connected').length;
    const socketsBefore = await sockets();
    const share = await stack.startShare(['--once']);
    // share prints its code as it opens its socket: the relay's record of that socket may come
    // after the code, so the baseline waits for it (else the comparison below races it).
    await waitUntilAsync(async () => (await sockets()) > socketsBefore, 30_000, 'the relay to record the share\'s socket');
    const events = await stack.relayAuditEvents();
    const typo = stack.startConnect([share.code, '--', 'kubectl-no-such-command', 'get', 'pods']);
    try {
      assert.equal((await typo.exited).code, 127, typo.stderr());
      assert.match(typo.stderr(), /"kubectl-no-such-command" is not on PATH; nothing was paired, the code is still valid/);
      assert.deepEqual(await stack.relayAuditEvents(), events, 'the relay saw nothing of the refused connect');
      const good = stack.startConnect([share.code, '--', 'sh', '-c', 'exit 0']);
      try {
        assert.equal((await good.exited).code, 0, good.stderr());
      } finally {
        await good.stop('SIGKILL');
      }
    } finally {
      await typo.stop('SIGKILL');
      await share.process.stop('SIGTERM');
    }
  });

  it('a code the relay does not know: connect exits 1 at once and leaves no control socket (it listens while pairing, and is closed when pairing fails)', T, async () => {
    const connect = stack.startConnect(['--no-shell', '999999-7315-0286']);
    try {
      assert.equal((await connect.exitedWithin(30_000)).code, 1, connect.stderr());
      assert.match(connect.stderr(), /999999-\.\.\. expired, was used already, or was mistyped/);
      const sockets = await readdir(stack.runtimeDir, { recursive: true });
      assert.deepEqual(
        sockets.filter((name) => /connect-\d+\.sock$/.test(name)),
        [],
      );
    } finally {
      await connect.stop('SIGKILL');
    }
  });

  it('an agent that never answers: progress while waiting, then a message that says what to check', T, async () => {
    const silent = await startScriptedAgent({ relay: { url: stack.relayUrl, token: stack.tokens.agent }, description: proxyDescription(), gate: new Promise<void>(() => undefined) });
    const connect = stack.startConnect(['--no-shell', silent.code]);
    try {
      await connect.waitFor(/waiting for the sharer's kubepair to answer/, 30_000, 'stderr');
      await connect.waitFor(/still waiting for the sharer's kubepair \(\d+ s\)/, 30_000, 'stderr');
      assert.equal((await connect.exited).code, 1, connect.stderr());
      assert.match(connect.stderr(), /did not answer: check that "kubepair share" still runs and shows this code/);
    } finally {
      await connect.stop('SIGKILL');
      await silent.close();
    }
  });
});
