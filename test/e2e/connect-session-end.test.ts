/**
 * End to end (issue 11 §3, "The laptop is told ... and warned before it ends"): a real
 * `kubepair connect` paired with a scripted agent whose session ends 90 s after the agent
 * starts (30 s for pairing on a loaded machine: a warning whose time has already passed at
 * pairing is not given). The banner gives the end as local time and how far away it is, and
 * connect warns a minute before the maximum lifetime ends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { proxyDescription, startScriptedAgent } from '../helpers/scripted-agent.js';

const T = { timeout: 150_000 };

describe('e2e: connect tells when the session ends', () => {
  let stack: E2EStack;
  before(async () => {
    stack = await startE2EStack();
  });
  after(() => stack.close());

  it('the banner shows the end local and relative; a warning comes a minute before it', T, async () => {
    const agent = await startScriptedAgent({
      relay: { url: stack.relayUrl, token: stack.tokens.agent },
      description: proxyDescription({ expires_at: new Date(Date.now() + 90_000).toISOString() }),
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
});
