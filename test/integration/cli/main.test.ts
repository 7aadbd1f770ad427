/** The kubepair binary as a user meets it: version, help, and clean failures. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { VERSION } from '../../../src/version.js';
import { runKubepair } from '../../helpers/cli.js';
import { repoPath } from '../../helpers/paths.js';

describe('kubepair CLI', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(repoPath('package.json'), 'utf8')) as { version: string };
    assert.equal(VERSION, pkg.version, 'src/version.ts matches package.json');
    const result = await runKubepair(['--version']);
    assert.equal(result.code, 0);
    assert.equal(result.stdout.trim(), pkg.version);
  });

  it('--help explains the three roles and exits 0', async () => {
    const result = await runKubepair(['--help']);
    assert.equal(result.code, 0);
    for (const word of ['kubepair relay', 'kubepair share', 'kubepair connect', 'pairing code']) {
      assert.ok(result.stdout.includes(word), `help mentions ${word}`);
    }
  });

  it('an unknown option is a usage error: exit 2, one clear line, no stack trace', async () => {
    const result = await runKubepair(['--no-such-option']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown option '--no-such-option'/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  it('no arguments prints the usage to stderr and exits 2', async () => {
    const result = await runKubepair([]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Usage: kubepair/);
  });
});
