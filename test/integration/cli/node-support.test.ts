/**
 * The kubepair binary on a Node.js release it does not support (npm only warns about
 * "engines"): one line naming the release and the supported lines, exit 1, nothing run. On
 * Node.js 20 `kubepair share` used to end in an internal error with undici's stack trace.
 * Other releases are played by this Node.js: a module given to `--import` redefines
 * `process.versions.node` before the binary starts. A dependency that fails as it loads on an
 * old Node.js (undici 8 on Node.js 20) is played by a load hook that makes every module under
 * node_modules throw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLI_PATH, runKubepair } from '../../helpers/cli.js';

/** A module loaded by `--import` that makes loading anything under node_modules throw, as undici 8 does on Node.js 20. */
const DEPENDENCIES_FAIL = [
  "import { registerHooks } from 'node:module';",
  'registerHooks({ load(url, context, nextLoad) {',
  "  if (url.includes('/node_modules/')) throw new Error('a dependency failed to load: ' + url);",
  '  return nextLoad(url, context);',
  '} });',
].join('\n');

/** Run the built kubepair as if this Node.js were `version`; with `dependenciesFail` no dependency loads. */
function kubepairOn(version: string, args: readonly string[], options: { dependenciesFail?: boolean } = {}) {
  const pretend =
    `Object.defineProperty(process.versions, 'node', { value: ${JSON.stringify(version)} });` + (options.dependenciesFail === true ? DEPENDENCIES_FAIL : '');
  return runKubepair(['--import', `data:text/javascript,${encodeURIComponent(pretend)}`, CLI_PATH, ...args], {
    program: process.execPath,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', KUBEPAIR_RELAY: 'http://127.0.0.1:1', KUBEPAIR_TOKEN: 'kprt_not-used' },
    timeoutMs: 30_000,
  });
}

describe('kubepair on an unsupported Node.js', () => {
  it('on Node.js 20 and 23 every command stops at once with one line and exit 1; share never starts', async () => {
    for (const version of ['20.20.2', '23.11.1']) {
      for (const args of [['--version'], ['share', '--kubeconfig', '/nonexistent'], ['relay', '--listen', '127.0.0.1:0'], ['connect', '42-1234-5678']]) {
        const result = await kubepairOn(version, args);
        assert.deepEqual(
          [result.code, result.stdout, result.stderr],
          [
            1,
            '',
            `kubepair: this Node.js release is not supported: this is ${version}; kubepair runs on Node.js 22 (22.19.0 or later) and on Node.js 24 or later (README "Node.js")\n`,
          ],
          `${version} kubepair ${args.join(' ')}`,
        );
      }
    }
  });

  it('the check comes before any dependency loads: on Node.js 20 a dependency that cannot load there is never loaded', async () => {
    const result = await kubepairOn('20.20.2', ['share', '--kubeconfig', '/nonexistent'], { dependenciesFail: true });
    assert.deepEqual(
      [result.code, result.stderr],
      [1, 'kubepair: this Node.js release is not supported: this is 20.20.2; kubepair runs on Node.js 22 (22.19.0 or later) and on Node.js 24 or later (README "Node.js")\n'],
    );
    // The hook is live: on a supported release the same command reaches the dependencies and fails on them.
    const supported = await kubepairOn('24.0.0', ['share', '--kubeconfig', '/nonexistent'], { dependenciesFail: true });
    assert.notEqual(supported.code, 0);
    assert.match(supported.stderr, /a dependency failed to load/);
  });

  it('on a supported release the same binary runs (the check passes Node.js 22.19.0 and 24)', async () => {
    for (const version of ['22.19.0', '24.0.0']) {
      const result = await kubepairOn(version, ['--version']);
      assert.deepEqual([result.code, result.stderr], [0, ''], version);
      assert.match(result.stdout, /^\d+\.\d+\.\d+\n$/);
    }
  });
});
