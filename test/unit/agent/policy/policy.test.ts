/**
 * The request policy: every mode against every tier, --deny before --allow in every mode, the
 * refusal messages, ambiguous requests, impersonation, configuration errors, and the
 * serialisable description.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKubepairError } from '../../../../src/errors/index.js';
import type { ErrorCode } from '../../../../src/errors/index.js';
import { POLICY_MAX_RULES, POLICY_RULE_MAX_CHARS } from '../../../../src/limits.js';
import {
  DEFAULT_POLICY_MODE,
  PolicyDescriptionSchema,
  RequestPolicy,
  parsePolicyDescription,
  parsePolicyMode,
  summarizePolicy,
} from '../../../../src/agent/policy/policy.js';
import type { PolicyMode, PolicyOptions } from '../../../../src/agent/policy/policy.js';
import type { RequestHeaders } from '../../../../src/agent/policy/impersonation.js';
import { requestAttributes } from '../../../../src/agent/policy/request-attributes.js';
import type { Tier } from '../../../../src/agent/policy/tiers.js';

const NS = '/api/v1/namespaces/default';

/** One representative request per tier. */
const BY_TIER: ReadonlyArray<readonly [tier: Tier, method: string, target: string, description: string]> = [
  [0, 'GET', `${NS}/pods`, 'list pods'],
  [1, 'GET', `${NS}/secrets/db`, 'get secrets'],
  [2, 'POST', `${NS}/pods`, 'create pods'],
  [3, 'DELETE', `${NS}/pods/web`, 'delete pods'],
];

const ALLOWED: Readonly<Record<PolicyMode, readonly Tier[]>> = { readonly: [0], guarded: [0, 1], open: [0, 1, 2, 3] };

function decide(options: PolicyOptions, method: string, target: string, headers?: RequestHeaders) {
  return RequestPolicy.create(options).decide(requestAttributes(method, target), headers);
}

function assertThrowsCode(fn: () => unknown, code: ErrorCode, exit: 1 | 2, id: string, fragment?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isKubepairError(err, code), `${id}: code ${code} (${String(err)})`);
    assert.equal(err.exitCode, exit, `${id}: exit code`);
    if (fragment !== undefined) assert.ok(err.message.includes(fragment), `${id}: ${err.message} mentions ${fragment}`);
    return true;
  });
}

describe('RequestPolicy: every mode against every tier', () => {
  for (const mode of ['readonly', 'guarded', 'open'] as const) {
    for (const [tier, method, target, description] of BY_TIER) {
      const allowed = ALLOWED[mode].includes(tier);
      const id = `${mode}-tier-${tier}`;
      it(`${id}: ${description} is ${allowed ? 'allowed' : 'refused'}`, () => {
        const got = decide({ mode }, method, target);
        assert.equal(got.decision, allowed ? 'allow' : 'deny', `${id}: decision (${got.reason})`);
        assert.equal(got.tier, tier, `${id}: tier`);
        assert.equal(got.mode, mode, `${id}: mode`);
        assert.equal(got.description, description, `${id}: description`);
        assert.equal(got.rule, undefined, `${id}: no rule decided`);
        if (allowed) {
          assert.ok(got.reason.includes(`is allowed in mode "${mode}"`), `${id}: reason ${got.reason}`);
        } else {
          assert.ok(
            got.reason.startsWith(`kubepair policy "${mode}" refuses "${description}" (tier ${tier}): `),
            `${id}: reason ${got.reason}`,
          );
        }
      });
    }
  }

  it('default-mode: the default is guarded', () => {
    assert.equal(DEFAULT_POLICY_MODE, 'guarded', 'default-mode: constant');
    assert.equal(RequestPolicy.create().mode, 'guarded', 'default-mode: create()');
  });

  it('refusal-messages: the exact sentences kubectl shows', () => {
    assert.equal(
      decide({ mode: 'guarded' }, 'DELETE', `${NS}/pods/web`).reason,
      'kubepair policy "guarded" refuses "delete pods" (tier 3): tiers 2-3 need a matching --allow rule (the sharer can add --allow "delete pods")',
      'refusal-messages: guarded',
    );
    assert.equal(
      decide({ mode: 'readonly' }, 'GET', `${NS}/secrets/db`).reason,
      'kubepair policy "readonly" refuses "get secrets" (tier 1): mode "readonly" allows only tier 0 (reads)',
      'refusal-messages: readonly',
    );
    assert.equal(
      decide({ mode: 'open', deny: ['delete pods'] }, 'DELETE', `${NS}/pods/web`).reason,
      'kubepair policy "open" refuses "delete pods" (tier 3): refused by --deny "delete pods"',
      'refusal-messages: deny rule',
    );
  });
});

