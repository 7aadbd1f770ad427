/**
 * A policy in one line, for the lines that report a change of a running session (`kubepair
 * status`, `kubepair session policy`, share's and connect's "the policy changed" lines): the
 * mode from the validated enum, then each rule quoted, in printable ASCII only and bounded, so a
 * rule the peer chose cannot break the line or imitate another.
 *
 * Untrusted input: the rules (on the connect side the agent chose them).
 */
import { BANNER_RULE_MAX_CHARS } from '../limits.js';
import { POLICY_MODES } from '../protocol/policy-shape.js';
import type { PolicyShape } from '../protocol/policy-shape.js';
import { inertText } from '../terminal/inert-text.js';

export function ruleText(kind: 'allow' | 'deny', rule: string): string {
  return `${kind} "${inertText(rule, { asciiOnly: true, maxChars: BANNER_RULE_MAX_CHARS })}"`;
}

/** Rules as the `--allow` options that would add them (`--allow "delete pods a/b"`), printable ASCII. */
export function allowFlags(rules: readonly string[], maxChars?: number): string {
  return rules.map((rule) => `--allow ${JSON.stringify(inertText(rule, { asciiOnly: true, ...(maxChars !== undefined && { maxChars }) }))}`).join(' ');
}

/** "guarded, 2 rules: deny "delete pods", allow "..."" — one line. */
export function policyLine(policy: PolicyShape): string {
  const rules = [...policy.deny.map((rule) => ruleText('deny', rule)), ...policy.allow.map((rule) => ruleText('allow', rule))];
  const mode = POLICY_MODES.find((candidate) => candidate === policy.mode) ?? 'unknown';
  return rules.length === 0 ? mode : `${mode}, ${rules.length} rule${rules.length === 1 ? '' : 's'}: ${rules.join(', ')}`;
}

