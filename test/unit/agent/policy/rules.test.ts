/** --allow / --deny rules: the grammar, every parse error with its code and column, and matching. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKubepairError } from '../../../../src/errors/index.js';
import { POLICY_MAX_RULES, POLICY_RULE_MAX_CHARS } from '../../../../src/limits.js';
import type { PolicyAction } from '../../../../src/agent/policy/policy-action.js';
import { requestAttributes } from '../../../../src/agent/policy/request-attributes.js';
import { parseRule, parseRules, ruleLabel, ruleMatches } from '../../../../src/agent/policy/rules.js';
import type { RuleKind } from '../../../../src/agent/policy/rules.js';

/** Request attributes for a method and target, which must not be ambiguous. */
function action(method: string, target: string): PolicyAction {
  const attributes = requestAttributes(method, target);
  assert.notEqual(attributes.kind, 'ambiguous', `${method} ${target} is a valid request`);
  if (attributes.kind === 'ambiguous') throw new Error('unreachable');
  return attributes;
}

describe('parseRule: valid rules', () => {
  const VALID: ReadonlyArray<readonly [id: string, source: string, normalised: string]> = [
    ['verb-resource', 'delete pods', 'delete pods'],
    ['namespace-scope', 'get secrets kube-system/*', 'get secrets kube-system/*'],
    ['any-verb-subresource', '* pods/exec', '* pods/exec'],
    ['grouped-scoped', 'create deployments.apps team-a/*', 'create deployments.apps team-a/*'],
    ['extra-whitespace', '  delete \t pods   team-a/web  ', 'delete pods team-a/web'],
    ['everything', '* *', '* *'],
    ['non-resource', 'get /version', 'get /version'],
    ['non-resource-glob', 'get /logs/*', 'get /logs/*'],
    ['cluster-scoped-name', 'delete nodes /worker-*', 'delete nodes /worker-*'],
    ['impersonate', 'impersonate groups /system:masters', 'impersonate groups /system:masters'],
    ['verb-glob', 'delete* pods', 'delete* pods'],
    ['group-glob', 'watch *.example.com', 'watch *.example.com'],
    ['all-subresources', 'get pods/*', 'get pods/*'],
    ['any-resource-subresource', 'create */exec', 'create */exec'],
    ['collection-only-scope', 'list secrets team-a/', 'list secrets team-a/'],
    ['post-non-resource', 'post /debug/*', 'post /debug/*'],
    ['post-everything', 'post *', 'post *'],
    ['singular-with-group-is-fine', 'get deploy.example.com', 'get deploy.example.com'],
  ];
  for (const [id, source, normalised] of VALID) {
    it(`${id}: ${JSON.stringify(source)}`, () => {
      for (const kind of ['allow', 'deny'] as const) {
        const rule = parseRule(kind, source);
        assert.equal(rule.text, normalised, `${id} (${kind}): normalised text`);
        assert.equal(rule.kind, kind, `${id}: kind`);
      }
    });
  }

  it('label: a rule is named as the flag that set it, JSON-quoted', () => {
    assert.equal(ruleLabel(parseRule('deny', 'delete pods')), '--deny "delete pods"', 'label-deny');
    assert.equal(ruleLabel(parseRule('allow', 'get  secrets a/b')), '--allow "get secrets a/b"', 'label-allow');
  });
});

