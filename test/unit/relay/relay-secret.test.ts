/**
 * The relay secret in the state directory (docs/design.md §8.1): created once, exclusively, 0600 in
 * a 0700 directory; the same secret on every later start; an unsafe or damaged file stops the
 * relay instead of being used or silently replaced.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { RELAY_SECRET_FILE, openRelaySecret } from '../../../src/relay/relay-secret.js';
import { privateTempDir } from '../../helpers/relay-process.js';

const stateError = (pattern: RegExp) => (err: unknown): boolean => isKubepairError(err, 'KP_ERR_RELAY_STATE_DIR') && pattern.test((err as Error).message);

describe('relay secret', () => {
  let base: string;
  before(async () => {
    base = await privateTempDir('kubepair-relay-secret-');
  });
  after(() => rm(base, { recursive: true, force: true }));

  it('is created on first start: 32 bytes, file 0600 in a new 0700 directory, no temporary file left', async () => {
    const dir = join(base, 'fresh', 'relay');
    const first = await openRelaySecret(dir);
    assert.equal(first.origin, 'created');
    assert.equal(first.value.length, 32);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const file = join(dir, RELAY_SECRET_FILE);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await readFile(file), first.value);
    assert.deepEqual(await readdir(dir), [RELAY_SECRET_FILE]);
    const again = await openRelaySecret(dir);
    assert.equal(again.origin, 'loaded');
    assert.deepEqual(again.value, first.value, 'a restart reads the same secret');
  });

  it('relays starting together on one directory end up with one secret', async () => {
    const dir = join(base, 'race');
    const opened = await Promise.all(Array.from({ length: 8 }, () => openRelaySecret(dir)));
    assert.equal(opened.filter((secret) => secret.origin === 'created').length, 1, 'exactly one created it');
    for (const secret of opened) assert.deepEqual(secret.value, opened[0]?.value);
    assert.deepEqual(await readdir(dir), [RELAY_SECRET_FILE]);
  });

  describe('Security: an unsafe or damaged state is refused, never used or replaced', () => {
    it('a state directory open to other users', async () => {
      const dir = join(base, 'open');
      await mkdir(dir, { mode: 0o755 });
      await chmod(dir, 0o755);
      await assert.rejects(openRelaySecret(dir), stateError(/open to other users \(mode 755\); run: chmod 700/));
    });

    it('a secret file readable by others (it may have leaked)', async () => {
      const dir = join(base, 'loose');
      const secret = await openRelaySecret(dir);
      await chmod(join(dir, RELAY_SECRET_FILE), 0o644);
      await assert.rejects(openRelaySecret(dir), stateError(/readable or writable by other users \(mode 644\).*remove it \(this ends every session\)/));
      assert.deepEqual(await readFile(join(dir, RELAY_SECRET_FILE)), secret.value, 'left as it was');
    });

    it('a secret file of the wrong size (damaged)', async () => {
      const dir = join(base, 'short');
      await mkdir(dir, { mode: 0o700 });
      await writeFile(join(dir, RELAY_SECRET_FILE), Buffer.alloc(31), { mode: 0o600 });
      await assert.rejects(openRelaySecret(dir), stateError(/is 31 bytes, not 32: it is damaged/));
    });

    it('a symbolic link in place of the secret file', async () => {
      const dir = join(base, 'link');
      await mkdir(dir, { mode: 0o700 });
      const elsewhere = join(base, 'elsewhere');
      await writeFile(elsewhere, Buffer.alloc(32), { mode: 0o600 });
      await symlink(elsewhere, join(dir, RELAY_SECRET_FILE));
      await assert.rejects(openRelaySecret(dir), stateError(/is a symbolic link; refusing to follow it/));
    });

    it('a directory in place of the secret file', async () => {
      const dir = join(base, 'dir');
      await mkdir(join(dir, RELAY_SECRET_FILE), { recursive: true, mode: 0o700 });
      await assert.rejects(openRelaySecret(dir), stateError(/is not a regular file/));
    });
  });
});
