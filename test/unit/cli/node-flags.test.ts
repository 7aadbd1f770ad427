/**
 * The Node.js flags of the `kubepair` binary (src/cli/node-flags.ts): main.ts's shebang carries
 * them, and a program started through that shebang (what the kernel does for the installed
 * binary: `env -S` splits the line) runs with them. The installed package is checked the same
 * way in test/e2e/installed-package.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BIN_NODE_FLAGS, BIN_SHEBANG } from '../../../src/cli/node-flags.js';
import { NODE_INITIAL_OLD_SPACE_MIB } from '../../../src/limits.js';
import { CLI_PATH } from '../../helpers/cli.js';
import { repoPath } from '../../helpers/paths.js';
import { privateTempDir } from '../../helpers/relay-process.js';

const RUN_TIMEOUT_MS = 30_000;

describe('the flags the kubepair binary gives Node.js', () => {
  it('src/cli/main.ts starts with the shebang of node-flags.ts, which names --initial-old-space-size', async () => {
    const firstLine = (await readFile(repoPath('src/cli/main.ts'), 'utf8')).split('\n')[0];
    assert.equal(firstLine, BIN_SHEBANG);
    assert.deepEqual(BIN_NODE_FLAGS, [`--initial-old-space-size=${NODE_INITIAL_OLD_SPACE_MIB}`]);
  });

  it('a kubepair started the way the kernel reads the built main.js\'s shebang runs in a Node.js with those flags', async () => {
    const shebang = (await readFile(CLI_PATH, 'utf8')).split('\n')[0]!;
    const match = /^#!(\S+) -S (.+)$/.exec(shebang);
    assert.ok(match !== null, `the built main.js starts with an env -S shebang: ${shebang}`);
    const dir = await privateTempDir('kubepair-node-flags-');
    try {
      const preload = join(dir, 'report-exec-argv.cjs');
      const report = join(dir, 'exec-argv.json');
      // NODE_OPTIONS may preload a script: it records the flags node was started with.
      await writeFile(preload, `require('node:fs').writeFileSync(${JSON.stringify(report)}, JSON.stringify(process.execArgv));\n`);
      // The kernel runs "<interpreter> <rest of the line> <script> <args>"; node found on PATH, as env does.
      const run = spawnSync(match[1]!, [`-S ${match[2]!}`, CLI_PATH, '--version'], {
        encoding: 'utf8',
        timeout: RUN_TIMEOUT_MS,
        env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env['PATH'] ?? ''}`, NODE_OPTIONS: `--require ${preload}` },
      });
      // A BusyBox env has no -S ("invalid option"): docs/operations.md says how to run kubepair there.
      assert.equal(run.status, 0, `exit ${run.status}: ${run.stderr}`);
      const execArgv = JSON.parse(await readFile(report, 'utf8')) as string[];
      for (const flag of BIN_NODE_FLAGS) assert.ok(execArgv.includes(flag), `node ran with ${JSON.stringify(execArgv)}, missing ${flag}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
