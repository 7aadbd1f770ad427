/** The session description schema: what the client accepts from the agent (docs/design.md §4). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sanitizeClusterName } from '../../../src/session/cluster-name.js';
import { parseSessionDescription } from '../../../src/protocol/session-description.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n';

const proxy = {
  type: 'session',
  cluster: { name: 'prod-eu' },
  mode: 'proxy',
  policy: { mode: 'guarded', allow: [], deny: ['delete pods'] },
  targets: ['kube-apiserver', 'redis'],
  expires_at: '2026-11-22T07:00:00Z',
};
const passthrough = {
  ...proxy,
  cluster: { name: 'prod-eu', server_name: 'kubernetes.default.svc', ca: CA },
  mode: 'passthrough',
  credentials: { client_certificate: CA, client_key: KEY },
};

describe('session description', () => {
  it('accepts a proxy and a passthrough description', () => {
    assert.equal(parseSessionDescription(proxy).mode, 'proxy');
    assert.equal(parseSessionDescription(passthrough).credentials !== undefined, true);
    assert.equal(parseSessionDescription({ ...passthrough, credentials: { token: 'abc.def' } }).mode, 'passthrough');
  });

  const refused: Array<[string, unknown, RegExp]> = [
    ['unknown field', { ...proxy, extra: 1 }, /Unrecognized key: "extra"/],
    ['unknown cluster field', { ...proxy, cluster: { name: 'x', insecure: true } }, /cluster/],
    ['no kube-apiserver target', { ...proxy, targets: ['redis'] }, /targets: must offer kube-apiserver/],
    ['repeated target', { ...proxy, targets: ['kube-apiserver', 'kube-apiserver'] }, /targets repeat/],
    ['target with a colon', { ...proxy, targets: ['kube-apiserver', 'evil:22'] }, /targets/],
    ['credentials in proxy mode', { ...proxy, credentials: { token: 't' } }, /never sent in proxy mode/],
    ['passthrough without CA', { ...passthrough, cluster: { name: 'x', server_name: 'kubernetes' } }, /cluster.ca: required/],
    ['passthrough without credentials', { ...passthrough, credentials: undefined }, /credentials: required/],
    ['CA that is not PEM', { ...passthrough, cluster: { ...passthrough.cluster, ca: 'rm -rf /' } }, /PEM/],
    ['server name with a slash', { ...passthrough, cluster: { ...passthrough.cluster, server_name: 'a/b' } }, /DNS name/],
    ['bad expiry', { ...proxy, expires_at: 'tomorrow' }, /expires_at/],
    ['bad policy mode', { ...proxy, policy: { mode: 'yolo', allow: [], deny: [] } }, /policy.mode/],
    ['token with a newline', { ...passthrough, credentials: { token: 'a\nb' } }, /credentials/],
    ['huge cluster name', { ...proxy, cluster: { name: 'x'.repeat(300) } }, /cluster.name/],
  ];
  for (const [name, input, pattern] of refused) {
    it(`Security: refuses ${name} with KP_ERR_SESSION_DESCRIPTION`, () => {
      assert.throws(
        () => parseSessionDescription(input),
        (err: { code?: string; message?: string }) => err.code === 'KP_ERR_SESSION_DESCRIPTION' && pattern.test(err.message ?? ''),
        name,
      );
    });
  }
});

describe('Security: cluster names are sanitized before any use', () => {
  const cases: Array<[string, string]> = [
    ['../../x; rm -rf ~', 'xrm-rf'],
    ['prod-eu.example_1', 'prod-eu.example_1'],
    ['$(reboot)`id`', 'rebootid'],
    ['..', 'cluster'],
    ['', 'cluster'],
    ['名前', 'cluster'],
    ['a'.repeat(100), 'a'.repeat(64)],
    ['-rf', 'rf'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input.slice(0, 24))} → ${JSON.stringify(expected.slice(0, 24))}`, () => {
      const out = sanitizeClusterName(input);
      assert.equal(out, expected);
      assert.match(out, /^[a-zA-Z0-9_][a-zA-Z0-9._-]*$/);
    });
  }
});
