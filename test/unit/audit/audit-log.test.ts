/**
 * The append-only audit log: permissions, order, redaction, the hash chain, rotation, crash
 * safety (partial lines are quarantined, never appended to), fail-closed and fail-open writes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { AuditLog } from '../../../src/audit/audit-log.js';
import { GENESIS, sha256Hex } from '../../../src/audit/chain.js';
import type { RequestAuditRecord } from '../../../src/audit/record.js';
import { redactQuery } from '../../../src/audit/redact.js';
import { verifyAuditFiles } from '../../../src/audit/verify.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { AUDIT_MAX_PENDING_RECORDS, AUDIT_RECORD_MAX_BYTES } from '../../../src/limits.js';
import { repoPath } from '../../helpers/paths.js';

const run = promisify(execFile);

async function readLines(path: string): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((line) => line !== '');
}

function parse(line: string | undefined): Record<string, unknown> {
  assert.ok(line !== undefined, 'line exists');
  return JSON.parse(line) as Record<string, unknown>;
}

describe('AuditLog', { timeout: 30_000 }, async () => {
  const base = await mkdtemp(join(tmpdir(), 'kubepair-audit-'));
  after(() => rm(base, { recursive: true, force: true }));

  it('creates the directory 0700 and the file 0600, and appends lines in call order', async () => {
    const path = join(base, 'state', 'audit.jsonl');
    const log = await AuditLog.open({ path });
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append({ seq: i })));
    await log.close();
    assert.equal((await stat(join(base, 'state'))).mode & 0o777, 0o700);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const lines = await readLines(path);
    assert.deepEqual(
      lines.map((line) => (JSON.parse(line) as { seq: number }).seq),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  it('appends to an existing file instead of truncating it', async () => {
    const path = join(base, 'append.jsonl');
    for (const n of [1, 2]) {
      const log = await AuditLog.open({ path });
      await log.append({ n });
      await log.close();
    }
    assert.equal((await readLines(path)).length, 2);
  });

  it('redacts secrets before writing', async () => {
    const path = join(base, 'redact.jsonl');
    const log = await AuditLog.open({ path });
    await log.append({ authorization: 'Bearer abcdefghijklmnop', note: 'sent Bearer qrstuvwxyz012345' });
    await log.close();
    const text = await readFile(path, 'utf8');
    assert.ok(!text.includes('abcdefghijklmnop'), text);
    assert.ok(!text.includes('qrstuvwxyz012345'), text);
  });

  it('adds a time field first when the record has none, and keeps a given one', async () => {
    const path = join(base, 'time.jsonl');
    const log = await AuditLog.open({ path });
    await log.append({ verb: 'get' });
    await log.append({ time: '2030-01-01T00:00:00.000Z', verb: 'list' });
    await log.close();
    const [first, second] = await readLines(path);
    assert.match(first ?? '', /^\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","verb":"get"\}$/);
    assert.equal(second, '{"time":"2030-01-01T00:00:00.000Z","verb":"list"}');
  });

  it('writes a request record with the documented fields, the query redacted', async () => {
    const path = join(base, 'request.jsonl');
    const log = await AuditLog.open({ path, chain: true });
    const record: RequestAuditRecord = {
      event: 'request',
      session: 'c2Vzc2lvbi1pZC0xMjM0',
      client: 'client-1',
      request_id: 'r-1',
      method: 'GET',
      verb: 'create',
      group: '',
      version: 'v1',
      resource: 'pods',
      subresource: 'exec',
      namespace: 'default',
      name: 'web-0',
      path: '/api/v1/namespaces/default/pods/web-0/exec',
      query: redactQuery('command=mysql&command=--password&command=hunter2&stdin=true'),
      tier: 3,
      decision: 'allow',
      status: 101,
      bytes_in: 12,
      bytes_out: 340,
      response_sha256: sha256Hex(''),
      duration_ms: 1520,
    };
    await log.append(record);
    await log.close();
    const written = parse((await readLines(path))[0]);
    for (const [key, value] of Object.entries(record)) assert.deepEqual(written[key], value, `field ${key}`);
    assert.equal(written['query'], 'command=mysql&command=--password&command=[REDACTED]&stdin=true');
    assert.equal(typeof written['time'], 'string');
  });

  it('tightens an existing file with a looser mode to 0600', async () => {
    const path = join(base, 'loose.jsonl');
    await writeFile(path, '{"old":true}\n', { mode: 0o644 });
    await chmod(path, 0o644);
    const log = await AuditLog.open({ path });
    await log.close();
    assert.equal((await stat(path)).mode & 0o777, 0o600);
  });

  describe('hash chain', () => {
    it('links every record to the bytes of the one before, from genesis', async () => {
      const path = join(base, 'chain', 'audit.jsonl');
      const log = await AuditLog.open({ path, chain: true });
      for (let i = 0; i < 5; i++) await log.append({ verb: 'get', i });
      await log.close();
      const lines = await readLines(path);
      assert.equal(lines.length, 5);
      lines.forEach((line, i) => {
        const record = parse(line);
        assert.equal(record['seq'], i, `line ${i + 1}: seq`);
        assert.equal(record['prev'], i === 0 ? GENESIS : sha256Hex(lines[i - 1] ?? ''), `line ${i + 1}: prev`);
        const cut = line.lastIndexOf(',"hash":"');
        assert.equal(record['hash'], sha256Hex(line.slice(0, cut)), `line ${i + 1}: hash covers the bytes before it`);
        assert.ok(line.startsWith(`{"seq":${i},"prev":"`), `line ${i + 1}: canonical start`);
      });
      assert.deepEqual(await verifyAuditFiles([path]), {
        ok: true,
        records: 5,
        firstSeq: 0,
        lastSeq: 4,
        fromGenesis: true,
        lastLineHash: sha256Hex(lines[4] ?? ''),
        recordings: 0,
      });
    });

    it('continues the chain when the log is opened again', async () => {
      const path = join(base, 'resume.jsonl');
      for (let round = 0; round < 3; round++) {
        const log = await AuditLog.open({ path, chain: true });
        await log.append({ round });
        await log.append({ round });
        await log.close();
      }
      const result = await verifyAuditFiles([path]);
      assert.ok(result.ok, JSON.stringify(result));
      assert.equal(result.lastSeq, 5);
    });

    it('refuses records that use the chain fields, with KP_ERR_AUDIT_RECORD_INVALID', async () => {
      const log = await AuditLog.open({ path: join(base, 'reserved.jsonl'), chain: true });
      for (const field of ['seq', 'prev', 'hash']) {
        await assert.rejects(
          log.append({ [field]: 1 }),
          (err) => isKubepairError(err, 'KP_ERR_AUDIT_RECORD_INVALID'),
          `${field}: reserved`,
        );
      }
      await log.close();
    });

    it('rotates a plain file away before starting a chain in its place', async () => {
      const path = join(base, 'switch.jsonl');
      const plain = await AuditLog.open({ path });
      await plain.append({ plain: true });
      await plain.close();
      const chained = await AuditLog.open({ path, chain: true });
      await chained.append({ chained: true });
      await chained.close();
      const rotated = await readLines(`${path}.1`);
      assert.equal(rotated.length, 1, 'the plain file was rotated whole');
      assert.equal(parse(rotated[0])['plain'], true);
      const result = await verifyAuditFiles([path]);
      assert.ok(result.ok && result.fromGenesis, JSON.stringify(result));
    });

    it('refuses to open when the last record is damaged, with KP_ERR_AUDIT_WRITE', async () => {
      const path = join(base, 'damaged.jsonl');
      const log = await AuditLog.open({ path, chain: true });
      await log.append({ verb: 'get' });
      await log.close();
      const [line] = await readLines(path);
      await writeFile(path, (line ?? '').replace('"get"', '"GET"') + '\n');
      await assert.rejects(AuditLog.open({ path, chain: true }), (err) => {
        assert.ok(isKubepairError(err, 'KP_ERR_AUDIT_WRITE'), String(err));
        assert.match(err.message, /last record .* is damaged \(hash mismatch/);
        return true;
      });
    });
  });

  describe('rotation', () => {
    it('rotates by size, keeps N files, and chains across them', async () => {
      const dir = join(base, 'rotate');
      const path = join(dir, 'audit.jsonl');
      const log = await AuditLog.open({ path, chain: true, maxBytes: 1024, keep: 3 });
      for (let i = 0; i < 40; i++) await log.append({ verb: 'list', resource: 'pods', i });
      await log.close();
      assert.deepEqual((await readdir(dir)).sort(), ['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2', 'audit.jsonl.3']);
      const files = [`${path}.3`, `${path}.2`, `${path}.1`, path];
      for (const file of files) {
        const info = await stat(file);
        assert.ok(info.size <= 1024, `${file}: at most maxBytes`);
        assert.equal(info.mode & 0o777, 0o600, `${file}: 0600`);
      }
      for (let i = 1; i < files.length; i++) {
        const older = await readLines(files[i - 1] ?? '');
        const newer = await readLines(files[i] ?? '');
        assert.equal(parse(newer[0])['prev'], sha256Hex(older.at(-1) ?? ''), `${files[i]}: first prev links the older file`);
      }
      const whole = await verifyAuditFiles(files, { segment: true });
      assert.ok(whole.ok && whole.lastSeq === 39 && !whole.fromGenesis, JSON.stringify(whole));
      const alone = await verifyAuditFiles([`${path}.2`]);
      assert.ok(!alone.ok && alone.line === 1, 'a middle piece fails without --segment');
      assert.ok((await verifyAuditFiles([`${path}.2`], { segment: true })).ok, 'a middle piece passes with --segment');
    });

    it('rotates a plain log too, and never splits a record', async () => {
      const dir = join(base, 'rotate-plain');
      const path = join(dir, 'audit.jsonl');
      const log = await AuditLog.open({ path, maxBytes: 1024, keep: 2 });
      for (let i = 0; i < 30; i++) await log.append({ i, pad: 'x'.repeat(100) });
      await log.close();
      assert.deepEqual((await readdir(dir)).sort(), ['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2']);
      for (const file of [path, `${path}.1`, `${path}.2`]) {
        for (const line of await readLines(file)) assert.doesNotThrow(() => JSON.parse(line), `${file}: whole records`);
      }
    });
  });

  describe('crash safety', () => {
    it('quarantines a file ending in a partial line and continues the chain from its last complete record', async () => {
      const path = join(base, 'partial', 'audit.jsonl');
      const first = await AuditLog.open({ path, chain: true });
      for (let i = 0; i < 3; i++) await first.append({ i });
      await first.close();
      const written = await readLines(path);
      await appendFile(path, '{"seq":3,"prev":"abc'); // a crash in the middle of a write
      const second = await AuditLog.open({ path, chain: true });
      await second.append({ after: 'crash' });
      await second.close();
      const quarantined = await readFile(`${path}.1`, 'utf8');
      assert.ok(quarantined.endsWith('"prev":"abc'), 'the damaged file is kept as it was');
      const damaged = await verifyAuditFiles([`${path}.1`]);
      assert.ok(!damaged.ok && damaged.line === 4 && /partial record/.test(damaged.reason), JSON.stringify(damaged));
      const next = await readLines(path);
      assert.equal(parse(next[0])['seq'], 3, 'the chain continues with the next seq');
      assert.equal(parse(next[0])['prev'], sha256Hex(written[2] ?? ''), 'linked to the last complete record');
      assert.ok((await verifyAuditFiles([path], { segment: true })).ok, 'the new file verifies as a segment');
    });
  });

  describe('failures', () => {
    it('fails with KP_ERR_AUDIT_WRITE when the file cannot be opened', async () => {
      const file = join(base, 'a-file');
      await writeFile(file, '');
      const target = join(base, 'target.jsonl');
      await writeFile(target, '');
      const link = join(base, 'link.jsonl');
      await symlink(target, link);
      const dirPath = join(base, 'a-directory');
      await mkdir(dirPath);
      const cases: Array<readonly [string, string]> = [
        ['under-a-file', join(file, 'audit.jsonl')],
        ['a-directory', dirPath],
        ['a-symlink', link],
      ];
      if (process.getuid?.() !== 0) {
        // root ignores file modes; everyone else cannot open a 0400 file for writing.
        const readOnly = join(base, 'read-only.jsonl');
        await writeFile(readOnly, '', { mode: 0o400 });
        cases.push(['read-only-file', readOnly]);
      }
      for (const [id, path] of cases) {
        await assert.rejects(AuditLog.open({ path }), (err) => isKubepairError(err, 'KP_ERR_AUDIT_WRITE'), id);
      }
    });

    it('rejects appends after close with KP_ERR_AUDIT_WRITE', async () => {
      const log = await AuditLog.open({ path: join(base, 'closed.jsonl') });
      await log.close();
      await log.close();
      await assert.rejects(log.append({ late: true }), (err) => isKubepairError(err, 'KP_ERR_AUDIT_WRITE'));
    });

    it('refuses a second writer for the same file in one process', async () => {
      const path = join(base, 'single.jsonl');
      const log = await AuditLog.open({ path });
      await assert.rejects(AuditLog.open({ path: join(base, '.', 'single.jsonl') }), (err) =>
        isKubepairError(err, 'KP_ERR_AUDIT_LOCKED'),
      );
      await log.close();
      const again = await AuditLog.open({ path });
      await again.close();
    });

    it('refuses invalid options with KP_ERR_INVALID_ARGUMENT', async () => {
      const path = join(base, 'options.jsonl');
      for (const [id, options] of [
        ['empty-path', { path: '' }],
        ['tiny-maxBytes', { path, maxBytes: 10 }],
        ['fractional-maxBytes', { path, maxBytes: 2048.5 }],
        ['zero-keep', { path, keep: 0 }],
        ['huge-keep', { path, keep: 10_000 }],
      ] as const) {
        await assert.rejects(AuditLog.open(options), (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'), id);
      }
    });

    it('refuses non-object and oversized records with KP_ERR_AUDIT_RECORD_INVALID', async () => {
      const log = await AuditLog.open({ path: join(base, 'invalid.jsonl') });
      await assert.rejects(
        log.append(['not', 'an', 'object'] as unknown as Record<string, unknown>),
        (err) => isKubepairError(err, 'KP_ERR_AUDIT_RECORD_INVALID'),
        'array',
      );
      const big = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`f${i}`, 'x'.repeat(AUDIT_RECORD_MAX_BYTES / 8)]));
      await assert.rejects(log.append(big), (err) => isKubepairError(err, 'KP_ERR_AUDIT_RECORD_INVALID'), 'oversized');
      await log.append({ fine: true });
      await log.close();
    });

    it('refuses appends beyond the backlog bound with KP_ERR_AUDIT_BACKLOG', async () => {
      const log = await AuditLog.open({ path: join(base, 'backlog.jsonl') });
      const writes = Array.from({ length: AUDIT_MAX_PENDING_RECORDS }, (_, i) => log.append({ i }));
      await assert.rejects(log.append({ over: true }), (err) => isKubepairError(err, 'KP_ERR_AUDIT_BACKLOG'));
      await Promise.all(writes);
      await log.append({ drained: true });
      await log.close();
    });

    it('syncs every record when asked', async () => {
      const path = join(base, 'fsync.jsonl');
      const log = await AuditLog.open({ path, chain: true, fsync: true });
      await log.append({ durable: true });
      await log.close();
      assert.ok((await verifyAuditFiles([path])).ok);
    });
  });

  describe('Security: a log deleted under the writer never swallows records', () => {
    it('the file deleted with its directory: the next record is written to the path again, and the chain shows the gap', async () => {
      const dir = join(base, 'deleted-dir');
      const path = join(dir, 'audit.jsonl');
      const log = await AuditLog.open({ path, chain: true });
      await log.append({ i: 0 });
      await rm(dir, { recursive: true, force: true });
      await log.append({ i: 1 });
      await log.close();
      const lines = await readLines(path);
      assert.equal(lines.length, 1, 'the record after the deletion is on disk at the path');
      assert.equal(parse(lines[0])['i'], 1);
      assert.equal(parse(lines[0])['seq'], 1, 'the chain goes on');
      assert.equal((await stat(dir)).mode & 0o777, 0o700);
      const verdict = await verifyAuditFiles([path]);
      assert.ok(!verdict.ok, 'verify reports that the head of the chain is missing');
    });

    it('the writer lock is taken again with the new file: a second writer is still refused', async () => {
      const dir = join(base, 'deleted-locked');
      const path = join(dir, 'audit.jsonl');
      const log = await AuditLog.open({ path });
      await log.append({ i: 0 });
      await rm(dir, { recursive: true, force: true });
      await log.append({ i: 1 });
      const second = await run(process.execPath, ['-e', `import(${JSON.stringify(repoPath('build/src/audit/audit-log.js'))}).then(({ AuditLog }) => AuditLog.open({ path: ${JSON.stringify(path)} })).then(() => console.log('opened'), (err) => console.log(err.code))`], { timeout: 20_000 });
      assert.equal(second.stdout.trim(), 'KP_ERR_AUDIT_LOCKED');
      await log.close();
    });

    it('fail closed: the directory replaced by a file, so the path cannot be opened again: the append rejects with KP_ERR_AUDIT_WRITE', async () => {
      const dir = join(base, 'replaced-dir');
      const path = join(dir, 'audit.jsonl');
      const log = await AuditLog.open({ path });
      await log.append({ i: 0 });
      await rm(dir, { recursive: true, force: true });
      await writeFile(dir, 'not a directory');
      await assert.rejects(log.append({ i: 1 }), (err: unknown) => isKubepairError(err) && err.code === 'KP_ERR_AUDIT_WRITE');
      assert.equal(log.lastError?.code, 'KP_ERR_AUDIT_WRITE', 'the agent refuses what it cannot audit');
      await log.close();
    });
  });

  describe('Security: a write error is surfaced (fail closed) unless fail-open is chosen', () => {
    const child = repoPath('build/test/helpers/audit-write-child.js');
    // RLIMIT_FSIZE of 2 blocks of 512 bytes: three ~300-byte records fit, the fourth is cut.
    const runChild = async (path: string, mode: string) => {
      const { stdout } = await run('sh', ['-c', 'ulimit -f 2 && exec "$0" "$@"', process.execPath, child, path, '5', mode], {
        timeout: 20_000,
      });
      return JSON.parse(stdout) as { outcomes: string[]; errorCount: number; reported: string[] };
    };

    it('fail closed: the failed append rejects with KP_ERR_AUDIT_WRITE and the log recovers by rotating', async () => {
      const path = join(base, 'efbig-closed', 'audit.jsonl');
      const result = await runChild(path, 'fail-closed');
      assert.deepEqual(result.outcomes, ['ok', 'ok', 'ok', 'KP_ERR_AUDIT_WRITE', 'ok']);
      assert.equal(result.errorCount, 1);
      assert.deepEqual(result.reported, ['KP_ERR_AUDIT_WRITE']);
      const damaged = await verifyAuditFiles([`${path}.1`]);
      assert.ok(!damaged.ok && damaged.line === 4 && /partial record/.test(damaged.reason), JSON.stringify(damaged));
      const good = await readLines(`${path}.1`);
      const next = await readLines(path);
      assert.equal(parse(next[0])['prev'], sha256Hex(good[2] ?? ''), 'the chain skips the failed record');
      assert.equal(parse(next[0])['i'], 4, 'the record after the failure');
      assert.ok((await verifyAuditFiles([path], { segment: true })).ok);
    });

    it('fail open: the failed append resolves, and the failure is counted and reported', async () => {
      const path = join(base, 'efbig-open', 'audit.jsonl');
      const result = await runChild(path, 'fail-open');
      assert.deepEqual(result.outcomes, ['ok', 'ok', 'ok', 'ok', 'ok']);
      assert.equal(result.errorCount, 1);
      assert.deepEqual(result.reported, ['KP_ERR_AUDIT_WRITE']);
    });
  });
});
