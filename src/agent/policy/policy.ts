/**
 * The agent's request policy (docs/design.md §6): modes, --allow and --deny, one decision per
 * request.
 *
 *   readonly  tier 0 only; --allow is refused as a configuration error
 *   guarded   tiers 0-1; tiers 2-3 only where an --allow rule matches (the default)
 *   open      every tier; --allow is refused as a configuration error
 *
 * --deny is checked first, in every mode, against the request and every impersonation it asks
 * for. An ambiguous request (request-attributes.ts) is tier 3, matched by no --allow rule,
 * and refused in every mode that has --deny rules, because they cannot be checked against it.
 *
 * The policy description ({ mode, allow, deny }) is serialisable and travels in the session
 * description, so `connect` can show it; PolicyDescriptionSchema bounds and validates it.
 *
 * Untrusted input: request attributes and headers (from the client); a policy description
 * received from a peer goes through parsePolicyDescription first.
 */
import type { z } from 'zod';
import { KubepairError } from '../../errors/index.js';
import { POLICY_MODES, policyShapeSchema } from '../../protocol/policy-shape.js';
import type { PolicyMode } from '../../protocol/policy-shape.js';
import { impersonationActions } from './impersonation.js';
import type { RequestHeaders } from './impersonation.js';
import type { PolicyAction } from './policy-action.js';
import type { RequestAttributes } from './request-attributes.js';
import { parseRule, parseRules, ruleLabel, ruleMatches } from './rules.js';
import type { PolicyRule } from './rules.js';
import { TIER_NAMES, classifyTier, describeAction } from './tiers.js';
import type { Tier, TierClassification } from './tiers.js';

export { POLICY_MODES };
export type { PolicyMode };
export const DEFAULT_POLICY_MODE: PolicyMode = 'guarded';

/** Highest tier each mode allows without an --allow rule. */
const FREE_TIER: Readonly<Record<PolicyMode, Tier>> = { readonly: 0, guarded: 1, open: 3 };

/** The serialisable policy: what the session description carries and `connect` shows. */
export const PolicyDescriptionSchema = policyShapeSchema.superRefine((description, ctx) => {
    if (description.mode !== 'guarded' && description.allow.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['allow'], message: `--allow rules only apply in mode "guarded"` });
    }
    for (const kind of ['allow', 'deny'] as const) {
      description[kind].forEach((rule, index) => {
        try {
          parseRule(kind, rule);
        } catch (err) {
          ctx.addIssue({ code: 'custom', path: [kind, index], message: err instanceof Error ? err.message : String(err) });
        }
      });
    }
  });

export type PolicyDescription = z.infer<typeof PolicyDescriptionSchema>;

export interface PolicyDecision {
  readonly decision: 'allow' | 'deny';
  readonly mode: PolicyMode;
  readonly tier: Tier;
  /** The action that decided, in rule syntax: `delete pods`, `impersonate groups`. */
  readonly description: string;
  /** Why that action has its tier: `deletion`, `interactive: exec`, `secrets`. */
  readonly why: string;
  /** The rule that decided, as `--deny "delete pods"` or `--allow "..."`; absent when the mode did. */
  readonly rule?: string;
  /** One sentence for messages and the audit log; a refusal's is what kubectl prints. */
  readonly reason: string;
  /**
   * On a refusal the sharer may overrule with `share --approve`: one refused for its tier in mode
   * "guarded" only (never one a --deny rule refused, never an ambiguous one). `rules` are the
   * --allow rules that would allow exactly this request, narrowed to its namespace and name;
   * empty when one of them cannot be written as a rule (then it can be approved once only).
   */
  readonly approvable?: { readonly rules: readonly string[] };
}

/** Options as the CLI collects them; `mode` is still a string until validated. */
export interface PolicyOptions {
  readonly mode?: string;
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
}

export class RequestPolicy {
  readonly mode: PolicyMode;
  readonly #allow: readonly PolicyRule[];
  readonly #deny: readonly PolicyRule[];

  private constructor(mode: PolicyMode, allow: readonly PolicyRule[], deny: readonly PolicyRule[]) {
    this.mode = mode;
    this.#allow = allow;
    this.#deny = deny;
  }

