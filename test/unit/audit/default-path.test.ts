/** The default audit log location: XDG_STATE_HOME when absolute, else ~/.local/state; directory 0700. */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultAuditLogPath, prepareDefaultAuditLogPath } from '../../../src/audit/default-path.js';
import { isKubepairError } from '../../../src/errors/index.js';

describe('default audit log path', { timeout: 10_000 }, async () => {
  const base = await mkdtemp(join(tmpdir(), 'kubepair-xdg-'));
  after(() => rm(base, { recursive: true, force: true }));

  const cases: ReadonlyArray<readonly [string, NodeJS.ProcessEnv, string]> = [
    ['xdg-absolute', { XDG_STATE_HOME: '/var/state' }, '/var/state/kubepair/audit.jsonl'],
    ['xdg-relative-ignored', { XDG_STATE_HOME: 'state' }, '/home/u/.local/state/kubepair/audit.jsonl'],
    ['xdg-empty-ignored', { XDG_STATE_HOME: '' }, '/home/u/.local/state/kubepair/audit.jsonl'],
    ['xdg-unset', {}, '/home/u/.local/state/kubepair/audit.jsonl'],
  ];
  for (const [id, env, expected] of cases) {
    it(id, () => assert.equal(defaultAuditLogPath(env, '/home/u'), expected, id));
  }

  it('creates the kubepair directory with mode 0700', async () => {
    const path = await prepareDefaultAuditLogPath({ XDG_STATE_HOME: join(base, 'fresh') }, '/nonexistent');
    assert.equal(path, join(base, 'fresh', 'kubepair', 'audit.jsonl'));
    assert.equal((await stat(join(base, 'fresh', 'kubepair'))).mode & 0o777, 0o700);
  });

  it('tightens an existing kubepair directory to 0700', async () => {
    const dir = join(base, 'loose', 'kubepair');
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o755);
    await prepareDefaultAuditLogPath({ XDG_STATE_HOME: join(base, 'loose') });
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
  });

  it('fails with KP_ERR_AUDIT_WRITE when the directory cannot be made', async () => {
    const file = join(base, 'a-file');
    await writeFile(file, '');
    await assert.rejects(prepareDefaultAuditLogPath({ XDG_STATE_HOME: file }), (err) =>
      isKubepairError(err, 'KP_ERR_AUDIT_WRITE'),
    );
  });
});
