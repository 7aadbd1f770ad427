/**
 * The shape of a policy description as it travels in the session description (docs/design.md §4,
 * §6): mode plus `--allow` / `--deny` rules, bounded. Both ends validate this shape; the agent,
 * which enforces the policy, additionally parses every rule (src/agent/policy/policy.ts).
 */
import * as z from 'zod';
import { POLICY_MAX_RULES, POLICY_RULE_MAX_CHARS } from '../limits.js';

export const POLICY_MODES = ['readonly', 'guarded', 'open'] as const;
export type PolicyMode = (typeof POLICY_MODES)[number];

const ruleList = z.array(z.string().min(1).max(POLICY_RULE_MAX_CHARS)).max(POLICY_MAX_RULES);

export const policyShapeSchema = z.strictObject({ mode: z.enum(POLICY_MODES), allow: ruleList, deny: ruleList });

export type PolicyShape = z.infer<typeof policyShapeSchema>;