describe('RequestPolicy: --allow in guarded mode', () => {
  it('allow-tier-2: a matching --allow admits a change and is named', () => {
    const got = decide({ mode: 'guarded', allow: ['create pods default/*'] }, 'POST', `${NS}/pods`);
    assert.equal(got.decision, 'allow', 'allow-tier-2: decision');
    assert.equal(got.tier, 2, 'allow-tier-2: tier');
    assert.equal(got.rule, '--allow "create pods default/*"', 'allow-tier-2: rule');
    assert.equal(got.reason, 'allowed by --allow "create pods default/*"', 'allow-tier-2: reason');
  });

  it('allow-tier-3: a matching --allow admits a delete', () => {
    const got = decide({ mode: 'guarded', allow: ['delete pods'] }, 'DELETE', `${NS}/pods/web`);
    assert.equal(got.decision, 'allow', 'allow-tier-3: decision');
    assert.equal(got.rule, '--allow "delete pods"', 'allow-tier-3: rule');
  });

  it('allow-not-matching: an --allow for something else does not help', () => {
    const got = decide({ mode: 'guarded', allow: ['delete pods team-a/*'] }, 'DELETE', `${NS}/pods/web`);
    assert.equal(got.decision, 'deny', 'allow-not-matching: decision');
  });

  it('allow-free-tiers-need-no-rule: reads pass without naming a rule even if one matches', () => {
    const got = decide({ mode: 'guarded', allow: ['* *'] }, 'GET', `${NS}/pods`);
    assert.equal(got.decision, 'allow', 'allow-free-tiers: decision');
    assert.equal(got.rule, undefined, 'allow-free-tiers: no rule');
  });
});

describe('RequestPolicy: --deny is checked first, in every mode', () => {
  it('deny-beats-allow: --deny wins over a matching --allow', () => {
    const options = { mode: 'guarded', allow: ['delete pods'], deny: ['delete pods kube-system/*'] };
    const refused = decide(options, 'DELETE', '/api/v1/namespaces/kube-system/pods/coredns');
    assert.equal(refused.decision, 'deny', 'deny-beats-allow: decision');
    assert.equal(refused.rule, '--deny "delete pods kube-system/*"', 'deny-beats-allow: rule');
    assert.ok(refused.reason.endsWith('refused by --deny "delete pods kube-system/*"'), `deny-beats-allow: ${refused.reason}`);
    const elsewhere = decide(options, 'DELETE', `${NS}/pods/web`);
    assert.equal(elsewhere.decision, 'allow', 'deny-beats-allow: other namespaces still allowed');
  });

  for (const mode of ['readonly', 'guarded', 'open'] as const) {
    it(`deny-in-${mode}: --deny refuses even a tier-0 read`, () => {
      const got = decide({ mode, deny: ['get configmaps default/*'] }, 'GET', `${NS}/configmaps/cfg`);
      assert.equal(got.decision, 'deny', `deny-in-${mode}: decision`);
      assert.equal(got.tier, 0, `deny-in-${mode}: tier`);
      assert.equal(got.rule, '--deny "get configmaps default/*"', `deny-in-${mode}: rule`);
    });
  }

  it('deny-first-match: the first matching --deny is named', () => {
    const got = decide({ mode: 'open', deny: ['get pods', 'delete *', 'delete pods'] }, 'DELETE', `${NS}/pods/web`);
    assert.equal(got.rule, '--deny "delete *"', 'deny-first-match: rule');
  });

  it('deny-collection: a narrow --deny also refuses the list that would reveal the object', () => {
    const got = decide({ mode: 'open', deny: ['* secrets default/db'] }, 'GET', `${NS}/secrets`);
    assert.equal(got.decision, 'deny', 'deny-collection: decision');
  });
});