describe('parseRule: malformed rules fail with KP_ERR_POLICY_RULE_INVALID, the rule, the column and the problem', () => {
  const INVALID: ReadonlyArray<readonly [id: string, source: string, column: number | undefined, problem: string]> = [
    ['empty', '', undefined, 'the rule is empty'],
    ['blank', '   ', undefined, 'the rule is empty'],
    ['verb-only', 'delete', 7, 'missing the target'],
    ['unknown-verb', 'delet pods', 1, 'matches no resource verb'],
    ['verb-glob-matches-nothing', 'foo* pods', 1, 'matches no resource verb'],
    ['verb-exec', 'exec pods', 1, 'write "create pods/exec"'],
    ['verb-logs', 'logs pods', 1, 'write "get pods/log"'],
    ['verb-uppercase', 'Delete pods', 1, '"D" is not allowed in a verb'],
    ['resource-uppercase', 'delete Pods', 8, '"P" is not allowed in a resource'],
    ['resource-singular', 'delete pod', 8, 'write the lower-case plural "pods"'],
    ['resource-short-name', 'delete deploy', 8, '"deployments.apps"'],
    ['resource-missing', 'delete .apps', 8, 'missing the resource'],
    ['group-empty', 'delete pods.', 13, 'empty API group'],
    ['group-bad-char', 'delete deployments.Apps', 20, '"A" is not allowed in an API group'],
    ['subresource-empty', 'delete pods/', 13, 'empty subresource'],
    ['subresource-uppercase', 'create pods/EXEC', 13, '"E" is not allowed in a subresource'],
    ['connect-verb-get', 'get pods/exec', 1, 'exec is always the verb "create"'],
    ['connect-verb-list', 'list pods/portforward', 1, 'portforward is always the verb "create"'],
    ['connect-verb-deny-get', 'get */attach', 1, 'attach is always the verb "create"'],
    ['scope-without-slash', 'get pods default', 10, 'expected NAMESPACE/NAME'],
    ['scope-namespace-uppercase', 'get pods Default/x', 10, '"D" is not allowed in a namespace'],
    ['scope-name-percent', 'get pods default/a%2Fb', 19, '"%" is not allowed in an object name'],
    ['scope-name-slash', 'get pods default/a/b', 19, '"/" is not allowed in an object name'],
    ['scope-empty', 'get pods /', 10, 'empty NAMESPACE/NAME'],
    ['non-resource-scope', 'get /version ns/x', 14, 'a non-resource URL has no NAMESPACE/NAME'],
    ['non-resource-verb', 'create /version', 1, 'matches no non-resource URL verb'],
    ['post-resource', 'post pods', 1, 'post is only a verb of non-resource URLs'],
    ['too-many-parts', 'get pods a/b extra', 14, 'unexpected text after NAMESPACE/NAME'],
    ['too-many-parts-more', 'get pods a/b extra more words', 14, 'unexpected text'],
    ['control-char', 'delete pods\n', 12, 'only printable ASCII'],
    ['non-ascii', 'delete pods \u00e9', 13, 'only printable ASCII'],
    ['too-long', `get pods ns/${'a'.repeat(POLICY_RULE_MAX_CHARS)}`, undefined, `longer than ${POLICY_RULE_MAX_CHARS}`],
  ];
  for (const [id, source, column, problem] of INVALID) {
    it(`${id}: ${JSON.stringify(source.slice(0, 40))}`, () => {
      for (const kind of ['allow', 'deny'] as const satisfies readonly RuleKind[]) {
        assert.throws(
          () => parseRule(kind, source),
          (err: unknown) => {
            assert.ok(isKubepairError(err, 'KP_ERR_POLICY_RULE_INVALID'), `${id}: code (${String(err)})`);
            assert.equal(err.exitCode, 2, `${id}: exit code`);
            assert.ok(err.message.startsWith(`invalid policy rule: --${kind} "`), `${id}: names the flag: ${err.message}`);
            assert.ok(err.message.includes(problem), `${id}: ${JSON.stringify(err.message)} mentions ${problem}`);
            if (column === undefined) assert.ok(!err.message.includes(' at column '), `${id}: no column`);
            else assert.ok(err.message.includes(` at column ${column}: `), `${id}: column ${column} in ${err.message}`);
            assert.ok(err.message.length < 400, `${id}: message is bounded`);
            return true;
          },
        );
      }
    });
  }

  it('too-many-rules: more than POLICY_MAX_RULES fails with KP_ERR_POLICY_TOO_MANY_RULES', () => {
    const rules = Array.from({ length: POLICY_MAX_RULES + 1 }, (_, i) => `get pods ns/p${i}`);
    assert.throws(
      () => parseRules('deny', rules),
      (err: unknown) => isKubepairError(err, 'KP_ERR_POLICY_TOO_MANY_RULES') && err.exitCode === 2 && err.message.includes('--deny'),
      'too-many-rules: code',
    );
    assert.equal(parseRules('deny', rules.slice(1)).length, POLICY_MAX_RULES, 'too-many-rules: the maximum is accepted');
  });
});

