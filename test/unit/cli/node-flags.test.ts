/**
 * The Node.js flags of the `kubepair` binary (src/cli/node-flags.ts): main.ts's two launch lines
 * carry them, and the built main.js started as the kernel starts it (`/bin/sh FILE ARGS`, from
 * its `#!/bin/sh` line) runs in a Node.js with them, through Debian's dash and through BusyBox's
 * sh (Alpine's /bin/sh). The installed package is checked the same way in
 * test/e2e/installed-package.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BIN_LAUNCH_LINES, BIN_NODE_FLAGS } from '../../../src/cli/node-flags.js';
import { NODE_INITIAL_OLD_SPACE_MIB } from '../../../src/limits.js';
import { CLI_PATH } from '../../helpers/cli.js';
import { repoPath } from '../../helpers/paths.js';
import { privateTempDir } from '../../helpers/relay-process.js';

const RUN_TIMEOUT_MS = 30_000;

/** The first two lines of a file. */
async function firstTwoLines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').slice(0, 2);
}

/** Run the built main.js with `shell` (and its arguments) as the kernel would, and return the flags node ran with. */
async function execArgvUnder(shell: readonly string[]): Promise<string[]> {
  const dir = await privateTempDir('kubepair-node-flags-');
  try {
    const preload = join(dir, 'report-exec-argv.cjs');
    const report = join(dir, 'exec-argv.json');
    // NODE_OPTIONS may preload a script: it records the flags node was started with.
    await writeFile(preload, `require('node:fs').writeFileSync(${JSON.stringify(report)}, JSON.stringify(process.execArgv));\n`);
    const run = spawnSync(shell[0]!, [...shell.slice(1), CLI_PATH, '--version'], {
      encoding: 'utf8',
      timeout: RUN_TIMEOUT_MS,
      // node found on PATH, as the launch line's `exec node` finds it.
      env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env['PATH'] ?? ''}`, NODE_OPTIONS: `--require ${preload}` },
    });
    assert.deepEqual([run.status, run.stderr], [0, ''], `${shell.join(' ')}: exit ${run.status}: ${run.stderr}`);
    assert.match(run.stdout, /^\d+\.\d+\.\d+/);
    return JSON.parse(await readFile(report, 'utf8')) as string[];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('the flags the kubepair binary gives Node.js', () => {
  it('src/cli/main.ts and the built main.js start with the launch lines of node-flags.ts, which name --initial-old-space-size', async () => {
    assert.deepEqual(await firstTwoLines(repoPath('src/cli/main.ts')), [...BIN_LAUNCH_LINES]);
    assert.deepEqual(await firstTwoLines(CLI_PATH), [...BIN_LAUNCH_LINES]);
    assert.deepEqual(BIN_NODE_FLAGS, [`--initial-old-space-size=${NODE_INITIAL_OLD_SPACE_MIB}`]);
  });

  for (const shell of [['/bin/sh'], ['dash'], ['busybox', 'sh']] as const) {
    it(`the built main.js started as the kernel starts it, through ${shell.join(' ')}, runs in a Node.js with those flags`, async () => {
      const execArgv = await execArgvUnder(shell);
      for (const flag of BIN_NODE_FLAGS) assert.ok(execArgv.includes(flag), `node ran with ${JSON.stringify(execArgv)}, missing ${flag}`);
    });
  }

  it('node itself reads the launch lines as a shebang and a comment: a plain `node main.js` runs, without the flags', () => {
    const run = spawnSync(process.execPath, [CLI_PATH, '--version'], { encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
    assert.deepEqual([run.status, run.stderr], [0, '']);
    assert.match(run.stdout, /^\d+\.\d+\.\d+/);
  });
});
