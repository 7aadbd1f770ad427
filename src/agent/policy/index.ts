/**
 * Public surface of the agent's request policy (docs/design.md §6; docs/policy.md). Pure functions,
 * no I/O: the agent's reverse proxy calls requestAttributes(), then RequestPolicy.decide(), and
 * answers a refusal with forbiddenResponse().
 */
export {
  CONNECT_SUBRESOURCES,
  NON_RESOURCE_VERBS,
  PROXY_RESOURCES,
  RESOURCE_VERBS,
  requestAttributes,
  switchesProtocols,
} from './request-attributes.js';
export type {
  AmbiguousRequestAttributes,
  NonResourceRequestAttributes,
  NonResourceVerb,
  RequestAttributes,
  ResourceRequestAttributes,
  ResourceVerb,
} from './request-attributes.js';
export type { NonResourceAction, PolicyAction, ResourceAction } from './policy-action.js';
export { TIER_NAMES, classifyTier, describeAction } from './tiers.js';
export type { Tier, TierClassification } from './tiers.js';
export { parseRule, parseRules, ruleLabel, ruleMatches } from './rules.js';
export type { PolicyRule, RuleKind, RuleTarget } from './rules.js';
export { impersonationActions } from './impersonation.js';
export type { ImpersonationResult, RequestHeaders } from './impersonation.js';
export {
  DEFAULT_POLICY_MODE,
  POLICY_MODES,
  PolicyDescriptionSchema,
  RequestPolicy,
  parsePolicyDescription,
  parsePolicyMode,
  summarizePolicy,
} from './policy.js';
export type { PolicyDecision, PolicyDescription, PolicyMode, PolicyOptions } from './policy.js';
export { forbiddenResponse, forbiddenStatus } from './forbidden-status.js';
export type { ForbiddenResponse, StatusDetails } from './forbidden-status.js';
export { PolicyHolder, currentPolicy } from './policy-holder.js';
export type { PolicySource } from './policy-holder.js';
export { applyPolicyChange } from './policy-change.js';
export type { AppliedPolicyChange, PolicyChange } from './policy-change.js';
