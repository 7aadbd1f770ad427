/**
 * startE2EStack (test/helpers/e2e-stack.ts) is all or nothing: a start that fails after the relay
 * is running stops the relay before it throws. The failure replayed here is the one that hung
 * `npm test` in test/e2e/forward.test.ts on a loaded machine: the relay took longer than the wait
 * for its "listening" line, startE2EStack threw, the test's `after` hook had no stack to close,
 * and the relay kept the test file's process alive for good.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startE2EStack } from '../../helpers/e2e-stack.js';
import { runningProcesses } from '../../helpers/managed-process.js';

describe('e2e stack: a failed start leaves nothing running', () => {
  it('a relay that does not listen in time is stopped, by pid, before the error (which says what it waited for) is thrown', async () => {
    const before = new Set(runningProcesses().map(({ pid }) => pid));
    // 1 ms: no relay prints its listening line that fast, so the start fails with the relay running.
    await assert.rejects(startE2EStack({ relayReadyTimeoutMs: 1 }), (err: Error) => {
      assert.match(err.message, /^the e2e stack did not start: timed out after 1 ms waiting for \/kubepair relay listening on .*\/ from \S+ \S+main\.js relay --listen 127\.0\.0\.1:0/);
      return true;
    });
    const left = runningProcesses().filter(({ pid }) => !before.has(pid));
    assert.deepEqual(left, [], 'every process the failed start had started was stopped');
  });
});