  /**
   * Build a policy from the sharer's options. Throws (exit code 2) KP_ERR_POLICY_MODE_UNKNOWN,
   * KP_ERR_POLICY_RULE_INVALID, KP_ERR_POLICY_TOO_MANY_RULES, or KP_ERR_POLICY_ALLOW_UNUSED
   * when --allow is given in a mode where it would do nothing.
   */
  static create(options: PolicyOptions = {}): RequestPolicy {
    const mode = parsePolicyMode(options.mode ?? DEFAULT_POLICY_MODE);
    const allow = parseRules('allow', options.allow ?? []);
    const deny = parseRules('deny', options.deny ?? []);
    if (mode !== 'guarded' && allow.length > 0) {
      const effect = mode === 'open' ? 'mode "open" already allows everything' : 'mode "readonly" allows reads only';
      throw new KubepairError('KP_ERR_POLICY_ALLOW_UNUSED', `${effect}; use --policy guarded with --allow, or drop --allow`);
    }
    return new RequestPolicy(mode, allow, deny);
  }

  /** The serialisable form, with rules normalised (single spaces). */
  get description(): PolicyDescription {
    return { mode: this.mode, allow: this.#allow.map((r) => r.text), deny: this.#deny.map((r) => r.text) };
  }

  /**
   * Decide one request. `headers` are checked for impersonation only; pass Node's
   * `req.headersDistinct` (see impersonation.ts).
   */
  decide(attributes: RequestAttributes, headers: RequestHeaders = {}): PolicyDecision {
    if (attributes.kind === 'ambiguous') return this.#decideAmbiguous(classifyTier(attributes), attributes.problem);
    const impersonation = impersonationActions(headers);
    if (!impersonation.ok) {
      const cls = { ...classifyTier(attributes), tier: 3 as const, why: `ambiguous impersonation: ${impersonation.problem}` };
      return this.#decideAmbiguous(cls, impersonation.problem);
    }
    const actions: readonly PolicyAction[] = [attributes, ...impersonation.actions];
    const classified = actions.map((action) => ({ action, cls: classifyTier(action) }));

    // --deny first, in every mode, for the request and each impersonation.
    for (const { action, cls } of classified) {
      const rule = this.#deny.find((candidate) => ruleMatches(candidate, action));
      if (rule !== undefined) return this.#refuse(cls, `refused by ${ruleLabel(rule)}`, ruleLabel(rule));
    }

    // Then the mode: free tiers pass; above them, guarded needs a matching --allow (the
    // sharer's at start, or one added while the session runs: `kubepair session policy`, or
    // "approve for the session" with `share --approve`).
    let top: { cls: TierClassification; rule: string | undefined } | undefined;
    const refused: Array<{ action: PolicyAction; cls: TierClassification }> = [];
    for (const { action, cls } of classified) {
      let rule: string | undefined;
      if (cls.tier > FREE_TIER[this.mode]) {
        const allow = this.mode === 'guarded' ? this.#allow.find((candidate) => ruleMatches(candidate, action)) : undefined;
        if (allow === undefined) {
          refused.push({ action, cls });
          continue;
        }
        rule = ruleLabel(allow);
      }
      if (top === undefined || cls.tier > top.cls.tier) top = { cls, rule };
    }
    const first = refused[0];
    if (first !== undefined) {
      const refusal = this.#refuse(first.cls, this.#modeProblem(first.cls));
      return this.mode === 'guarded' ? { ...refusal, approvable: { rules: approvalRules(refused.map((entry) => entry.action)) } } : refusal;
    }
    if (top === undefined) throw new KubepairError('KP_ERR_INTERNAL', 'a request without actions');

    const { cls, rule } = top;
    const requestDescription = describeAction(attributes);
    return {
      decision: 'allow',
      mode: this.mode,
      tier: cls.tier,
      description: impersonation.actions.length > 0 ? `${requestDescription} (impersonating)` : requestDescription,
      why: cls.why,
      reason: rule === undefined ? `tier ${cls.tier} (${TIER_NAMES[cls.tier]}) is allowed in mode "${this.mode}"` : `allowed by ${rule}`,
      ...(rule === undefined ? {} : { rule }),
    };
  }

  #decideAmbiguous(cls: TierClassification, problem: string): PolicyDecision {
    if (this.#deny.length > 0) {
      return this.#refuse(cls, `ambiguous request (${problem}), so the --deny rules cannot be checked`);
    }
    if (this.mode !== 'open') return this.#refuse(cls, `ambiguous request (${problem})`);
    return {
      decision: 'allow',
      mode: this.mode,
      tier: cls.tier,
      description: cls.description,
      why: cls.why,
      reason: `mode "open" allows every request, ambiguous ones included`,
    };
  }

