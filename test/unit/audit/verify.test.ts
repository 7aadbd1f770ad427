/**
 * Verification of hash-chained audit files: fail-closed on missing, empty and head-truncated
 * files; detects edited, inserted, reordered and deleted records, partial and non-JSON lines;
 * accepts a rotated segment with `segment`; checks the seams between rotated files. Each case
 * names the first bad line and why.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditLog } from '../../../src/audit/audit-log.js';
import { composeChainedLine, sha256Hex } from '../../../src/audit/chain.js';
import type { VerifyResult } from '../../../src/audit/verify.js';
import { describeVerifyResult, verifyAuditFiles } from '../../../src/audit/verify.js';
import { AUDIT_RECORD_MAX_BYTES } from '../../../src/limits.js';

const RECORDS = 6;

/** Rebuild a line with a correct own hash (what an attacker editing one line could do). */
function rehash(line: string): string {
  const parsed = JSON.parse(line) as Record<string, unknown>;
  const { seq, prev, hash: _hash, ...rest } = parsed;
  return composeChainedLine(JSON.stringify(rest), seq as number, prev as string);
}

interface Case {
  readonly id: string;
  /** Turn the intact lines (without newlines) into the file content. */
  readonly mutate: (lines: string[]) => string;
  readonly segment?: boolean;
  /** Expected first bad line (1-based), or undefined when the file must verify. */
  readonly line?: number;
  readonly reason?: RegExp;
}

const join1 = (lines: readonly string[]): string => lines.map((line) => line + '\n').join('');

const CASES: readonly Case[] = [
  { id: 'intact', mutate: join1 },
  {
    id: 'edited',
    mutate: (l) => join1(l.map((line, i) => (i === 2 ? line.replace('"verb":"get"', '"verb":"delete"') : line))),
    line: 3,
    reason: /hash mismatch: the record was changed/,
  },
  {
    id: 'edited-and-rehashed',
    mutate: (l) => join1(l.map((line, i) => (i === 2 ? rehash(line.replace('"verb":"get"', '"verb":"delete"')) : line))),
    line: 4,
    reason: /prev does not match the previous line/,
  },
  {
    id: 'inserted-copy',
    mutate: (l) => join1([...l.slice(0, 4), l[1] ?? '', ...l.slice(4)]),
    line: 5,
    reason: /seq 1 after seq 3: records were reordered or duplicated/,
  },
  {
    id: 'inserted-forged',
    mutate: (l) => {
      const forged = composeChainedLine('{"verb":"get","forged":true}', 4, sha256Hex(l[3] ?? ''));
      return join1([...l.slice(0, 4), forged, ...l.slice(4)]);
    },
    line: 6,
    reason: /seq 4 after seq 4: records were reordered or duplicated/,
  },
  {
    id: 'reordered',
    mutate: (l) => join1([l[0] ?? '', l[1] ?? '', l[3] ?? '', l[2] ?? '', ...l.slice(4)]),
    line: 3,
    reason: /seq 3 after seq 1: 1 record is missing/,
  },
  {
    id: 'deleted-middle',
    mutate: (l) => join1([...l.slice(0, 2), ...l.slice(3)]),
    line: 3,
    reason: /seq 3 after seq 1: 1 record is missing/,
  },
  {
    id: 'deleted-and-renumbered',
    mutate: (l) => {
      // Delete seq 2 and renumber the next line to 2 with a recomputed own hash.
      const parsed = JSON.parse(l[3] ?? '') as Record<string, unknown>;
      const { seq: _seq, prev, hash: _hash, ...rest } = parsed;
      return join1([l[0] ?? '', l[1] ?? '', composeChainedLine(JSON.stringify(rest), 2, prev as string), ...l.slice(4)]);
    },
    line: 3,
    reason: /prev does not match the previous line/,
  },
  {
    id: 'head-truncated',
    mutate: (l) => join1(l.slice(1)),
    line: 1,
    reason: /does not start the chain: the head of the log is missing/,
  },
  { id: 'head-truncated-segment', mutate: (l) => join1(l.slice(1)), segment: true },
  { id: 'empty', mutate: () => '', line: 0, reason: /the file is empty/ },
  { id: 'empty-segment', mutate: () => '', segment: true, line: 0, reason: /the file is empty/ },
  {
    id: 'partial-last-line',
    mutate: (l) => join1(l).slice(0, -1),
    line: RECORDS,
    reason: /partial record: no line end/,
  },
  {
    id: 'cut-mid-line',
    mutate: (l) => join1(l).slice(0, -40),
    line: RECORDS,
    reason: /partial record/,
  },
  {
    id: 'non-json-line',
    mutate: (l) => join1([...l.slice(0, 2), 'not json at all', ...l.slice(2)]),
    line: 3,
    reason: /not valid JSON/,
  },
  {
    id: 'blank-line',
    mutate: (l) => join1([...l.slice(0, 2), '', ...l.slice(2)]),
    line: 3,
    reason: /empty line/,
  },
  {
    id: 'unchained-line',
    mutate: (l) => join1([...l.slice(0, 2), '{"verb":"get"}', ...l.slice(2)]),
    line: 3,
    reason: /not a hash-chained record/,
  },
  {
    id: 'duplicate-chain-key',
    mutate: (l) => join1(l.map((line, i) => (i === 1 ? rehash(line).replace('"verb":"get"', '"verb":"get","seq":7') : line))),
    line: 2,
    reason: /duplicated/,
  },
  {
    id: 'second-genesis',
    mutate: (l) => join1([...l.slice(0, 3), composeChainedLine('{"verb":"get"}', 0, 'genesis'), ...l.slice(3)]),
    line: 4,
    reason: /a new chain starts here/,
  },
  {
    id: 'genesis-with-nonzero-seq',
    mutate: () => join1([composeChainedLine('{"verb":"get"}', 5, 'genesis')]),
    line: 1,
    reason: /genesis record must have seq 0/,
  },
  {
    id: 'crlf-line-ends',
    mutate: (l) => l.map((line) => line + '\r\n').join(''),
    line: 1,
    reason: /not a hash-chained record/,
  },
];

