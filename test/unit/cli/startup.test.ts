/**
 * Start-up of the kubepair binary (issue 15; docs/performance.md "Start-up"): the timeline
 * KUBEPAIR_TIMELINE=1 prints (in a child process: it is read once per process).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { timelineLine } from '../../../src/cli/startup-timeline.js';
import { CLI_PATH } from '../../helpers/cli.js';

const run = promisify(execFile);
const CHILD_TIMEOUT_MS = 60_000;

describe('the start-up timeline (KUBEPAIR_TIMELINE=1)', () => {
  it('a line is the step and the milliseconds since the process started', () => {
    assert.equal(timelineLine(12.345, 'cli_loaded'), 'kubepair: timeline 12.3 cli_loaded\n');
  });

  it('with KUBEPAIR_TIMELINE=1 kubepair --version prints its steps in order on stderr, with times that grow; without it nothing', async () => {
    const on = await run(process.execPath, [CLI_PATH, '--version'], { env: { ...process.env, KUBEPAIR_TIMELINE: '1' }, timeout: CHILD_TIMEOUT_MS });
    const steps = [...on.stderr.matchAll(/^kubepair: timeline (\d+\.\d) (\w+)$/gm)].map((match) => ({ ms: Number(match[1]), step: match[2] }));
    assert.deepEqual(
      steps.map((entry) => entry.step),
      ['main', 'cli_loaded'],
    );
    assert.ok(steps[0]!.ms > 0 && steps[1]!.ms >= steps[0]!.ms, on.stderr);
    const { KUBEPAIR_TIMELINE: _unset, ...without } = process.env;
    const off = await run(process.execPath, [CLI_PATH, '--version'], { env: without, timeout: CHILD_TIMEOUT_MS });
    assert.equal(off.stderr, '');
    assert.match(off.stdout, /^\d+\.\d+\.\d+/);
  });
});
