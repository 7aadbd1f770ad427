/**
 * The V8 flags the `kubepair` process sets for itself (src/cli/runtime-v8-flags.ts): which V8
 * versions get `--external-memory-accounted-in-global-limit`, that this matches what the running
 * Node.js's V8 offers (so a later Node.js that drops the flag, or turns it on by default, fails
 * here rather than printing "unrecognized flag" to users), that the built CLI sets it for the
 * commands that move bytes and for no other, and what it does: far fewer mark-compacts while a
 * process churns through large buffers beside a kept heap.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BIN_NODE_FLAGS } from '../../../src/cli/node-flags.js';
import { EXTERNAL_MEMORY_IN_GLOBAL_LIMIT_FLAG, carriesTraffic, runtimeV8Flags } from '../../../src/cli/runtime-v8-flags.js';
import { CLI_PATH } from '../../helpers/cli.js';
import { tagWith } from '../../helpers/code-cache.js';
import { repoPath } from '../../helpers/paths.js';
import { privateTempDir } from '../../helpers/relay-process.js';

const RUN_TIMEOUT_MS = 60_000;
const FLAG_NAME = EXTERNAL_MEMORY_IN_GLOBAL_LIMIT_FLAG.slice(2);

/** Whether the running Node.js's V8 has the flag, and whether it is on by default (`node --v8-options`). */
function flagOfThisV8(): { readonly known: boolean; readonly onByDefault: boolean } {
  const run = spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8', timeout: RUN_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(run.status, 0, `node --v8-options: ${run.stderr}`);
  const at = run.stdout.indexOf(`  --${FLAG_NAME} (`);
  if (at < 0) return { known: false, onByDefault: false };
  const entry = run.stdout.slice(at, run.stdout.indexOf('\n  --', at + 4));
  return { known: true, onByDefault: entry.includes(`default: --${FLAG_NAME}`) };
}

/** Run node with `args`, returning stdout and stderr; fails the test on a non-zero exit. */
function runNode(args: readonly string[], env: NodeJS.ProcessEnv = process.env): { stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [...args], { encoding: 'utf8', timeout: RUN_TIMEOUT_MS, env });
  assert.equal(run.status, 0, `node ${args.join(' ')}: exit ${run.status}: ${run.stderr}`);
  return { stdout: run.stdout, stderr: run.stderr };
}

