/** The append-only audit log: permissions, order, redaction, and surfaced write errors. */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AuditLog } from '../../../src/audit/audit-log.js';
import { isKubepairError } from '../../../src/errors/index.js';

describe('AuditLog', async () => {
  const base = await mkdtemp(join(tmpdir(), 'kubepair-audit-'));
  after(() => rm(base, { recursive: true, force: true }));

  it('creates the directory 0700 and the file 0600, and appends lines in call order', async () => {
    const path = join(base, 'state', 'audit.jsonl');
    const log = await AuditLog.open({ path });
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append({ seq: i })));
    await log.close();
    assert.equal((await stat(join(base, 'state'))).mode & 0o777, 0o700);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
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
    assert.equal((await readFile(path, 'utf8')).trimEnd().split('\n').length, 2);
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

  it('fails with KP_ERR_AUDIT_WRITE when the file cannot be opened', async () => {
    const dir = join(base, 'readonly');
    const log = await AuditLog.open({ path: join(dir, 'first.jsonl') });
    await log.close();
    await chmod(dir, 0o500);
    try {
      // root ignores directory permissions, so also try a path under a regular file.
      const blocked = process.getuid?.() === 0 ? join(dir, 'first.jsonl', 'child.jsonl') : join(dir, 'second.jsonl');
      await assert.rejects(AuditLog.open({ path: blocked }), (err) => isKubepairError(err, 'KP_ERR_AUDIT_WRITE'));
    } finally {
      await chmod(dir, 0o700);
    }
  });

  it('rejects appends after close with KP_ERR_AUDIT_WRITE', async () => {
    const log = await AuditLog.open({ path: join(base, 'closed.jsonl') });
    await log.close();
    await assert.rejects(log.append({ late: true }), (err) => isKubepairError(err, 'KP_ERR_AUDIT_WRITE'));
  });
});
