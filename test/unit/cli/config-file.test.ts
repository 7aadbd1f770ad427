/**
 * The user's config file (src/cli/config-file.ts): where it is, the errors a malformed file
 * gives (naming the file and the line, column or key), the refusal of a file other users may
 * change, and atomic 0600 writes.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configFilePath, configText, parseConfigText, readConfigFile, writeConfigFile } from '../../../src/cli/config-file.js';
import { checkSettingValue } from '../../../src/cli/settings.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { CONFIG_FILE_MAX_BYTES } from '../../../src/limits.js';
import { privateTempDir } from '../../helpers/relay-process.js';

const PATH = '/home/u/.config/kubepair/config.json';

function invalid(text: string, ...parts: string[]): void {
  assert.throws(
    () => parseConfigText(text, PATH),
    (err) => isKubepairError(err, 'KP_ERR_CONFIG_INVALID') && err.exitCode === 2 && err.message.includes(PATH) && parts.every((part) => err.message.includes(part)),
    `${JSON.stringify(text)} -> ${parts.join(', ')}`,
  );
}

describe('config file', () => {
  let dir: string;
  before(async () => {
    dir = await privateTempDir('kubepair-config-file-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('lives under $XDG_CONFIG_HOME when it is absolute, else ~/.config', () => {
    assert.equal(configFilePath({ XDG_CONFIG_HOME: '/x/conf' }, '/home/u'), '/x/conf/kubepair/config.json');
    assert.equal(configFilePath({ XDG_CONFIG_HOME: 'relative' }, '/home/u'), '/home/u/.config/kubepair/config.json');
    assert.equal(configFilePath({}, '/home/u'), '/home/u/.config/kubepair/config.json');
  });

  it('reads nested JSON into dotted keys', () => {
    const values = parseConfigText('{"relay": "https://relay.example.com", "share": {"policy": "readonly", "max-duration": "2h"}}', PATH);
    assert.deepEqual(values, { relay: 'https://relay.example.com', 'share.policy': 'readonly', 'share.max-duration': '2h' });
  });

  it('a malformed file names the file and the line and column of bad JSON, or the key of a bad value', () => {
    invalid('{\n  "relay": "https://x.example.com",,\n}', 'not valid JSON at line 2, column');
    invalid('{\n  "relay": "https://x.example.com"\n', 'not valid JSON at line 3');
    invalid('', 'not valid JSON at line 1');
    invalid('{\n  "relay": "https://x.example.com",\n  "share": {\n    "polcy": "open"\n  }\n}', '(line 4)', 'unknown key "share.polcy"');
    invalid('{"token": "kprt_x"}', 'unknown key "token"');
    invalid('{"insecure": true}', 'unknown key "insecure"');
    invalid('{\n"share": {\n"policy": "everything"}}', '(line 3)', '"share.policy"');
    invalid('{"relay": "relay.example.com"}', '"relay"', 'has no scheme; write https://relay.example.com');
    invalid('{"relay": "https://u:p@relay.example.com"}', '"relay"', 'credentials');
    invalid('{"relay-ca": "relative/ca.pem"}', '"relay-ca"', 'absolute path');
    invalid('{"share": {"max-duration": "10s"}}', '"share.max-duration"', 'at least 1m');
    invalid('[]', PATH);
    invalid('{"relay": 5}', '"relay"');
  });

  it('set values are checked by the same schema as the file', () => {
    assert.equal(checkSettingValue('share.policy', 'readonly'), 'readonly');
    assert.throws(() => checkSettingValue('share.policy', 'all'), (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT') && err.message.startsWith('invalid argument: share.policy:'));
    assert.throws(() => checkSettingValue('share.mode', 'tunnel'), (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'));
  });

  it('a missing file (or a missing directory on the way) is an empty configuration', () => {
    assert.deepEqual(readConfigFile(join(dir, 'none', 'config.json')), { path: join(dir, 'none', 'config.json'), exists: false, values: {} });
  });

  it('writes atomically with mode 0600 and reads back what it wrote, leaving no temporary file', async () => {
    const path = join(dir, 'write', 'kubepair', 'config.json');
    writeConfigFile(path, { 'share.policy': 'readonly', relay: 'https://relay.example.com' });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'write', 'kubepair'))).mode & 0o777, 0o700, 'a new kubepair directory is private');
    assert.equal(await readFile(path, 'utf8'), '{\n  "relay": "https://relay.example.com",\n  "share": {\n    "policy": "readonly"\n  }\n}\n');
    assert.deepEqual(readConfigFile(path).values, { relay: 'https://relay.example.com', 'share.policy': 'readonly' });
    writeConfigFile(path, { relay: 'https://other.example.com' });
    assert.equal(await readFile(path, 'utf8'), configText({ relay: 'https://other.example.com' }));
    assert.deepEqual(await readdir(join(dir, 'write', 'kubepair')), ['config.json'], 'no temporary file left');
  });

  it('a write that cannot happen is KP_ERR_CONFIG_WRITE naming the file, and leaves no temporary file', async () => {
    const blocker = join(dir, 'blocker');
    await writeFile(blocker, 'a file where the directory should be');
    assert.throws(() => writeConfigFile(join(blocker, 'kubepair', 'config.json'), {}), (err) => isKubepairError(err, 'KP_ERR_CONFIG_WRITE') && err.message.includes(blocker));
    const target = join(dir, 'dir-target');
    await mkdir(join(target, 'config.json'), { recursive: true }); // rename over a directory fails
    assert.throws(() => writeConfigFile(join(target, 'config.json'), { relay: 'https://r.example.com' }), (err) => isKubepairError(err, 'KP_ERR_CONFIG_WRITE'));
    assert.deepEqual(await readdir(target), ['config.json'], 'the temporary file was removed');
  });

  describe('Security: a config file others could change, or one that is not a small regular file, is not used', () => {
    for (const mode of [0o666, 0o664, 0o620, 0o602]) {
      it(`mode 0${mode.toString(8)}: KP_ERR_CONFIG_INSECURE with the chmod that fixes it`, async () => {
        const path = join(dir, `mode-${mode.toString(8)}.json`);
        await writeFile(path, '{"relay": "https://attacker.example.com"}');
        await chmod(path, mode);
        assert.throws(
          () => readConfigFile(path),
          (err) => isKubepairError(err, 'KP_ERR_CONFIG_INSECURE') && err.exitCode === 2 && err.message.includes(`run: chmod 600 ${path}`) && err.message.includes(`mode 0${mode.toString(8)}`),
        );
      });
    }

    it('a readable-by-all 0644 file is fine (it holds no secret)', async () => {
      const path = join(dir, 'mode-644.json');
      await writeFile(path, '{"relay": "https://relay.example.com"}', { mode: 0o644 });
      assert.equal(readConfigFile(path).values.relay, 'https://relay.example.com');
    });

    it('a symlink is judged by the file it reaches: one to a group-writable file is refused', async () => {
      const target = join(dir, 'shared.json');
      await writeFile(target, '{"relay": "https://attacker.example.com"}');
      await chmod(target, 0o666);
      const link = join(dir, 'link.json');
      await symlink(target, link);
      assert.throws(() => readConfigFile(link), (err) => isKubepairError(err, 'KP_ERR_CONFIG_INSECURE'));
    });

    it('a directory, an oversized file or bytes that are not UTF-8 are KP_ERR_CONFIG_INVALID', async () => {
      const asDir = join(dir, 'as-dir.json');
      await mkdir(asDir);
      assert.throws(() => readConfigFile(asDir), (err) => isKubepairError(err, 'KP_ERR_CONFIG_INVALID') && err.message.includes('not a regular file'));
      const big = join(dir, 'big.json');
      await writeFile(big, `{"relay": "https://relay.example.com", "pad": "${'x'.repeat(CONFIG_FILE_MAX_BYTES)}"}`, { mode: 0o600 });
      assert.throws(() => readConfigFile(big), (err) => isKubepairError(err, 'KP_ERR_CONFIG_INVALID') && err.message.includes(`larger than ${CONFIG_FILE_MAX_BYTES} bytes`));
      const binary = join(dir, 'binary.json');
      await writeFile(binary, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { mode: 0o600 });
      assert.throws(() => readConfigFile(binary), (err) => isKubepairError(err, 'KP_ERR_CONFIG_INVALID') && err.message.includes('not UTF-8'));
    });
  });
});
