/**
 * Which refusals `share --approve` may offer the sharer (issue 14), and the --allow rules that
 * "approve for the session" would add: only refusals for a request's tier in mode "guarded";
 * never one a --deny rule made, never an ambiguous request; rules narrowed to the request's
 * namespace and name, matching exactly the request (no wildcard from the client's name); and
 * once added for a session, those rules allow the same request and nothing wider.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestPolicy, applyPolicyChange, requestAttributes } from '../../../../src/agent/policy/index.js';
import type { RequestHeaders } from '../../../../src/agent/policy/index.js';

const NS = '/api/v1/namespaces/default';

/** Decide with the policy `options` describes, after "approve for the session" added the `session` rules to it (a policy change, as AgentSession makes it). */
function decide(options: Parameters<typeof RequestPolicy.create>[0], method: string, target: string, headers?: RequestHeaders, session: readonly string[] = []) {
  const policy = RequestPolicy.create(options);
  const changed = session.length === 0 ? policy : applyPolicyChange(policy, { addAllow: session }).policy;
  return changed.decide(requestAttributes(method, target), headers);
}

describe('approvable refusals (share --approve)', () => {
  const CASES: ReadonlyArray<readonly [id: string, method: string, target: string, rules: readonly string[]]> = [
    ['delete one pod', 'DELETE', `${NS}/pods/web`, ['delete pods default/web']],
    ['create in a namespace', 'POST', `${NS}/pods`, ['create pods default/']],
    ['exec', 'POST', `${NS}/pods/web/exec?command=sh`, ['create pods/exec default/web']],
    ['a cluster-scoped object', 'DELETE', '/api/v1/nodes/n1', ['delete nodes /n1']],
    ['a named group', 'PATCH', '/apis/apps/v1/namespaces/team-a/deployments/api', ['patch deployments.apps team-a/api']],
    ['every namespace', 'DELETE', '/api/v1/pods', ['deletecollection pods']],
  ];
  for (const [id, method, target, rules] of CASES) {
    it(`${id}: guarded refuses it for its tier and offers ${JSON.stringify(rules)}`, () => {
      const decision = decide({ mode: 'guarded' }, method, target);
      assert.equal(decision.decision, 'deny', id);
      assert.deepEqual(decision.approvable, { rules }, id);
    });
  }

  it('an impersonating request offers a rule for each refused action', () => {
    const decision = decide({ mode: 'guarded' }, 'DELETE', `${NS}/pods/web`, { 'impersonate-user': ['alice'] });
    assert.deepEqual(decision.approvable, { rules: ['delete pods default/web', 'impersonate users /alice'] });
  });

  it('Security: a refusal by --deny is never approvable, in any mode, even where the mode would refuse it too', () => {
    const decision = decide({ mode: 'guarded', deny: ['delete pods'] }, 'DELETE', `${NS}/pods/web`);
    assert.equal(decision.decision, 'deny');
    assert.equal(decision.rule, '--deny "delete pods"');
    assert.equal(decision.approvable, undefined);
    const impersonating = decide({ mode: 'guarded', deny: ['impersonate groups'] }, 'DELETE', `${NS}/pods/web`, { 'impersonate-user': ['a'], 'impersonate-group': ['system:masters'] });
    assert.equal(impersonating.approvable, undefined, 'a --deny on any action of the request wins');
  });

  it('Security: ambiguous requests and modes other than guarded are never approvable', () => {
    assert.equal(decide({ mode: 'guarded' }, 'DELETE', `${NS}/pods/web%2Fother`).approvable, undefined, 'ambiguous');
    assert.equal(decide({ mode: 'readonly' }, 'DELETE', `${NS}/pods/web`).approvable, undefined, 'readonly');
    assert.equal(decide({ mode: 'guarded' }, 'GET', `${NS}/pods`).approvable, undefined, 'an allowed request');
  });

  it('Security: a name with a wildcard gets no session rule (it would match every name)', () => {
    for (const name of ['*', 'web*', 'a*b']) {
      const decision = decide({ mode: 'guarded' }, 'DELETE', `${NS}/pods/${encodeURIComponent(name)}`);
      assert.deepEqual(decision.approvable, { rules: [] }, name);
    }
  });

  it('session rules allow the approved request again and nothing wider', () => {
    const session = ['delete pods default/web'];
    const again = decide({ mode: 'guarded' }, 'DELETE', `${NS}/pods/web`, {}, session);
    assert.equal(again.decision, 'allow');
    assert.equal(again.rule, '--allow "delete pods default/web"');
    assert.equal(again.reason, 'allowed by --allow "delete pods default/web"');
    assert.equal(again.approvable, undefined);
    for (const [method, target] of [['DELETE', `${NS}/pods/web2`], ['DELETE', '/api/v1/namespaces/other/pods/web'], ['DELETE', `${NS}/pods`], ['PATCH', `${NS}/pods/web`]] as const) {
      assert.equal(decide({ mode: 'guarded' }, method, target, {}, session).decision, 'deny', `${method} ${target}`);
    }
    assert.equal(decide({ mode: 'guarded', deny: ['delete pods'] }, 'DELETE', `${NS}/pods/web`, {}, session).decision, 'deny', '--deny still wins over a session rule');
    assert.throws(() => decide({ mode: 'readonly' }, 'DELETE', `${NS}/pods/web`, {}, session), { code: 'KP_ERR_POLICY_ALLOW_UNUSED' }, 'session rules apply in guarded only: outside it they cannot be added');
  });
});
