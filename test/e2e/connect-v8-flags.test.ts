/**
 * connect sets its runtime V8 flags (src/cli/runtime-v8-flags.ts) once it is ready, not at
 * start (docs/performance.md "Start to first byte, seventh pass"): a paired connect has them in
 * force before any traffic. V8's cached-data version tag hashes the flags in force; a preload
 * writes connect's as it exits, compared with a node that set the same flags.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runtimeV8Flags } from '../../src/cli/runtime-v8-flags.js';
import { tagWith } from '../helpers/code-cache.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { privateTempDir } from '../helpers/relay-process.js';

const T = { timeout: 120_000 };
const READY_TIMEOUT_MS = 60_000;

describe('e2e: connect sets its runtime V8 flags once it is ready', () => {
  let stack: E2EStack;
  let report: string;
  before(async () => {
    const dir = await privateTempDir('kubepair-connect-v8-flags-');
    const preload = join(dir, 'report-tag.cjs');
    report = join(dir, 'tag.txt');
    // Every kubepair process of the stack appends its pid, argv[2] and tag as it exits.
    await writeFile(preload, `process.on('exit', () => require('node:fs').appendFileSync(${JSON.stringify(report)}, process.argv[2] + ' ' + require('node:v8').cachedDataVersionTag() + '\\n'));\n`);
    stack = await startE2EStack({ nodeArgs: ['--require', preload] });
  });
  after(() => stack.close());

  it('a paired connect exits with the flags of runtimeV8Flags in force', T, async () => {
    const { code } = await stack.startShare(['--once']);
    const connect = stack.startConnect(['--no-shell', code]);
    await connect.waitFor(/^export KUBECONFIG=/m, READY_TIMEOUT_MS, 'stdout');
    await connect.stop('SIGTERM', 10_000);
    const lines = (await readFile(report, 'utf8')).trim().split('\n').filter((line) => line.startsWith('connect '));
    assert.equal(lines.length, 1, lines.join('\n'));
    const flags = runtimeV8Flags(process.versions.v8);
    assert.equal(Number(lines[0]!.split(' ')[1]), tagWith(flags), `connect's V8 tag; flags expected: ${flags.join(' ') || 'none (this V8)'}`);
  });
});
