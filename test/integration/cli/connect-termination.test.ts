/**
 * connect's last line of defence (src/cli/connect-termination.ts): a bug that escapes every
 * handler still ends with one line, exit code 1 and no kubeconfig left behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { signalExitCode, TERMINATING_SIGNALS } from '../../../src/cli/connect-termination.js';
import { repoPath } from '../../helpers/paths.js';

function runChild(dir: string, how: 'throw' | 'reject'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [repoPath('build/test/helpers/termination-child.js'), dir, how], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('connect termination', () => {
  for (const how of ['throw', 'reject'] as const) {
    it(`Security: an uncaught ${how === 'throw' ? 'exception' : 'rejection'} removes the kubeconfig and says so in one line, exit 1`, { timeout: 30_000 }, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'kubepair-crash-'));
      try {
        const result = await runChild(dir, how);
        assert.equal(result.code, 1, result.stderr);
        const path = result.stdout.trim();
        assert.ok(path.startsWith(dir), `the child wrote a kubeconfig: ${result.stdout}`);
        assert.ok(!existsSync(path), 'the kubeconfig is removed');
        assert.deepEqual(await readdir(dir), []);
        assert.equal(result.stderr, 'kubepair: internal error (this is a kubepair bug; please report it)\n', 'one line, no stack trace');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  it('the exit code of a signal is 128 + its number, and the list is what docs/usage.md names', () => {
    assert.equal(signalExitCode('SIGINT'), 130);
    assert.equal(signalExitCode('SIGTERM'), 143);
    assert.equal(signalExitCode('SIGHUP'), 129);
    assert.equal(signalExitCode('SIGQUIT'), 131);
    for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2']) assert.ok(TERMINATING_SIGNALS.includes(name as NodeJS.Signals), name);
    for (const name of ['SIGPIPE', 'SIGPROF', 'SIGKILL', 'SIGSTOP', 'SIGCHLD', 'SIGWINCH']) assert.ok(!TERMINATING_SIGNALS.includes(name as NodeJS.Signals), name);
  });
});
