/**
 * End to end (issue 11 §3, "Exit codes that scripts can use"; docs/exit-codes.md): real
 * `kubepair share` and `kubepair connect` processes on a real relay, ended by real signals or
 * failing for real. share stopped by a signal exits 128 + its number (130, 129, 143); connect
 * with `-- CMD` passes the command's status through and exits 255 for a failure of its own —
 * a pairing that fails, a malformed code, an unknown option — so a script can tell them apart.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { proxyDescription, startScriptedAgent } from '../helpers/scripted-agent.js';

const T = { timeout: 60_000 };

/** The same nameplate with another secret: the relay pairs them, the PAKE fails. */
function wrongSecret(code: string): string {
  const [nameplate, first, second] = code.split('-') as [string, string, string];
  const last = second.slice(0, -1) + String((Number(second.slice(-1)) + 1) % 10);
  return `${nameplate}-${first}-${last}`;
}

describe('e2e: exit codes scripts can use', () => {
  let stack: E2EStack;
  before(async () => {
    stack = await startE2EStack();
  });
  after(() => stack.close());

  for (const [signal, code] of [['SIGINT', 130], ['SIGHUP', 129], ['SIGTERM', 143]] as const) {
    it(`share stopped by ${signal} while offering a code exits ${code}`, T, async () => {
      const share = await stack.startShare();
      try {
        share.process.child.kill(signal);
        const exit = await share.process.exited;
        assert.equal(exit.code, code, share.process.stderr());
        assert.doesNotMatch(share.process.stderr(), /\n\s+at /, 'no stack trace');
      } finally {
        await share.process.stop('SIGKILL');
      }
    });
  }

  it('connect -- CMD passes the command\'s own status through (3)', T, async () => {
    const agent = await startScriptedAgent({ relay: { url: stack.relayUrl, token: stack.tokens.agent }, description: proxyDescription() });
    const connect = stack.startConnect([agent.code, '--', 'sh', '-c', 'exit 3']);
    try {
      assert.equal((await connect.exited).code, 3, connect.stderr());
    } finally {
      await connect.stop('SIGKILL');
      await agent.close();
    }
  });

  it('connect -- CMD exits 255 when pairing fails, and the command does not run', T, async () => {
    const agent = await startScriptedAgent({ relay: { url: stack.relayUrl, token: stack.tokens.agent }, description: proxyDescription() });
    const marker = join(stack.dir, 'ran-after-failed-pairing');
    const connect = stack.startConnect([wrongSecret(agent.code), '--', 'sh', '-c', 'touch "$0"', marker]);
    try {
      const exit = await connect.exited;
      assert.equal(exit.code, 255, connect.stderr());
      assert.match(connect.stderr(), /^kubepair: /m);
      assert.ok(!existsSync(marker), 'the command did not run');
    } finally {
      await connect.stop('SIGKILL');
      await agent.close();
    }
  });

  it('the same failed pairing without a command exits 1', T, async () => {
    const agent = await startScriptedAgent({ relay: { url: stack.relayUrl, token: stack.tokens.agent }, description: proxyDescription() });
    const connect = stack.startConnect(['--no-shell', wrongSecret(agent.code)]);
    try {
      assert.equal((await connect.exited).code, 1, connect.stderr());
    } finally {
      await connect.stop('SIGKILL');
      await agent.close();
    }
  });

  for (const [what, args, plain] of [
    ['a malformed code', ['not-a-code'], 2],
    ['an unknown option', ['--no-such-option', '42-7315-0286'], 2],
  ] as const) {
    it(`connect -- CMD exits 255 for ${what} (${plain} without a command)`, T, async () => {
      const withCommand = stack.startConnect([...args, '--', 'true']);
      const without = stack.startConnect([...args, '--no-shell']);
      try {
        assert.equal((await withCommand.exited).code, 255, withCommand.stderr());
        assert.equal((await without.exited).code, plain, without.stderr());
      } finally {
        await withCommand.stop('SIGKILL');
        await without.stop('SIGKILL');
      }
    });
  }
});
