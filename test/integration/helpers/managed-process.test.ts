/**
 * The test harness's own promise (CONVENTIONS: every wait bounded, every process a test starts
 * stopped by its id): processes started with test/helpers/managed-process.ts can neither hang a
 * wait nor outlive the test file that started them. The last two tests replay the hang of
 * `npm test` in test/e2e/forward.test.ts: a `before` hook that failed after starting the relay
 * left it running, and the test file's process (and with it `npm test`) waited for good.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ManagedProcess } from '../../helpers/managed-process.js';
import { runningProcesses, startProcess } from '../../helpers/managed-process.js';
import { npmTestNodeOptions, runNodeTest } from '../../helpers/npm-test-command.js';
import { repoPath } from '../../helpers/paths.js';
import { waitUntil, within } from '../../helpers/wait-until.js';

/** Bound for anything here that should settle at once, in ms (generous: the machine may be loaded). */
const SETTLES_MS = 20_000;
/** Bound for a whole `node --test` run of one small fixture file, in ms. */
const RUN_MS = 60_000;
/** A process that runs until it is killed (stands in for the relay). */
const FOREVER = ['-e', 'setInterval(() => {}, 1000)'];

/**
 * Whether `pid` is a live process (a zombie waiting to be reaped is not: it has exited). A process
 * sent SIGKILL dies when the kernel next schedules it, so callers wait for this to turn false
 * (bounded) rather than read it once (Node 22 CI: read 45 ms after the kill, still running).
 */
function isRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

describe('managed processes: every wait bounded, nothing outlives its test file', () => {
  const started: ManagedProcess[] = [];
  const pidsToKill: number[] = [];
  after(async () => {
    await Promise.allSettled(started.map((p) => p.stop('SIGKILL', 1000)));
    // Only if a test failed: whatever a fixture left running, by pid.
    for (const pid of pidsToKill) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  });

  it('a program that cannot be started settles at once: waitFor rejects naming it, exited and stop resolve', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'kubepair-no-programs-'));
    after(() => rm(empty, { recursive: true, force: true }));
    const missing = startProcess('kubepair-test-no-such-program', ['--port', '1'], { PATH: empty });
    started.push(missing);
    await within(
      SETTLES_MS,
      'waitFor on a program that could not be started to reject',
      assert.rejects(missing.waitFor(/Ready/, 10 * 60_000), /^Error: kubepair-test-no-such-program --port 1 could not be started \(spawn kubepair-test-no-such-program ENOENT\) before \/Ready\/ appeared/),
    );
    assert.deepEqual(await within(SETTLES_MS, 'exited of a program that could not be started', missing.exited), { code: null, signal: null });
    assert.deepEqual(await within(SETTLES_MS, 'stop of a program that could not be started', missing.stop('SIGTERM')), { code: null, signal: null });
    assert.equal(missing.startError()?.code, 'ENOENT');
    assert.match(missing.stderr(), /could not start kubepair-test-no-such-program: spawn kubepair-test-no-such-program ENOENT/);
  });

  it('exitedWithin on a process that does not end rejects naming it and the wait, and kills it by pid', async () => {
    const forever = startProcess(process.execPath, FOREVER, {});
    started.push(forever);
    await assert.rejects(forever.exitedWithin(500), (err: Error) => {
      assert.match(err.message, new RegExp(`^timed out after 500 ms waiting for .* -e setInterval\\(\\(\\) => \\{\\}, 1000\\) \\(pid ${forever.child.pid}\\) to exit \\(killed it with SIGKILL\\)`));
      return true;
    });
    assert.equal((await within(SETTLES_MS, 'the killed process to exit', forever.exited)).signal, 'SIGKILL');
    assert.ok(!runningProcesses().some(({ pid }) => pid === forever.child.pid), 'no longer listed as running');
  });

  it('stop escalates to SIGKILL when the process ignores SIGTERM', async () => {
    const stubborn = startProcess(process.execPath, ['-e', "process.on('SIGTERM', () => {}); console.log('ignoring SIGTERM'); setInterval(() => {}, 1000)"], {});
    started.push(stubborn);
    await stubborn.waitFor(/ignoring SIGTERM/, SETTLES_MS, 'stdout');
    assert.deepEqual(await stubborn.stop('SIGTERM', 500), { code: null, signal: 'SIGKILL' });
  });

  it('the hang of npm test, replayed: a test file whose before hook fails after starting a process ends by itself, and the process is killed', async () => {
    const options = npmTestNodeOptions();
    assert.ok(options.includes(repoPath('build/test/helpers/exit-guard.js')), `npm test loads the exit guard into every test file's process with --import (options: ${options.join(' ')})`);
    assert.ok(options.some((option) => option.startsWith('--test-timeout=')), `npm test runs node --test with a --test-timeout (options: ${options.join(' ')})`);
    const dir = await mkdtemp(join(tmpdir(), 'kubepair-leak-'));
    after(() => rm(dir, { recursive: true, force: true }));
    const pidFile = join(dir, 'pids');
    const run = await runNodeTest(options, [repoPath('build/test/fixtures/leaky-test-files/failed-before.js')], { ...process.env, KUBEPAIR_LEAK_PID_FILE: pidFile }, RUN_MS);
    const pids = await readFile(pidFile, 'utf8').catch(() => assert.fail(`the fixture did not start its process:\n${run.output}`));
    const [filePid, leakedPid] = pids.split(' ').map(Number) as [number, number];
    pidsToKill.push(filePid, leakedPid);
    assert.equal(run.signal, null, `the run of a test file that leaked a process did not end by itself within ${RUN_MS} ms (the hang):\n${run.output}`);
    assert.equal(run.code, 1, run.output);
    assert.match(run.output, /the relay did not print its listening line in time/, 'the real failure is reported');
    assert.match(run.output, new RegExp(`exit-guard: this test file's process was still alive .*\\n  process .* -e setInterval\\(\\(\\) => \\{\\}, 1000\\) \\(pid ${leakedPid}\\)`), 'the guard names the process');
    assert.match(run.output, new RegExp(`managed-process: .* -e setInterval\\(\\(\\) => \\{\\}, 1000\\) \\(pid ${leakedPid}\\) was still running when the process that started it ended \\(nothing stopped it\\); killed with SIGKILL`));
    await waitUntil(() => !isRunning(leakedPid), SETTLES_MS, `the leaked process ${leakedPid} to be killed`);
  });

  it('SIGTERM to a test file (what node --test --test-timeout sends) kills the processes it started, by pid', async () => {
    const file = startProcess(process.execPath, [repoPath('build/test/fixtures/leaky-test-files/terminated.js')], {});
    started.push(file);
    const [, filePid, childPid] = (await file.waitFor(/^(\d+) (\d+)$/m, SETTLES_MS, 'stdout')).map(Number) as [number, number, number];
    pidsToKill.push(childPid);
    assert.equal(filePid, file.child.pid);
    file.child.kill('SIGTERM');
    const exit = await file.exitedWithin(SETTLES_MS);
    assert.deepEqual(exit, { code: null, signal: 'SIGTERM' }, 'it still ends the way SIGTERM ends a process');
    assert.match(file.stderr(), new RegExp(`\\(pid ${childPid}\\) was still running when the process that started it got SIGTERM; killed with SIGKILL`));
    await waitUntil(() => !isRunning(childPid), SETTLES_MS, `the process ${childPid} the test file started to be killed`);
  });
});
