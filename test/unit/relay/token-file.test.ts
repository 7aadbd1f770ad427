/**
 * The relay tokens file: tokens are shown once and stored as SHA-256 digests, the file is 0600
 * in a 0700 directory, writes are atomic, and unsafe or malformed files are refused.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { createToken, listTokens, readLastUsed, readTokens, revokeToken, writeLastUsed } from '../../../src/relay/token-file.js';
import { privateTempDir } from '../../helpers/relay-process.js';

describe('relay tokens file', { timeout: 60_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await privateTempDir('kubepair-token-file-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('creates the directory 0700 and the file 0600, storing only the SHA-256 of a kprt_ token', async () => {
    const file = join(dir, 'a', 'b', 'tokens.json');
    const token = await createToken(file, 'agent-1', 'agent');
    assert.match(token, /^kprt_[A-Za-z0-9_-]{43}$/);
    assert.equal((await stat(join(dir, 'a', 'b'))).mode & 0o777, 0o700);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const text = await readFile(file, 'utf8');
    assert.ok(!text.includes(token));
    const [entry] = await readTokens(file, false);
    assert.equal(entry?.sha256, createHash('sha256').update(token).digest('hex'));
    assert.equal(entry?.scope, 'agent');
    assert.deepEqual(await readdir(join(dir, 'a', 'b')), ['tokens.json'], 'no temp or lock file left behind');
  });

  it('two tokens never collide; names are unique; revoke removes exactly one', async () => {
    const file = join(dir, 'unique.json');
    const a = await createToken(file, 'a', 'client');
    const b = await createToken(file, 'b', 'client');
    assert.notEqual(a, b);
    await assert.rejects(createToken(file, 'a', 'agent'), (err) => isKubepairError(err, 'KP_ERR_RELAY_TOKEN_EXISTS'));
    await revokeToken(file, 'a');
    assert.deepEqual((await listTokens(file)).map((t) => t.name), ['b']);
    await assert.rejects(revokeToken(file, 'a'), (err) => isKubepairError(err, 'KP_ERR_RELAY_TOKEN_UNKNOWN'));
  });

  it('refuses bad names and scopes with KP_ERR_INVALID_ARGUMENT', async () => {
    const file = join(dir, 'names.json');
    for (const name of ['', '-x', '../x', 'a b', 'x'.repeat(65), 'é']) {
      await assert.rejects(createToken(file, name, 'agent'), (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'), name);
    }
    await assert.rejects(createToken(file, 'x', 'root' as 'agent'), (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'));
  });

  it('Security: refuses a file readable by others, a symlink, an open directory', async () => {
    const sub = join(dir, 'perm');
    const file = join(sub, 'tokens.json');
    await createToken(file, 'x', 'agent');
    await chmod(file, 0o640);
    await assert.rejects(readTokens(file, false), (err) => isKubepairError(err, 'KP_ERR_RELAY_TOKENS_FILE') && /mode 640/.test((err as Error).message));
    await chmod(file, 0o600);
    const link = join(sub, 'link.json');
    await symlink(file, link);
    await assert.rejects(readTokens(link, false), (err) => isKubepairError(err, 'KP_ERR_RELAY_TOKENS_FILE') && /symbolic link/.test((err as Error).message));
    await chmod(sub, 0o750);
    await assert.rejects(readTokens(file, false), (err) => isKubepairError(err, 'KP_ERR_RELAY_TOKENS_FILE') && /mode 750/.test((err as Error).message));
    await assert.rejects(createToken(file, 'y', 'agent'), (err) => isKubepairError(err, 'KP_ERR_RELAY_TOKENS_FILE'));
    await chmod(sub, 0o700);
  });

  it('refuses malformed files: bad JSON, wrong schema, duplicate names', async () => {
    const sub = join(dir, 'bad');
    await mkdir(sub, { mode: 0o700 });
    const cases: Array<[string, RegExp]> = [
      ['{', /not valid JSON/],
      ['{"version":2,"tokens":[]}', /not a kubepair tokens file/],
      ['{"version":1,"tokens":[{"name":"a","scope":"agent","sha256":"00","created_at":"2026-01-01T00:00:00Z"}]}', /not a kubepair tokens file/],
      [
        JSON.stringify({
          version: 1,
          tokens: [
            { name: 'a', scope: 'agent', sha256: 'a'.repeat(64), created_at: '2026-01-01T00:00:00Z' },
            { name: 'a', scope: 'client', sha256: 'b'.repeat(64), created_at: '2026-01-01T00:00:00Z' },
          ],
        }),
        /names "a" twice/,
      ],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const file = join(sub, `f${i}.json`);
      await writeFile(file, text, { mode: 0o600 });
      await assert.rejects(readTokens(file, false), (err) => isKubepairError(err, 'KP_ERR_RELAY_TOKENS_FILE') && message.test((err as Error).message), text);
    }
    await assert.rejects(readTokens(join(sub, 'missing.json'), false), (err) => isKubepairError(err, 'KP_ERR_RELAY_TOKENS_FILE') && /does not exist/.test((err as Error).message));
    assert.deepEqual(await readTokens(join(sub, 'missing.json'), true), []);
  });

  it('refuses to run two token commands at once (lock file)', async () => {
    const file = join(dir, 'locked.json');
    await writeFile(`${file}.lock`, '', { mode: 0o600 });
    await assert.rejects(createToken(file, 'x', 'agent'), (err) => isKubepairError(err, 'KP_ERR_RELAY_TOKENS_FILE') && /another token command/.test((err as Error).message));
    await rm(`${file}.lock`);
    await createToken(file, 'x', 'agent');
  });

  it('lists last use from the relay\'s sidecar file, never the token or its digest', async () => {
    const file = join(dir, 'used.json');
    await createToken(file, 'used', 'agent');
    await createToken(file, 'unused', 'agent');
    const [used] = await readTokens(file, false);
    await writeLastUsed(file, new Map([[used?.sha256 ?? '', '2026-05-01T10:00:00.000Z']]));
    assert.equal((await stat(`${file}.last-used`)).mode & 0o777, 0o600);
    const listing = await listTokens(file);
    assert.deepEqual(listing.map((t) => [t.name, t.lastUsedAt]), [
      ['used', '2026-05-01T10:00:00.000Z'],
      ['unused', undefined],
    ]);
    assert.ok(!JSON.stringify(listing).includes(used?.sha256 ?? 'x'));
    assert.equal((await readLastUsed(file)).size, 1);
  });

  it('writes in a directory outside tmp stay inside their directory (temp file next to the target)', async () => {
    const file = join(dir, 'atomic', 'tokens.json');
    await createToken(file, 'one', 'agent');
    await createToken(file, 'two', 'agent');
    assert.deepEqual((await readdir(join(dir, 'atomic'))).sort(), ['tokens.json']);
    assert.ok(!(await readdir(tmpdir())).some((name) => name.startsWith('.tokens.json')));
  });
});
