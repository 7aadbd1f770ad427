/**
 * End to end (issue 11 §3, "The laptop is told why its session ended ... and warned before it
 * ends"): a real `kubepair connect` paired with a scripted agent whose session ends 65 s after
 * pairing — the banner gives the end as local time and how far away it is, and connect warns a
 * minute before the maximum lifetime ends — and with real `kubepair share` processes, where
 * connect prints one line saying why the session ended: the sharer stopped sharing (the agent's
 * `bye`, end to end), the sharer's side vanished, the relay went away (each beyond a 3 s resume
 * window).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { proxyDescription, startScriptedAgent } from '../helpers/scripted-agent.js';

const T = { timeout: 90_000 };

describe('e2e: connect tells when the session ends', () => {
  let stack: E2EStack;
  before(async () => {
    stack = await startE2EStack();
  });
  after(() => stack.close());

  it('the banner shows the end local and relative; a warning comes a minute before it', T, async () => {
    const agent = await startScriptedAgent({
      relay: { url: stack.relayUrl, token: stack.tokens.agent },
      description: proxyDescription({ expires_at: new Date(Date.now() + 65_000).toISOString() }),
    });
    const connect = stack.startConnect(['--no-shell', agent.code]);
    try {
      await connect.waitFor(/ {2}expires: (\d{4}-\d\d-\d\d )?\d\d:\d\d \(in (1 min|\d+ s)\)/, 30_000, 'stderr');
      await connect.waitFor(/the session reaches its maximum lifetime and ends at (\d{4}-\d\d-\d\d )?\d\d:\d\d \(in (1 min|\d+ s)\)/, 60_000, 'stderr');
      assert.doesNotMatch(connect.stderr(), /expires: \d{4}-\d\d-\d\dT/, 'not the raw ISO time');
    } finally {
      await connect.stop('SIGKILL');
      await agent.close();
    }
  });

  it('paired with less than a minute left, the last warning comes at once, not never', T, async () => {
    const agent = await startScriptedAgent({
      relay: { url: stack.relayUrl, token: stack.tokens.agent },
      description: proxyDescription({ expires_at: new Date(Date.now() + 45_000).toISOString() }),
    });
    const connect = stack.startConnect(['--no-shell', agent.code]);
    try {
      await connect.waitFor(/ {2}expires: /, 30_000, 'stderr');
      await connect.waitFor(/the session reaches its maximum lifetime and ends at (\d{4}-\d\d-\d\d )?\d\d:\d\d \(in \d+ s\)/, 10_000, 'stderr');
    } finally {
      await connect.stop('SIGKILL');
      await agent.close();
    }
  });
});

describe('e2e: connect says why the session ended', () => {
  let stack: E2EStack;
  before(async () => {
    stack = await startE2EStack();
  });
  after(() => stack.close());

  it('the sharer stops share with Ctrl-C: connect says the sharer stopped sharing (the agent\'s bye, end to end) and exits 1', T, async () => {
    const share = await stack.startShare();
    const connect = stack.startConnect(['--no-shell', share.code]);
    try {
      await connect.waitFor(/^export KUBECONFIG=/m, 30_000, 'stdout');
      assert.equal((await share.process.stop('SIGINT', 20_000)).code, 130, share.process.stderr());
      assert.equal((await connect.exitedWithin(20_000)).code, 1, connect.stderr());
      assert.match(connect.stderr(), /kubepair: the session ended: the sharer stopped sharing; the kubeconfig is removed\n/);
      assert.deepEqual(await stack.kubeconfigsLeft(), []);
    } finally {
      await connect.stop('SIGKILL');
      await share.process.stop('SIGKILL');
    }
  });

  it('with -- CMD, the sharer stopping ends the command: the same line, and 255 (connect\'s own failure)', T, async () => {
    const share = await stack.startShare();
    const connect = stack.startConnect([share.code, '--', 'sleep', '60']);
    try {
      await connect.waitFor(/kubeconfig: /, 30_000, 'stderr');
      assert.equal((await share.process.stop('SIGTERM', 20_000)).code, 143, share.process.stderr());
      assert.equal((await connect.exitedWithin(20_000)).code, 255, connect.stderr());
      assert.match(connect.stderr(), /kubepair: the session ended: the sharer stopped sharing; the kubeconfig is removed\n/);
    } finally {
      await connect.stop('SIGKILL');
      await share.process.stop('SIGKILL');
    }
  });

  it('the sharer\'s side vanishes (share killed) and does not come back within a 3 s resume window: connect says so and exits 1', T, async () => {
    const share = await stack.startShare(['--resume-window', '3s']);
    const connect = stack.startConnect(['--no-shell', share.code]);
    try {
      await connect.waitFor(/^export KUBECONFIG=/m, 30_000, 'stdout');
      await share.process.stop('SIGKILL');
      assert.equal((await connect.exitedWithin(30_000)).code, 1, connect.stderr());
      assert.match(connect.stderr(), /kubepair: the session ended: the sharer's side went away and did not come back within the resume window \(3 s\); the kubeconfig is removed\n/);
      assert.doesNotMatch(connect.stderr(), /the sharer stopped sharing/);
    } finally {
      await connect.stop('SIGKILL');
    }
  });
});

describe('e2e: connect says the relay went away', () => {
  it('the relay is stopped and not started again within a 3 s resume window: connect says the relay went away and exits 1', T, async () => {
    const stack = await startE2EStack();
    try {
      const share = await stack.startShare(['--resume-window', '3s']);
      const connect = stack.startConnect(['--no-shell', share.code]);
      await connect.waitFor(/^export KUBECONFIG=/m, 30_000, 'stdout');
      await stack.relay.stop('SIGTERM', 30_000);
      assert.equal((await connect.exitedWithin(60_000)).code, 1, connect.stderr());
      assert.match(connect.stderr(), /kubepair: the session ended: the relay went away and did not come back within the resume window \(3 s\); the kubeconfig is removed\n/);
      assert.deepEqual(await stack.kubeconfigsLeft(), []);
    } finally {
      await stack.close();
    }
  });
});
