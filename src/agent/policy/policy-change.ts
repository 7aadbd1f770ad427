/**
 * A change to a running session's policy (issue 14, `kubepair session policy`; docs/usage.md
 * "Session control"): a new mode and rules to add or remove, applied to the policy in force and
 * built into a complete new policy by the one parser (RequestPolicy.create), so a changed policy
 * obeys exactly the rules a policy given at start does (unknown mode, bad rule, too many rules,
 * --allow outside guarded are refused with the same codes).
 *
 * Switching to `readonly` or `open` drops the --allow rules (they mean nothing there: readonly
 * would refuse them as unused, open allows everything anyway); the result says which went.
 *
 * Untrusted input: the change (it comes through the control socket; any local process of the
 * sharer's user could have sent it). Every rule text goes through parseRule.
 */
import { KubepairError } from '../../errors/index.js';
import type { PolicyMode } from '../../protocol/policy-shape.js';
import { RequestPolicy } from './policy.js';
import { parseRule } from './rules.js';

export interface PolicyChange {
  readonly mode?: PolicyMode | undefined;
  readonly addAllow?: readonly string[];
  readonly removeAllow?: readonly string[];
  readonly addDeny?: readonly string[];
  readonly removeDeny?: readonly string[];
}

export interface AppliedPolicyChange {
  readonly policy: RequestPolicy;
  /** --allow rules dropped because the new mode is not guarded. */
  readonly droppedAllow: readonly string[];
}

/** `rules` without those in `remove` (compared as parsed: spacing does not matter); each must be there. */
function withoutRules(kind: 'allow' | 'deny', rules: readonly string[], remove: readonly string[]): string[] {
  let kept = [...rules];
  for (const text of remove) {
    const normalized = parseRule(kind, text).text;
    if (!kept.includes(normalized)) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `the policy has no --${kind} rule "${normalized}"`);
    kept = kept.filter((rule) => rule !== normalized);
  }
  return kept;
}

/** Add `add` to `rules`, skipping ones already there. */
function withRules(kind: 'allow' | 'deny', rules: readonly string[], add: readonly string[]): string[] {
  const result = [...rules];
  for (const text of add) {
    const normalized = parseRule(kind, text).text;
    if (!result.includes(normalized)) result.push(normalized);
  }
  return result;
}

/** The policy `current` becomes with `change`; throws the parser's codes, or KP_ERR_INVALID_ARGUMENT for a change that changes nothing or removes a rule that is not there. */
export function applyPolicyChange(current: RequestPolicy, change: PolicyChange): AppliedPolicyChange {
  const before = current.description;
  const mode = change.mode ?? before.mode;
  let allow = withoutRules('allow', before.allow, change.removeAllow ?? []);
  let droppedAllow: string[] = [];
  if (mode !== 'guarded' && mode !== before.mode) {
    droppedAllow = allow;
    allow = [];
  }
  allow = withRules('allow', allow, change.addAllow ?? []);
  const deny = withRules('deny', withoutRules('deny', before.deny, change.removeDeny ?? []), change.addDeny ?? []);
  const policy = RequestPolicy.create({ mode, allow, deny });
  const after = policy.description;
  if (after.mode === before.mode && JSON.stringify(after.allow) === JSON.stringify(before.allow) && JSON.stringify(after.deny) === JSON.stringify(before.deny)) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'the change leaves the policy as it is');
  }
  return { policy, droppedAllow };
}