describe('RequestPolicy: ambiguous requests', () => {
  const target = `${NS}/pods/..%2Fsecrets`;
  for (const mode of ['readonly', 'guarded'] as const) {
    it(`ambiguous-${mode}: refused, whatever --allow says`, () => {
      const options = mode === 'guarded' ? { mode, allow: ['* *'] } : { mode };
      const got = decide(options, 'GET', target);
      assert.equal(got.decision, 'deny', `ambiguous-${mode}: decision`);
      assert.equal(got.tier, 3, `ambiguous-${mode}: tier`);
      assert.ok(got.reason.includes('ambiguous request ('), `ambiguous-${mode}: ${got.reason}`);
    });
  }

  it('ambiguous-open: allowed in open mode without --deny rules, at tier 3', () => {
    const got = decide({ mode: 'open' }, 'GET', target);
    assert.equal(got.decision, 'allow', 'ambiguous-open: decision');
    assert.equal(got.tier, 3, 'ambiguous-open: tier');
  });

  it('ambiguous-open-with-deny: refused when --deny rules exist, since they cannot be checked', () => {
    const got = decide({ mode: 'open', deny: ['delete pods'] }, 'GET', target);
    assert.equal(got.decision, 'deny', 'ambiguous-open-with-deny: decision');
    assert.ok(got.reason.includes('--deny rules cannot be checked'), `ambiguous-open-with-deny: ${got.reason}`);
    assert.equal(got.rule, undefined, 'ambiguous-open-with-deny: no single rule decided');
  });
});

describe('Security: impersonation headers are tier 3 and checked like the request', () => {
  it('impersonation-guarded: a read with Impersonate-User is refused without an --allow', () => {
    const got = decide({ mode: 'guarded' }, 'GET', `${NS}/pods`, { 'Impersonate-User': 'alice' });
    assert.equal(got.decision, 'deny', 'impersonation-guarded: decision');
    assert.equal(got.tier, 3, 'impersonation-guarded: tier');
    assert.equal(got.description, 'impersonate users', 'impersonation-guarded: description');
  });

  it('impersonation-readonly: refused', () => {
    const got = decide({ mode: 'readonly' }, 'GET', '/version', { 'impersonate-group': ['system:masters'] });
    assert.equal(got.decision, 'deny', 'impersonation-readonly: decision');
  });

  it('impersonation-allowed: an --allow for the identity admits it, at tier 3', () => {
    const got = decide({ mode: 'guarded', allow: ['impersonate users /alice'] }, 'GET', `${NS}/pods`, {
      'impersonate-user': 'alice',
    });
    assert.equal(got.decision, 'allow', 'impersonation-allowed: decision');
    assert.equal(got.tier, 3, 'impersonation-allowed: tier');
    assert.equal(got.rule, '--allow "impersonate users /alice"', 'impersonation-allowed: rule');
    assert.equal(got.description, 'list pods (impersonating)', 'impersonation-allowed: description');
  });

  it('impersonation-request-still-checked: allowing the identity does not allow the request', () => {
    const got = decide({ mode: 'guarded', allow: ['impersonate users /alice'] }, 'DELETE', `${NS}/pods/web`, {
      'impersonate-user': 'alice',
    });
    assert.equal(got.decision, 'deny', 'impersonation-request-still-checked: decision');
    assert.equal(got.description, 'delete pods', 'impersonation-request-still-checked: the delete decided');
  });

  it('impersonation-deny-second-group: --deny sees every group header value', () => {
    const got = decide({ mode: 'open', deny: ['impersonate groups /system:masters'] }, 'GET', `${NS}/pods`, {
      'impersonate-user': 'alice',
      'impersonate-group': ['dev', 'system:masters'],
    });
    assert.equal(got.decision, 'deny', 'impersonation-deny-second-group: decision');
    assert.equal(got.rule, '--deny "impersonate groups /system:masters"', 'impersonation-deny-second-group: rule');
  });

  it('impersonation-joined-values: a comma-joined value is ambiguous, so --deny refuses it', () => {
    const headers = { 'impersonate-group': 'dev, system:masters' };
    const got = decide({ mode: 'open', deny: ['impersonate groups /system:masters'] }, 'GET', `${NS}/pods`, headers);
    assert.equal(got.decision, 'deny', 'impersonation-joined-values: decision');
    assert.ok(got.reason.includes('comma'), `impersonation-joined-values: ${got.reason}`);
  });

  it('impersonation-open: open mode without --deny allows impersonation', () => {
    const got = decide({ mode: 'open' }, 'GET', `${NS}/pods`, { 'impersonate-user': 'alice' });
    assert.equal(got.decision, 'allow', 'impersonation-open: decision');
    assert.equal(got.tier, 3, 'impersonation-open: tier');
  });
});

