/** A running session's policy change (issue 14, `kubepair session policy`): built by the one parser, with its codes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyHolder, RequestPolicy, applyPolicyChange, requestAttributes } from '../../../../src/agent/policy/index.js';
import { isKubepairError } from '../../../../src/errors/index.js';

describe('applyPolicyChange', () => {
  it('adds and removes rules (compared as parsed) and changes the mode; leaving guarded drops the --allow rules and says which', () => {
    const current = RequestPolicy.create({ mode: 'guarded', allow: ['delete pods team-a/*'], deny: ['get secrets'] });
    const added = applyPolicyChange(current, { addDeny: ['delete   configmaps'] });
    assert.deepEqual(added.policy.description, { mode: 'guarded', allow: ['delete pods team-a/*'], deny: ['get secrets', 'delete configmaps'] });
    const removed = applyPolicyChange(added.policy, { removeDeny: ['get  secrets'] });
    assert.deepEqual(removed.policy.description.deny, ['delete configmaps']);
    const readonly = applyPolicyChange(current, { mode: 'readonly' });
    assert.deepEqual(readonly.policy.description, { mode: 'readonly', allow: [], deny: ['get secrets'] });
    assert.deepEqual(readonly.droppedAllow, ['delete pods team-a/*']);
  });

  it('refuses what the start-up parser refuses, with its codes, and a change that changes nothing', () => {
    const current = RequestPolicy.create({ mode: 'readonly' });
    const cases: ReadonlyArray<readonly [string, Parameters<typeof applyPolicyChange>[1], string]> = [
      ['--allow outside guarded', { addAllow: ['delete pods'] }, 'KP_ERR_POLICY_ALLOW_UNUSED'],
      ['a rule that does not parse', { addDeny: ['frobnicate the cluster'] }, 'KP_ERR_POLICY_RULE_INVALID'],
      ['removing a rule that is not there', { removeDeny: ['get pods'] }, 'KP_ERR_INVALID_ARGUMENT'],
      ['no change', { mode: 'readonly' }, 'KP_ERR_INVALID_ARGUMENT'],
    ];
    for (const [name, change, code] of cases) {
      assert.throws(() => applyPolicyChange(current, change), (err: unknown) => isKubepairError(err) && err.code === code, name);
    }
  });

  it('a PolicyHolder decides the next request with the replaced policy', () => {
    const holder = new PolicyHolder(RequestPolicy.create({ mode: 'open' }));
    const remove = requestAttributes('DELETE', '/api/v1/namespaces/default/pods/x');
    assert.equal(holder.current.decide(remove).decision, 'allow');
    holder.replace(applyPolicyChange(holder.current, { mode: 'readonly' }).policy);
    assert.equal(holder.current.decide(remove).decision, 'deny');
  });
});
