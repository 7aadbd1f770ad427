/**
 * `kubepair share` option checks for passthrough mode (src/cli/share-command.ts): combinations
 * that cannot work, or that would hand the client a wider identity than the user asked for,
 * fail at once with exit code 2 and one clear line, before the kubeconfig, the relay or the API
 * server is touched (the relay URL below has nothing listening).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runKubepair } from '../../helpers/cli.js';

const ENV: NodeJS.ProcessEnv = {
  PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  HOME: '/nonexistent',
  KUBEPAIR_RELAY: 'http://127.0.0.1:9',
  KUBECONFIG: '/nonexistent/kubeconfig',
};

const cases: Array<[string, readonly string[], RegExp]> = [
  ['--as with passthrough', ['--mode', 'passthrough', '--as', 'jane'], /passthrough mode cannot impersonate \(--as, --as-group\); use --service-account NS\/NAME/],
  ['--as-group with passthrough', ['--mode', 'passthrough', '--as-group', 'devs'], /passthrough mode cannot impersonate/],
  ['--service-account in proxy mode', ['--service-account', 'default/pair-bot'], /--service-account applies to --mode passthrough only/],
  ['a --service-account that is not NAMESPACE/NAME', ['--mode', 'passthrough', '--service-account', 'pair-bot'], /--service-account "pair-bot" must be NAMESPACE\/NAME/],
  ['a policy with passthrough', ['--mode', 'passthrough', '--policy', 'readonly'], /passthrough mode cannot enforce --policy/],
];

describe('kubepair share options (passthrough)', () => {
  for (const [what, args, message] of cases) {
    it(`Security: refuses ${what} with exit 2 before contacting anything`, { timeout: 40_000 }, async () => {
      const result = await runKubepair(['share', ...args], { env: ENV });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, 'one line');
      assert.equal(result.stdout, '', 'no pairing code');
    });
  }
});