describe('RequestPolicy.create: configuration errors (exit code 2)', () => {
  it('mode-unknown: KP_ERR_POLICY_MODE_UNKNOWN', () => {
    assertThrowsCode(() => RequestPolicy.create({ mode: 'strict' }), 'KP_ERR_POLICY_MODE_UNKNOWN', 2, 'mode-unknown', '"strict"');
    assertThrowsCode(() => parsePolicyMode('READONLY'), 'KP_ERR_POLICY_MODE_UNKNOWN', 2, 'mode-case');
    assert.equal(parsePolicyMode('open'), 'open', 'mode-known');
  });

  it('allow-readonly: --allow in readonly is KP_ERR_POLICY_ALLOW_UNUSED', () => {
    assertThrowsCode(
      () => RequestPolicy.create({ mode: 'readonly', allow: ['get secrets'] }),
      'KP_ERR_POLICY_ALLOW_UNUSED',
      2,
      'allow-readonly',
      'readonly',
    );
  });

  it('allow-open: --allow in open is KP_ERR_POLICY_ALLOW_UNUSED', () => {
    assertThrowsCode(() => RequestPolicy.create({ mode: 'open', allow: ['delete pods'] }), 'KP_ERR_POLICY_ALLOW_UNUSED', 2, 'allow-open');
  });

  it('rule-invalid: a malformed rule is KP_ERR_POLICY_RULE_INVALID', () => {
    assertThrowsCode(() => RequestPolicy.create({ deny: ['delete pod'] }), 'KP_ERR_POLICY_RULE_INVALID', 2, 'rule-invalid', '--deny');
  });

  it('too-many-rules: KP_ERR_POLICY_TOO_MANY_RULES', () => {
    const allow = Array.from({ length: POLICY_MAX_RULES + 1 }, () => 'delete pods');
    assertThrowsCode(() => RequestPolicy.create({ allow }), 'KP_ERR_POLICY_TOO_MANY_RULES', 2, 'too-many-rules');
  });
});

describe('policy description', () => {
  it('description-roundtrip: normalised, serialisable, and accepted by the schema', () => {
    const policy = RequestPolicy.create({ mode: 'guarded', allow: ['delete   pods team-a/*'], deny: ['get secrets kube-system/*'] });
    const description = policy.description;
    assert.deepEqual(
      description,
      { mode: 'guarded', allow: ['delete pods team-a/*'], deny: ['get secrets kube-system/*'] },
      'description-roundtrip: normalised',
    );
    const received = parsePolicyDescription(JSON.parse(JSON.stringify(description)));
    assert.deepEqual(received, description, 'description-roundtrip: through JSON');
    assert.equal(PolicyDescriptionSchema.safeParse(description).success, true, 'description-roundtrip: schema');
  });

  const INVALID: ReadonlyArray<readonly [id: string, value: unknown, fragment: string]> = [
    ['not-an-object', 'guarded', ''],
    ['unknown-mode', { mode: 'strict', allow: [], deny: [] }, 'mode'],
    ['extra-key', { mode: 'open', allow: [], deny: [], exec: true }, ''],
    ['missing-deny', { mode: 'open', allow: [] }, 'deny'],
    ['rule-not-string', { mode: 'guarded', allow: [42], deny: [] }, 'allow.0'],
    ['rule-empty', { mode: 'guarded', allow: [''], deny: [] }, 'allow.0'],
    ['rule-too-long', { mode: 'guarded', allow: ['x'.repeat(POLICY_RULE_MAX_CHARS + 1)], deny: [] }, 'allow.0'],
    ['too-many', { mode: 'open', allow: [], deny: Array.from({ length: POLICY_MAX_RULES + 1 }, () => 'delete pods') }, 'deny'],
    ['malformed-rule', { mode: 'open', allow: [], deny: ['delet pods'] }, 'deny.0: invalid policy rule'],
    ['allow-in-readonly', { mode: 'readonly', allow: ['delete pods'], deny: [] }, 'allow'],
    ['escape-in-rule', { mode: 'open', allow: [], deny: ['delete pods \u001b[2J'] }, 'deny.0'],
  ];
  for (const [id, value, fragment] of INVALID) {
    it(`description-invalid-${id}: KP_ERR_POLICY_DESCRIPTION_INVALID`, () => {
      assertThrowsCode(() => parsePolicyDescription(value), 'KP_ERR_POLICY_DESCRIPTION_INVALID', 1, `description-invalid-${id}`, fragment);
    });
  }

  it('summary: one line for the mode and one per rule', () => {
    const lines = summarizePolicy({ mode: 'guarded', allow: ['delete pods team-a/*'], deny: ['get secrets kube-system/*'] });
    assert.equal(lines.length, 3, 'summary: line count');
    assert.ok(lines[0]?.startsWith('policy "guarded": '), `summary: mode line ${lines[0]}`);
    assert.equal(lines[1], '  --allow "delete pods team-a/*"', 'summary: allow line');
    assert.equal(lines[2], '  --deny "get secrets kube-system/*"', 'summary: deny line');
  });
});
