/** Child processes never inherit secret-looking variables (docs/design.md §7). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { childEnvironment, withheldVariables } from '../../../src/process/child-env.js';

describe('Security: child environment', () => {
  it('strips TOKEN/SECRET/PASSWORD/CREDENTIAL and KUBEPAIR_ variables, keeps the rest, adds extras', () => {
    const env = {
      PATH: '/usr/bin',
      HOME: '/home/u',
      GITHUB_TOKEN: 'x',
      aws_secret_access_key: 'y',
      DB_PASSWORD: 'z',
      GOOGLE_APPLICATION_CREDENTIALS: '/k.json',
      KUBEPAIR_TOKEN: 'kprt_...',
      KUBEPAIR_RELAY: 'wss://r',
      MYSQL_PASSWD: 'p',
    };
    const out = childEnvironment(env, { KUBECONFIG: '/run/x' });
    assert.deepEqual(Object.keys(out).sort(), ['HOME', 'KUBECONFIG', 'PATH']);
    assert.deepEqual(withheldVariables(env), [
      'DB_PASSWORD',
      'GITHUB_TOKEN',
      'GOOGLE_APPLICATION_CREDENTIALS',
      'KUBEPAIR_RELAY',
      'KUBEPAIR_TOKEN',
      'MYSQL_PASSWD',
      'aws_secret_access_key',
    ]);
  });
});
