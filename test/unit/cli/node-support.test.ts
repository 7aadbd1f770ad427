/** The Node.js releases the kubepair binary accepts: package.json's "engines", as data. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { SUPPORTED_NODE_RANGE, isSupportedNode, unsupportedNode } from '../../../src/cli/node-support.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { repoPath } from '../../helpers/paths.js';

describe('supported Node.js releases', () => {
  it('SUPPORTED_NODE_RANGE is package.json "engines".node', async () => {
    const pkg = JSON.parse(await readFile(repoPath('package.json'), 'utf8')) as { engines: { node: string } };
    assert.equal(SUPPORTED_NODE_RANGE, pkg.engines.node);
  });

  it('accepts line 22 from 22.19.0, line 24 and later lines; refuses 20 (end of life), 22 before 22.19, 23 and non-versions', () => {
    const cases: ReadonlyArray<readonly [version: string, supported: boolean]> = [
      ['22.19.0', true],
      ['22.23.5', true],
      ['v22.20.0', true],
      ['24.0.0', true],
      ['24.22.3', true],
      ['25.1.0', true],
      ['26.12.1', true],
      ['20.20.2', false],
      ['20.19.0', false],
      ['21.7.3', false],
      ['22.18.0', false],
      ['22.0.0', false],
      ['23.11.1', false],
      ['18.20.8', false],
      ['', false],
      ['twenty-four', false],
    ];
    for (const [version, supported] of cases) assert.equal(isSupportedNode(version), supported, `${JSON.stringify(version)}`);
  });

  it('an unsupported release is KP_ERR_NODE_UNSUPPORTED (exit 1) naming it and the supported lines; a supported one is no error', () => {
    const err = unsupportedNode('20.20.2');
    assert.ok(isKubepairError(err, 'KP_ERR_NODE_UNSUPPORTED'));
    assert.equal(err.exitCode, 1);
    assert.equal(
      err.message,
      'this Node.js release is not supported: this is 20.20.2; kubepair runs on Node.js 22 (22.19.0 or later) and on Node.js 24 or later (README "Node.js")',
    );
    assert.equal(unsupportedNode('24.22.3'), undefined);
  });
});