/** The built CLI run with `argv`: V8's version tag as the process exits, and its stderr. */
async function cliTagAtExit(argv: readonly string[]): Promise<{ tag: number; stderr: string }> {
  const dir = await privateTempDir('kubepair-v8-flags-');
  try {
    const preload = join(dir, 'report-tag.cjs');
    const report = join(dir, 'tag.txt');
    await writeFile(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(report)}, String(require('node:v8').cachedDataVersionTag())));\n`);
    const { stderr } = runNode([CLI_PATH, ...argv], { ...process.env, NODE_OPTIONS: `--require ${preload}` });
    return { tag: Number(await readFile(report, 'utf8')), stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Mark-compacts while a node with the binary's flags allocates 2 GiB in 256 KiB buffers, keeping
 * the last 64 (a tunnel's records in flight) and making some short-lived objects per buffer (as
 * a record's path does) beside a heap it keeps; with `apply`, after applyRuntimeV8Flags of the
 * built module.
 */
function markCompactsOfBufferChurn(apply: boolean): number {
  const script = `
    const v8 = require('node:v8');
    (async () => {
      if (${apply}) (await import(${JSON.stringify(repoPath('build/src/cli/runtime-v8-flags.js'))})).applyRuntimeV8Flags();
      const kept = [];
      for (let i = 0; i < 200000; i++) kept.push({ i, s: 'kept' + i });
      const profiler = new v8.GCProfiler();
      profiler.start();
      const inFlight = new Array(64);
      let objects = [];
      for (let i = 0; i < 8192; i++) {
        const b = Buffer.allocUnsafe(256 * 1024);
        b[0] = i;
        inFlight[i % 64] = b;
        objects = [];
        for (let j = 0; j < 1000; j++) objects.push({ i, j });
      }
      const stats = profiler.stop().statistics;
      process.stdout.write(String(stats.filter((s) => s.gcType === 'MarkSweepCompact').length) + ' ' + (kept.length + objects.length));
    })();`;
  const { stdout, stderr } = runNode([...BIN_NODE_FLAGS, '-e', script]);
  assert.equal(stderr, '');
  return Number(stdout.split(' ')[0]);
}

describe('the V8 flags the kubepair process sets for itself', () => {
  it('sets --external-memory-accounted-in-global-limit on V8 13.6 up to 14.7 only (Node.js 24-26; not 22, not where V8 counts so by default)', () => {
    const cases: ReadonlyArray<readonly [string, readonly string[]]> = [
      ['12.4.254.21-node.57', []], // Node.js 22
      ['13.5.1', []],
      ['13.6.233.17-node.63', [EXTERNAL_MEMORY_IN_GLOBAL_LIMIT_FLAG]], // Node.js 24
      ['14.1.146.11-node.14', [EXTERNAL_MEMORY_IN_GLOBAL_LIMIT_FLAG]], // Node.js 25
      ['14.6.202.34-node.40', [EXTERNAL_MEMORY_IN_GLOBAL_LIMIT_FLAG]], // Node.js 26
      ['14.7.1', [EXTERNAL_MEMORY_IN_GLOBAL_LIMIT_FLAG]],
      ['14.8.0', []],
      ['15.0.1', []],
      ['not a version', []],
    ];
    for (const [version, expected] of cases) assert.deepEqual(runtimeV8Flags(version), expected, `V8 ${version}`);
  });

  it('sets the flag exactly where the running V8 has it and has it off by default', () => {
    const { known, onByDefault } = flagOfThisV8();
    assert.deepEqual(
      runtimeV8Flags(process.versions.v8),
      known && !onByDefault ? [EXTERNAL_MEMORY_IN_GLOBAL_LIMIT_FLAG] : [],
      `V8 ${process.versions.v8}: flag known ${known}, on by default ${onByDefault}`,
    );
  });

  it('is for the tunnel endpoints (connect, share) and no other command, the relay neither (it costs the relay CPU)', () => {
    for (const command of ['connect', 'share']) assert.equal(carriesTraffic([command, '--help']), true, command);
    for (const argv of [[], ['--version'], ['relay'], ['relay', '--listen', '127.0.0.1:0'], ['token', 'create'], ['config', 'list'], ['doctor'], ['audit', 'verify'], ['--help', 'share']]) {
      assert.equal(carriesTraffic(argv), false, argv.join(' '));
    }
  });

  it('the built CLI runs share with the flags set, and --version without, printing nothing about them', async () => {
    const expected = tagWith(runtimeV8Flags(process.versions.v8));
    const share = await cliTagAtExit(['share', '--help']);
    assert.equal(share.tag, expected, `share: V8 tag ${share.tag}, expected ${expected} (flags ${runtimeV8Flags(process.versions.v8).join(' ') || 'none'})`);
    assert.equal(share.stderr, '');
    const version = await cliTagAtExit(['--version']);
    assert.equal(version.tag, tagWith([]));
    assert.equal(version.stderr, '');
  });

  it('with the flag, churning through large buffers beside a kept heap runs far fewer mark-compacts', () => {
    if (runtimeV8Flags(process.versions.v8).length === 0) {
      // Nothing to set on this V8 (Node.js 22, or one that counts so by default): nothing is set, nothing printed.
      const script = `import(${JSON.stringify(repoPath('build/src/cli/runtime-v8-flags.js'))}).then((m) => process.stdout.write(JSON.stringify(m.applyRuntimeV8Flags())));`;
      assert.deepEqual(runNode(['-e', script]), { stdout: '[]', stderr: '' });
      return;
    }
    // V8's heuristics vary from run to run (1 to 16 mark-compacts per run without the flag on V8 14.6, 0 or 1 with it): three runs each.
    let without = 0;
    let withFlag = 0;
    for (let run = 0; run < 3; run++) {
      without += markCompactsOfBufferChurn(false);
      withFlag += markCompactsOfBufferChurn(true);
    }
    assert.ok(without >= 4 && withFlag * 2 <= without, `mark-compacts in three runs of 2 GiB of 256 KiB buffers: ${without} without the flag, ${withFlag} with it`);
  });
});
