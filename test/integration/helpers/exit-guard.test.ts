/**
 * npm test's hang protection (test/helpers/exit-guard.ts, loaded by `node --test --import`) under
 * npm test's own node --test options: it loses none of a file's test results (what
 * `--test-force-exit`, used before, did: a file of 300 quick tests reported 216-300 of them), it
 * ends a file that leaves an interval open within a bound, failing it and naming what was left
 * open, and it does not take a slow root-level `after` hook for a leak. The fixture files are
 * generated into a temporary directory, removed at the end.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GRACE_MS, LEAK_EXIT_CODE } from '../../helpers/exit-guard.js';
import { npmTestNodeOptions, runNodeTest } from '../../helpers/npm-test-command.js';
import { repoPath } from '../../helpers/paths.js';

/** Bound for one `node --test` run of a fixture file, in ms (generous: the machine may be loaded). */
const RUN_MS = 90_000;
/** How many tests the lossless-report fixture has, and how many times it is run. */
const QUICK_TESTS = 300;
const RUNS = 5;

const QUICK_FILE = `import { test } from 'node:test';
for (let i = 0; i < ${QUICK_TESTS}; i++) test(\`quick test \${i}\`, () => {});
`;
const LEAKY_FILE = `import { test } from 'node:test';
test('passes but leaves an interval running', () => {
  setInterval(() => {}, 1000);
});
`;
/** The same leak in a file whose afterEach hook throws (node:test then skips the guard's own afterEach). */
const LEAKY_FAILING_AFTER_EACH_FILE = `import { afterEach, describe, it } from 'node:test';
describe('an afterEach that throws', () => {
  afterEach(() => {
    throw new Error('afterEach failed');
  });
  it('leaves an interval running', () => {
    setInterval(() => {}, 1000);
  });
});
`;
/**
 * A root-level after hook that runs longer than the guard's grace, keeping the process alive
 * honestly, and one that takes node:test's `done` callback.
 */
const SLOW_AFTER_FILE = `import { after, test } from 'node:test';
test('a quick test', () => {});
after(async () => {
  await new Promise((resolve) => setTimeout(resolve, ${Math.round(GRACE_MS * 1.5)}));
  process.stderr.write('slow after hook done\\n');
});
after((_context, done) => {
  setTimeout(() => {
    process.stderr.write('callback after hook done\\n');
    done();
  }, 100);
});
`;

describe('exit guard: npm test neither hangs on a leaked handle nor loses test results', () => {
  let dir = '';
  const options = npmTestNodeOptions();
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-exit-guard-'));
    await writeFile(join(dir, 'quick.test.mjs'), QUICK_FILE);
    await writeFile(join(dir, 'leaky.test.mjs'), LEAKY_FILE);
    await writeFile(join(dir, 'leaky-failing-after-each.test.mjs'), LEAKY_FAILING_AFTER_EACH_FILE);
    await writeFile(join(dir, 'slow-after.test.mjs'), SLOW_AFTER_FILE);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('npm test loads the guard and no longer forces each file to exit', () => {
    assert.ok(options.includes(repoPath('build/test/helpers/exit-guard.js')), `--import of the exit guard (options: ${options.join(' ')})`);
    assert.ok(!options.includes('--test-force-exit'), `--test-force-exit loses test results (options: ${options.join(' ')})`);
  });

  it(`every one of ${QUICK_TESTS} quick tests is reported, in each of ${RUNS} runs`, async () => {
    for (let run = 0; run < RUNS; run++) {
      const result = await runNodeTest(options, [join(dir, 'quick.test.mjs')], process.env, RUN_MS);
      assert.deepEqual([result.code, result.signal], [0, null], `run ${run + 1} ended badly:\n${result.output.slice(-1500)}`);
      const reported = /^ℹ tests (\d+)$/m.exec(result.output)?.[1];
      assert.equal(reported, String(QUICK_TESTS), `run ${run + 1}: the runner's count of tests:\n${result.output.slice(-1500)}`);
      const names = new Set([...result.output.matchAll(/✔ (quick test \d+) \(/g)].map((match) => match[1]));
      assert.equal(names.size, QUICK_TESTS, `run ${run + 1}: tests reported by name`);
    }
  });

  it('a file that leaves an interval running is ended within a bound, fails, and the interval is named', async () => {
    const result = await runNodeTest(options, [join(dir, 'leaky.test.mjs')], process.env, RUN_MS);
    assert.equal(result.signal, null, `the run did not end by itself within ${RUN_MS} ms (the hang):\n${result.output}`);
    assert.equal(result.code, 1, result.output);
    assert.ok(result.durationMs < GRACE_MS + 30_000, `ended ${result.durationMs} ms after it started`);
    assert.match(result.output, /✔ passes but leaves an interval running/, 'the test itself is reported');
    assert.match(result.output, new RegExp(`exit-guard: this test file's process was still alive ${GRACE_MS} ms after its tests and hooks ended: .* Active resources: .*\\bTimeout x1\\b`));
    assert.match(result.output, new RegExp(`exit-guard: ending it with exit code ${LEAK_EXIT_CODE}`));
    assert.match(result.output, /^ℹ fail 1$/m, 'the file counts as failed');
    assert.match(result.output, /To see where each Timeout was set, run the file again with KUBEPAIR_TEST_TRACE_TIMERS=1\./);
  });

  it('with KUBEPAIR_TEST_TRACE_TIMERS=1 the report says where the leaked interval was set', async () => {
    const result = await runNodeTest(options, [join(dir, 'leaky.test.mjs')], { ...process.env, KUBEPAIR_TEST_TRACE_TIMERS: '1' }, RUN_MS);
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /Timers pending:\n\s*setInterval of 1000 ms set at .*leaky\.test\.mjs:3:/);
  });

  it('the same leak in a file whose afterEach throws is ended as quickly', async () => {
    const result = await runNodeTest(options, [join(dir, 'leaky-failing-after-each.test.mjs')], process.env, RUN_MS);
    assert.equal(result.signal, null, `the run did not end by itself within ${RUN_MS} ms (the hang):\n${result.output}`);
    assert.equal(result.code, 1, result.output);
    assert.ok(result.durationMs < GRACE_MS + 30_000, `ended ${result.durationMs} ms after it started`);
    assert.match(result.output, /afterEach failed/, 'the real failure is reported');
    assert.match(result.output, /exit-guard: this test file's process was still alive .* Active resources: .*\bTimeout x1\b/);
  });

  it('root-level after hooks, one running longer than the grace and one with a done callback, are waited for, not taken for a leak', async () => {
    const result = await runNodeTest(options, [join(dir, 'slow-after.test.mjs')], process.env, RUN_MS);
    assert.deepEqual([result.code, result.signal], [0, null], result.output);
    assert.match(result.output, /slow after hook done/);
    assert.match(result.output, /callback after hook done/);
    assert.doesNotMatch(result.output, /exit-guard/);
    assert.match(result.output, /^ℹ pass 1$/m);
  });
});
