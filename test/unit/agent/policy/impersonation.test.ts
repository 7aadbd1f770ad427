/** Impersonation headers become RBAC-shaped actions; anything that could hide a value is refused. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { impersonationActions } from '../../../../src/agent/policy/impersonation.js';
import { POLICY_MAX_IMPERSONATION_VALUES } from '../../../../src/limits.js';

describe('impersonationActions', () => {
  it('none: ordinary headers give no action', () => {
    const got = impersonationActions({ accept: 'application/json', 'user-agent': 'kubectl', authorization: undefined });
    assert.deepEqual(got, { ok: true, actions: [] }, 'none');
  });

  it('user-group-uid-extra: each header value is one action, names matched case-insensitively', () => {
    const got = impersonationActions({
      'Impersonate-User': 'alice',
      'impersonate-group': ['dev', 'ops'],
      'IMPERSONATE-UID': '1234',
      'impersonate-extra-scopes': 'view',
    });
    assert.ok(got.ok, 'user-group-uid-extra: ok');
    assert.deepEqual(
      got.actions.map((a) => [a.verb, a.group, a.resource, a.subresource, a.namespace, a.name]),
      [
        ['impersonate', '', 'users', '', '', 'alice'],
        ['impersonate', '', 'groups', '', '', 'dev'],
        ['impersonate', '', 'groups', '', '', 'ops'],
        ['impersonate', 'authentication.k8s.io', 'uids', '', '', '1234'],
        ['impersonate', 'authentication.k8s.io', 'userextras', 'scopes', '', 'view'],
      ],
      'user-group-uid-extra: actions',
    );
  });

  it('service-account: system:serviceaccount:NS:NAME is impersonate serviceaccounts in NS', () => {
    const got = impersonationActions({ 'impersonate-user': 'system:serviceaccount:ci:builder' });
    assert.ok(got.ok, 'service-account: ok');
    assert.deepEqual(
      got.actions.map((a) => [a.resource, a.namespace, a.name]),
      [['serviceaccounts', 'ci', 'builder']],
      'service-account: action',
    );
  });

  it('comma: a comma-joined value is refused as ambiguous', () => {
    const got = impersonationActions({ 'impersonate-group': 'dev, system:masters' });
    assert.equal(got.ok, false, 'comma: not ok');
    if (!got.ok) assert.ok(got.problem.includes('comma'), `comma: ${got.problem}`);
  });

  it('unknown-header: an unknown Impersonate- header is refused as ambiguous', () => {
    const got = impersonationActions({ 'impersonate-usr': 'alice' });
    assert.equal(got.ok, false, 'unknown-header: not ok');
  });

  it('too-many: more than POLICY_MAX_IMPERSONATION_VALUES values are refused', () => {
    const groups = Array.from({ length: POLICY_MAX_IMPERSONATION_VALUES + 1 }, (_, i) => `g${i}`);
    const got = impersonationActions({ 'impersonate-group': groups });
    assert.equal(got.ok, false, 'too-many: not ok');
    assert.equal(impersonationActions({ 'impersonate-group': groups.slice(1) }).ok, true, 'too-many: the maximum is fine');
  });
});
