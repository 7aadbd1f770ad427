/**
 * Error codes of the agent's request policy: tiers, modes, --allow / --deny rules
 * (docs/design.md §6). Codes are never reused once retired; add new ones at the end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const POLICY_ERRORS = {
  KP_ERR_POLICY_MODE_UNKNOWN: { message: 'unknown policy mode (expected readonly, guarded or open)', exit: 2 },
  KP_ERR_POLICY_RULE_INVALID: { message: 'invalid policy rule', exit: 2 },
  KP_ERR_POLICY_TOO_MANY_RULES: { message: 'too many policy rules', exit: 2 },
  KP_ERR_POLICY_ALLOW_UNUSED: { message: '--allow rules only apply in policy mode "guarded"', exit: 2 },
  KP_ERR_POLICY_DESCRIPTION_INVALID: { message: 'the policy description is invalid', exit: 1 },
  KP_ERR_POLICY_FORBIDDEN: { message: 'the kubepair policy refuses this request', status: 403, exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