  #modeProblem(cls: TierClassification): string {
    if (this.mode === 'readonly') return 'mode "readonly" allows only tier 0 (reads)';
    return `tiers 2-3 need a matching --allow rule (the sharer can add --allow ${JSON.stringify(cls.description)})`;
  }

  #refuse(cls: TierClassification, problem: string, rule?: string): PolicyDecision {
    const reason = `kubepair policy "${this.mode}" refuses "${cls.description}" (tier ${cls.tier}): ${problem}`;
    return {
      decision: 'deny',
      mode: this.mode,
      tier: cls.tier,
      description: cls.description,
      why: cls.why,
      reason,
      ...(rule === undefined ? {} : { rule }),
    };
  }
}

/**
 * The --allow rules that allow exactly these actions: each action's own description, narrowed to
 * its namespace and name (`delete pods team-a/web`), so approving a request for the session
 * never allows more than requests like it. Empty when one cannot be written as a rule that
 * matches its action literally (a name with `*`, a character rules cannot hold, a description
 * cut short): such a request can only be approved once.
 */
function approvalRules(actions: readonly PolicyAction[]): string[] {
  const rules = new Set<string>();
  for (const action of actions) {
    const base = describeAction(action);
    const scoped = action.kind === 'resource' && (action.namespace !== '' || action.name !== '') ? `${base} ${action.namespace}/${action.name}` : base;
    if (scoped.includes('*') || scoped.endsWith('...')) return [];
    let rule: PolicyRule;
    try {
      rule = parseRule('allow', scoped);
    } catch {
      return [];
    }
    if (!ruleMatches(rule, action)) return [];
    rules.add(rule.text);
  }
  return [...rules];
}

/** Validate a `--policy` value; throws KP_ERR_POLICY_MODE_UNKNOWN (exit code 2). */
export function parsePolicyMode(text: string): PolicyMode {
  const mode = POLICY_MODES.find((candidate) => candidate === text);
  if (mode === undefined) throw new KubepairError('KP_ERR_POLICY_MODE_UNKNOWN', JSON.stringify(text.slice(0, 40)));
  return mode;
}

/** Validate a policy description received from a peer; throws KP_ERR_POLICY_DESCRIPTION_INVALID. */
export function parsePolicyDescription(value: unknown): PolicyDescription {
  const result = PolicyDescriptionSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.join('.')}: `;
  throw new KubepairError('KP_ERR_POLICY_DESCRIPTION_INVALID', `${where}${issue?.message ?? 'invalid'}`, {
    cause: result.error,
  });
}

/** Lines for `connect`'s banner and `share`'s start-up output, from a validated description. */
export function summarizePolicy(description: PolicyDescription): string[] {
  const lines = [`policy "${description.mode}": ${MODE_SUMMARY[description.mode]}`];
  for (const rule of description.allow) lines.push(`  --allow ${JSON.stringify(rule)}`);
  for (const rule of description.deny) lines.push(`  --deny ${JSON.stringify(rule)}`);
  return lines;
}

const MODE_SUMMARY: Readonly<Record<PolicyMode, string>> = {
  readonly: 'reads only (tier 0); secrets, changes, deletes, exec and proxy are refused',
  guarded: 'reads and secrets (tiers 0-1); changes, deletes, exec and proxy (tiers 2-3) only where --allow matches',
  open: 'everything is allowed (tiers 0-3) and audited',
};