describe('ruleMatches', () => {
  type Case = readonly [id: string, kind: RuleKind, rule: string, method: string, target: string, want: boolean];
  const CASES: readonly Case[] = [
    ['verb-resource-hit', 'allow', 'delete pods', 'DELETE', '/api/v1/namespaces/default/pods/web', true],
    ['verb-resource-other-resource', 'allow', 'delete pods', 'DELETE', '/apis/apps/v1/namespaces/default/deployments/web', false],
    ['verb-resource-other-verb', 'allow', 'delete pods', 'DELETE', '/api/v1/namespaces/default/pods', false],
    ['verb-glob-collection', 'allow', 'delete* pods', 'DELETE', '/api/v1/namespaces/default/pods', true],
    ['no-group-means-any-group', 'deny', 'delete pods', 'DELETE', '/apis/metrics.k8s.io/v1beta1/namespaces/x/pods/y', true],
    ['group-pinned', 'allow', 'create deployments.apps', 'POST', '/apis/extensions/v1beta1/namespaces/x/deployments', false],
    ['group-glob-any-resource', 'allow', 'get *.example.com', 'GET', '/apis/example.com/v1/widgets/w', true],
    ['group-glob-other-group', 'allow', 'get *.example.com', 'GET', '/apis/other.io/v1/widgets/w', false],
    ['group-glob-hit', 'allow', 'get widgets.*example.com', 'GET', '/apis/sub.example.com/v1/widgets/w', true],
    ['group-glob-core-excluded', 'allow', 'get pods.*.io', 'GET', '/api/v1/namespaces/default/pods/web', false],
    ['scope-namespace-hit', 'allow', 'create deployments.apps team-a/*', 'POST', '/apis/apps/v1/namespaces/team-a/deployments', true],
    ['scope-namespace-miss', 'allow', 'create deployments.apps team-a/*', 'POST', '/apis/apps/v1/namespaces/team-b/deployments', false],
    ['scope-name-hit', 'allow', 'get secrets default/db', 'GET', '/api/v1/namespaces/default/secrets/db', true],
    ['scope-name-miss', 'allow', 'get secrets default/db', 'GET', '/api/v1/namespaces/default/secrets/other', false],
    // A narrow --allow never covers a wide request...
    ['allow-named-vs-list', 'allow', '* secrets default/db', 'GET', '/api/v1/namespaces/default/secrets', false],
    ['allow-named-vs-create', 'allow', 'create secrets default/db', 'POST', '/api/v1/namespaces/default/secrets', false],
    ['allow-namespace-vs-all-namespaces', 'allow', 'list secrets kube-system/*', 'GET', '/api/v1/secrets', false],
    // ...and a narrow --deny cannot be side-stepped by one.
    ['deny-named-vs-list', 'deny', '* secrets default/db', 'GET', '/api/v1/namespaces/default/secrets', true],
    ['deny-named-vs-watch', 'deny', '* secrets default/db', 'GET', '/api/v1/namespaces/default/secrets?watch=1', true],
    ['deny-named-vs-create', 'deny', 'create secrets default/db', 'POST', '/api/v1/namespaces/default/secrets', true],
    ['deny-namespace-vs-all-namespaces', 'deny', 'list secrets kube-system/*', 'GET', '/api/v1/secrets', true],
    ['deny-named-other-namespace', 'deny', '* secrets default/db', 'GET', '/api/v1/namespaces/prod/secrets', false],
    ['deny-named-other-name', 'deny', '* secrets default/db', 'GET', '/api/v1/namespaces/default/secrets/other', false],
    // subresources
    ['no-subresource-means-none', 'allow', 'get pods', 'GET', '/api/v1/namespaces/default/pods/web/log', false],
    ['subresource-glob', 'allow', 'get pods/*', 'GET', '/api/v1/namespaces/default/pods/web/log', true],
    ['subresource-glob-includes-none', 'allow', 'get pods/*', 'GET', '/api/v1/namespaces/default/pods/web', true],
    ['subresource-exact', 'allow', 'get pods/log', 'GET', '/api/v1/namespaces/default/pods/web/status', false],
    ['any-resource-exec', 'deny', 'create */exec', 'POST', '/api/v1/namespaces/default/pods/web/exec', true],
    // the lone * target
    ['everything-resource', 'deny', '* *', 'DELETE', '/api/v1/namespaces/default/pods/web/exec', true],
    ['everything-non-resource', 'deny', '* *', 'GET', '/version', true],
    ['everything-scoped-not-non-resource', 'deny', '* * default/*', 'GET', '/version', false],
    ['everything-scoped-resource', 'allow', 'delete * default/*', 'DELETE', '/apis/apps/v1/namespaces/default/deployments/web', true],
    // non-resource URLs
    ['non-resource-exact', 'allow', 'get /version', 'GET', '/version?timeout=32s', true],
    ['non-resource-glob', 'deny', 'get /logs/*', 'GET', '/logs/kube-apiserver.log', true],
    ['non-resource-glob-needs-slash', 'deny', 'get /logs/*', 'GET', '/logs', false],
    ['non-resource-vs-resource', 'deny', 'get /api/*', 'GET', '/api/v1/namespaces/default/pods/web', false],
    ['resource-vs-non-resource', 'deny', 'get pods', 'GET', '/apis/apps', false],
    ['non-resource-head-is-not-get', 'deny', 'get /healthz', 'HEAD', '/healthz', false],
    // the namespace object is both /NS and NS/NS
    ['namespace-object-cluster-form', 'allow', 'delete namespaces /team-a', 'DELETE', '/api/v1/namespaces/team-a', true],
    ['namespace-object-namespaced-form', 'allow', 'delete namespaces team-a/team-a', 'DELETE', '/api/v1/namespaces/team-a', true],
    ['namespace-object-other', 'allow', 'delete namespaces /team-a', 'DELETE', '/api/v1/namespaces/team-b', false],
    // cluster-scoped objects
    ['cluster-scoped-name', 'allow', 'delete nodes /worker-*', 'DELETE', '/api/v1/nodes/worker-3', true],
    ['cluster-scoped-vs-namespace-scope', 'allow', 'delete nodes team-a/*', 'DELETE', '/api/v1/nodes/worker-3', false],
    ['deny-namespaced-vs-cluster-scoped', 'deny', 'delete * team-a/*', 'DELETE', '/api/v1/nodes/worker-3', true],
    // Security: exec is create whatever the method, so rules written for it always apply.
    ['exec-upgrade-get-matches-create', 'deny', 'create pods/exec', 'GET', '/api/v1/namespaces/default/pods/web/exec?command=sh', true],
    ['exec-upgrade-allow-create', 'allow', 'create pods/exec default/*', 'GET', '/api/v1/namespaces/default/pods/web/exec', true],
    ['exec-upgrade-not-a-get', 'allow', 'get pods/*', 'GET', '/api/v1/namespaces/default/pods/web/exec', false],
  ];
  for (const [id, kind, rule, method, target, want] of CASES) {
    it(`${id}: --${kind} ${JSON.stringify(rule)} vs ${method} ${target} is ${want}`, () => {
      assert.equal(ruleMatches(parseRule(kind, rule), action(method, target)), want, id);
    });
  }

  it('impersonation-actions: matched like RBAC names them', () => {
    const users = { kind: 'resource', verb: 'impersonate', group: '', resource: 'users', subresource: '', namespace: '', name: 'alice' } as const;
    assert.equal(ruleMatches(parseRule('allow', 'impersonate users /alice'), users), true, 'impersonate-users-hit');
    assert.equal(ruleMatches(parseRule('allow', 'impersonate users /bob'), users), false, 'impersonate-users-miss');
    assert.equal(ruleMatches(parseRule('deny', 'impersonate *'), users), true, 'impersonate-any');
    assert.equal(ruleMatches(parseRule('deny', 'delete *'), users), false, 'impersonate-not-delete');
  });
});