describe('verifyAuditFiles', { timeout: 30_000 }, () => {
  let base = '';
  let lines: string[] = [];
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'kubepair-verify-'));
    const path = join(base, 'source.jsonl');
    const log = await AuditLog.open({ path, chain: true });
    for (let i = 0; i < RECORDS; i++) await log.append({ verb: 'get', resource: 'pods', i });
    await log.close();
    lines = (await readFile(path, 'utf8')).split('\n').filter((line) => line !== '');
  });
  after(() => rm(base, { recursive: true, force: true }));

  for (const c of CASES) {
    it(c.id, async () => {
      const path = join(base, `${c.id}.jsonl`);
      await writeFile(path, c.mutate([...lines]));
      const result = await verifyAuditFiles([path], { segment: c.segment === true });
      const verdict = describeVerifyResult(result, [path]);
      if (c.line === undefined) {
        assert.ok(result.ok, `${c.id}: verifies (${verdict})`);
        return;
      }
      assert.ok(!result.ok, `${c.id}: fails`);
      assert.equal(result.line, c.line, `${c.id}: first bad line (${verdict})`);
      assert.match(result.reason, c.reason ?? /./, `${c.id}: reason`);
      assert.ok(verdict.includes(c.line > 0 ? `line ${c.line}: ` : `${path}: `), `${c.id}: verdict names the place`);
    });
  }

  it('does not detect records cut from the end (documented limit: ship the log off-host)', async () => {
    const path = join(base, 'tail-cut.jsonl');
    await writeFile(path, join1(lines.slice(0, -2)));
    const result = await verifyAuditFiles([path]);
    assert.ok(result.ok && result.lastSeq === RECORDS - 3, 'a tail-truncated file still verifies');
  });

  it('fails on a missing file, a directory, and no file at all', async () => {
    const cases: ReadonlyArray<readonly [string, readonly string[], RegExp]> = [
      ['missing', [join(base, 'nope.jsonl')], /does not exist/],
      ['directory', [base], /directory/],
      ['no-files', [], /no file given/],
    ];
    for (const [id, files, reason] of cases) {
      for (const segment of [false, true]) {
        const result: VerifyResult = await verifyAuditFiles(files, { segment });
        assert.ok(!result.ok, `${id} (segment ${segment}): fails`);
        assert.match(result.reason, reason, `${id}: reason`);
      }
    }
  });

  it('fails on invalid UTF-8 and on a line over the record limit', async () => {
    const bad = Buffer.from(join1(lines));
    bad[bad.indexOf('"get"') + 1] = 0xff;
    const utf8Path = join(base, 'utf8.jsonl');
    await writeFile(utf8Path, bad);
    const utf8 = await verifyAuditFiles([utf8Path]);
    assert.ok(!utf8.ok && utf8.line === 1 && /UTF-8/.test(utf8.reason), JSON.stringify(utf8));
    const longPath = join(base, 'long.jsonl');
    await writeFile(longPath, join1([lines[0] ?? '', 'x'.repeat(AUDIT_RECORD_MAX_BYTES + 10)]));
    const long = await verifyAuditFiles([longPath]);
    assert.ok(!long.ok && long.line === 2 && /record limit/.test(long.reason), JSON.stringify(long));
  });

  describe('rotated files', () => {
    let files: string[] = [];
    before(async () => {
      const dir = join(base, 'rotated');
      await mkdir(dir);
      const path = join(dir, 'audit.jsonl');
      const log = await AuditLog.open({ path, chain: true, maxBytes: 1024, keep: 20 });
      for (let i = 0; i < 25; i++) await log.append({ verb: 'watch', i });
      await log.close();
      const rotated = (await readdir(dir)).filter((name) => name !== 'audit.jsonl').length;
      assert.ok(rotated >= 4 && rotated < 20, `rotated into ${rotated} files, none deleted`);
      files = [...Array.from({ length: rotated }, (_, i) => `${path}.${rotated - i}`), path];
    });

    it('verifies all pieces oldest first as one chain from genesis', async () => {
      const result = await verifyAuditFiles(files);
      assert.ok(result.ok && result.fromGenesis && result.lastSeq === 24, JSON.stringify(result));
    });

    it('fails on pieces in the wrong order', async () => {
      const result = await verifyAuditFiles([...files].reverse());
      assert.ok(!result.ok && result.line === 1, JSON.stringify(result));
    });

    it('fails when a middle piece is missing', async () => {
      const result = await verifyAuditFiles([files[0] ?? '', files[1] ?? '', files[3] ?? '', files[4] ?? '']);
      assert.ok(!result.ok && result.file === files[3] && /missing/.test(result.reason), JSON.stringify(result));
    });

    it('a middle piece passes only with segment', async () => {
      const middle = [files[2] ?? ''];
      assert.ok(!(await verifyAuditFiles(middle)).ok, 'without segment');
      assert.ok((await verifyAuditFiles(middle, { segment: true })).ok, 'with segment');
    });
  });
});
