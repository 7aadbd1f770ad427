/**
 * `kubepair audit verify` as users run it: the compiled CLI in a child process, checking exit
 * codes (0 verified, 1 failed verification, 2 bad usage) and the one-line verdicts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditLog } from '../../../src/audit/audit-log.js';
import { repoPath } from '../../helpers/paths.js';

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const CLI = repoPath('build/src/cli/main.js');

function runCli(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(new Error('the CLI did not run', { cause: err }));
        return;
      }
      resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
    });
  });
}

describe('kubepair audit verify (compiled CLI)', { timeout: 60_000 }, () => {
  let base = '';
  let good = '';
  let lines: string[] = [];
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'kubepair-verify-cli-'));
    good = join(base, 'audit.jsonl');
    const log = await AuditLog.open({ path: good, chain: true });
    for (let i = 0; i < 4; i++) await log.append({ verb: 'get', resource: 'pods', i });
    await log.close();
    lines = (await readFile(good, 'utf8')).split('\n').filter((line) => line !== '');
  });
  after(() => rm(base, { recursive: true, force: true }));

  async function fileWith(name: string, content: string): Promise<string> {
    const path = join(base, name);
    await writeFile(path, content);
    return path;
  }

  function assertNoStack(result: CliResult, id: string): void {
    assert.ok(!/\n\s+at /.test(result.stderr), `${id}: no stack trace in ${result.stderr}`);
  }

  it('exits 0 with a one-line OK verdict for an intact chain', async () => {
    const result = await runCli(['audit', 'verify', good]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^kubepair audit verify: OK: 4 records verified in .*audit\.jsonl \(seq 0-3, from genesis\); last line SHA-256 [0-9a-f]{64}\n$/);
    assert.equal(result.stderr, '');
  });

  const failures: ReadonlyArray<readonly [string, () => Promise<string>, RegExp]> = [
    [
      'edited',
      () => fileWith('edited.jsonl', lines.map((l, i) => (i === 1 ? l.replace('"pods"', '"secrets"') : l) + '\n').join('')),
      /line 2: hash mismatch: the record was changed after it was written \(1 record verified before it\)/,
    ],
    [
      'deleted',
      () => fileWith('deleted.jsonl', [lines[0], lines[2], lines[3]].map((l) => `${l}\n`).join('')),
      /line 2: seq 2 after seq 0: 1 record is missing/,
    ],
    [
      'head-truncated',
      () => fileWith('head.jsonl', lines.slice(1).map((l) => `${l}\n`).join('')),
      /line 1: the first record \(seq 1\) does not start the chain: the head of the log is missing \(use --segment/,
    ],
    ['empty', () => fileWith('empty.jsonl', ''), /empty\.jsonl: the file is empty/],
    ['missing', () => Promise.resolve(join(base, 'missing.jsonl')), /missing\.jsonl: the file does not exist/],
    [
      'partial',
      () => fileWith('partial.jsonl', lines.map((l) => `${l}\n`).join('').slice(0, -10)),
      /line 4: partial record/,
    ],
  ];
  for (const [id, make, message] of failures) {
    it(`exits 1 with the first bad line and why: ${id}`, async () => {
      const result = await runCli(['audit', 'verify', await make()]);
      assert.equal(result.code, 1, `${id}: exit code (${result.stderr})`);
      assert.match(result.stderr, /^kubepair: the audit log failed verification: /, `${id}: error prefix`);
      assert.match(result.stderr, message, `${id}: verdict`);
      assert.equal(result.stderr.trimEnd().split('\n').length, 1, `${id}: one line`);
      assert.equal(result.stdout, '', `${id}: nothing on stdout`);
      assertNoStack(result, id);
    });
  }

  it('accepts a head-truncated segment with --segment', async () => {
    const path = await fileWith('segment.jsonl', lines.slice(2).map((l) => `${l}\n`).join(''));
    const result = await runCli(['audit', 'verify', '--segment', path]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /OK: 2 records verified .*\(seq 2-3, a segment: records before it were not checked\)/);
  });

  it('verifies several files as one chain, oldest first', async () => {
    const older = await fileWith('older.jsonl', lines.slice(0, 2).map((l) => `${l}\n`).join(''));
    const newer = await fileWith('newer.jsonl', lines.slice(2).map((l) => `${l}\n`).join(''));
    assert.equal((await runCli(['audit', 'verify', older, newer])).code, 0, 'in order');
    const swapped = await runCli(['audit', 'verify', newer, older]);
    assert.equal(swapped.code, 1, 'out of order');
    assert.match(swapped.stderr, /does not start the chain/);
  });

  const usage: ReadonlyArray<readonly [string, readonly string[]]> = [
    ['no-file', ['audit', 'verify']],
    ['unknown-option', ['audit', 'verify', '--bogus', good]],
    ['unknown-subcommand', ['audit', 'check', good]],
  ];
  for (const [id, args] of usage) {
    it(`exits 2 on bad usage: ${id}`, async () => {
      const result = await runCli(args);
      assert.equal(result.code, 2, `${id}: exit code (${result.stderr})`);
      assert.ok(result.stderr.length > 0, `${id}: explains`);
      assertNoStack(result, id);
    });
  }
});
