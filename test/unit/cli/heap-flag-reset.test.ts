/**
 * The launch line's heap flag is put back to V8's default once the heap is sized
 * (src/cli/heap-flag-reset.ts): with `--initial-old-space-size` in force, V8 rejects the code
 * cache built into Node.js for every one of Node.js's own modules; after the reset, the modules
 * loaded from then on take it. That the installed bundle runs the reset before the rest of
 * main.js loads (its builtins are `require`d as they are reached; tsc's build imports them all
 * when the module graph links, before any module runs) is checked in
 * test/e2e/installed-package.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { BIN_NODE_FLAGS, BIN_NODE_FLAG_DEFAULTS } from '../../../src/cli/node-flags.js';
import { repoPath } from '../../helpers/paths.js';
import { CODE_CACHE_DEBUG_ENV, builtinCodeCache } from '../../helpers/code-cache.js';

const RUN_TIMEOUT_MS = 30_000;
/** tsc's build of src/cli/heap-flag-reset.ts (the package's bundle holds it as dist/cli/heap-flag-reset.js). */
const RESET_MODULE = repoPath('build/src/cli/heap-flag-reset.js');

/** The name and value of a `--name=value` flag. */
function nameAndValue(flag: string): [string, string] {
  const match = /^(--[a-z0-9-]+)=(.*)$/.exec(flag);
  assert.ok(match !== null, flag);
  return [match[1]!, match[2]!];
}

describe('the launch line heap flag back at its default once the heap is sized', () => {
  it('BIN_NODE_FLAG_DEFAULTS names every flag of the launch line at the default `node --v8-options` gives', () => {
    const options = spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
    assert.equal(options.status, 0);
    assert.deepEqual(
      BIN_NODE_FLAG_DEFAULTS.map((flag) => nameAndValue(flag)[0]),
      BIN_NODE_FLAGS.map((flag) => nameAndValue(flag)[0]),
    );
    for (const flag of BIN_NODE_FLAG_DEFAULTS) {
      const [name] = nameAndValue(flag);
      assert.match(options.stdout, new RegExp(`default: ${flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`), `${name}: V8's default is not ${flag}`);
    }
  });

  it('with the flag on, the modules Node.js loads after heap-flag-reset.js take their built-in code cache', () => {
    const [flag] = BIN_NODE_FLAGS;
    // The compiled module itself, preloaded: node:v8 (which it imports) comes before it, http2
    // and tls after.
    const run = spawnSync(process.execPath, [flag!, '--import', RESET_MODULE, '-e', "require('node:http2'); require('node:tls')"], { encoding: 'utf8', timeout: RUN_TIMEOUT_MS, env: { ...process.env, ...CODE_CACHE_DEBUG_ENV } });
    assert.equal(run.status, 0, run.stderr.slice(-2000));
    const cache = builtinCodeCache(run.stderr);
    for (const name of ['http2', 'tls']) assert.ok(cache.accepted.includes(name), `${name}: accepted ${cache.accepted.join(' ')}; rejected ${cache.rejected.join(' ')}`);
  });

  it('the same flag with no reset: Node.js rejects its cache for every module (what the reset undoes)', () => {
    const [flag] = BIN_NODE_FLAGS;
    const run = spawnSync(process.execPath, [flag!, '-e', "require('node:http2'); require('node:tls')"], { encoding: 'utf8', timeout: RUN_TIMEOUT_MS, env: { ...process.env, ...CODE_CACHE_DEBUG_ENV } });
    assert.equal(run.status, 0, run.stderr.slice(-2000));
    const cache = builtinCodeCache(run.stderr);
    assert.ok(cache.rejected.length > 0 && cache.accepted.length === 0, `accepted ${cache.accepted.length}, rejected ${cache.rejected.length}`);
  });
});
