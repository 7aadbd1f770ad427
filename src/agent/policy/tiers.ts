/**
 * The tier table (docs/design.md §6, the shell relay's tiered authority): every action is tier
 * 0 read, 1 sensitive read, 2 change, or 3 irreversible or interactive. Rows are checked in
 * order and the first match wins, so the dangerous rows come first. docs/policy.md explains
 * each choice; the ones worth repeating here:
 * - Tier 0 is roughly what Kubernetes' built-in `view` ClusterRole grants: configmaps and
 *   pods/log are tier 0, secrets are not.
 * - exec, attach, portforward and every proxy are tier 3 whatever the verb: a GET upgrade is
 *   a shell, not a read.
 * - Minting a service account token (`create serviceaccounts/token`) is tier 1 with secrets:
 *   it hands out the same kind of credential a token Secret holds.
 * - Self reviews (`kubectl auth can-i`, `kubectl auth whoami`) are tier 0 although they are
 *   `create`: they change nothing and reveal only the caller's own permissions.
 *
 * Untrusted input: the action's fields (from the client's request).
 */
import { POLICY_DESCRIPTION_MAX_CHARS } from '../../limits.js';
import type { NonResourceAction, PolicyAction, ResourceAction } from './policy-action.js';
import { CONNECT_SUBRESOURCES } from './request-attributes.js';
import type { AmbiguousRequestAttributes } from './request-attributes.js';

export type Tier = 0 | 1 | 2 | 3;

export const TIER_NAMES: Readonly<Record<Tier, string>> = {
  0: 'read',
  1: 'sensitive read',
  2: 'change',
  3: 'irreversible or interactive',
};

export interface TierClassification {
  readonly tier: Tier;
  /** What the action is, in rule syntax: `delete pods`, `create deployments.apps`, `get /version`. */
  readonly description: string;
  /** Why it has that tier, in a few words: `deletion`, `interactive: exec`, `secrets`. */
  readonly why: string;
}

interface TierRow {
  readonly tier: Tier;
  readonly why: (action: ResourceAction) => string;
  readonly test: (action: ResourceAction) => boolean;
}

const READ_VERBS: ReadonlySet<string> = new Set(['get', 'list', 'watch']);
const WRITE_VERBS: ReadonlySet<string> = new Set(['create', 'update', 'patch']);
/** API groups whose objects decide who may do what, or see every request: changing them is tier 3. */
const CONTROL_GROUPS: ReadonlySet<string> = new Set([
  'rbac.authorization.k8s.io',
  'admissionregistration.k8s.io',
  'apiregistration.k8s.io',
]);
const PEER_REVIEWS: ReadonlySet<string> = new Set(['tokenreviews', 'subjectaccessreviews', 'localsubjectaccessreviews']);
const SELF_REVIEWS: ReadonlySet<string> = new Set(['selfsubjectaccessreviews', 'selfsubjectrulesreviews', 'selfsubjectreviews']);

const isWrite = (a: ResourceAction): boolean => WRITE_VERBS.has(a.verb);
const fixed = (why: string) => (): string => why;

/** The resource tier table, most dangerous first; the first row that matches decides. */
const RESOURCE_TIERS: readonly TierRow[] = [
  { tier: 3, why: fixed('impersonation'), test: (a) => a.verb === 'impersonate' },
  { tier: 3, why: (a) => `interactive: ${a.subresource}`, test: (a) => CONNECT_SUBRESOURCES.has(a.subresource) },
  { tier: 3, why: fixed('proxy'), test: (a) => a.verb === 'proxy' || a.subresource === 'proxy' },
  { tier: 3, why: fixed('deletion'), test: (a) => a.verb === 'delete' || a.verb === 'deletecollection' },
  { tier: 3, why: fixed('eviction deletes the pod'), test: (a) => a.subresource === 'eviction' && isWrite(a) },
  {
    tier: 3,
    why: fixed('debug container: runs a command in a running pod'),
    test: (a) => a.subresource === 'ephemeralcontainers' && isWrite(a),
  },
  { tier: 3, why: (a) => `access control change (${a.group})`, test: (a) => CONTROL_GROUPS.has(a.group) && isWrite(a) },
  {
    tier: 3,
    why: fixed('certificate approval'),
    test: (a) => a.resource === 'certificatesigningrequests' && a.subresource === 'approval' && isWrite(a),
  },
  {
    tier: 3,
    why: fixed('namespace finalization'),
    test: (a) => a.resource === 'namespaces' && a.subresource === 'finalize' && isWrite(a),
  },
  { tier: 1, why: fixed('secrets'), test: (a) => a.resource === 'secrets' && READ_VERBS.has(a.verb) },
  { tier: 1, why: fixed('service account token'), test: (a) => a.resource === 'serviceaccounts' && a.subresource === 'token' },
  { tier: 1, why: fixed('token or access review of others'), test: (a) => PEER_REVIEWS.has(a.resource) && a.verb === 'create' },
  { tier: 0, why: fixed('self review'), test: (a) => SELF_REVIEWS.has(a.resource) && a.verb === 'create' },
  { tier: 0, why: fixed('read'), test: (a) => READ_VERBS.has(a.verb) },
  { tier: 2, why: fixed('change'), test: isWrite },
];

/** Classify an action, or an ambiguous request (always tier 3). */
export function classifyTier(action: PolicyAction | AmbiguousRequestAttributes): TierClassification {
  const description = describeAction(action);
  switch (action.kind) {
    case 'ambiguous':
      return { tier: 3, description, why: `ambiguous request: ${action.problem}` };
    case 'non-resource':
      return { ...nonResourceTier(action), description };
    case 'resource': {
      const row = RESOURCE_TIERS.find((candidate) => candidate.test(action));
      if (row === undefined) return { tier: 3, description, why: `unknown verb` };
      return { tier: row.tier, description, why: row.why(action) };
    }
  }
}

function nonResourceTier(action: NonResourceAction): { tier: Tier; why: string } {
  if (action.verb === 'get' || action.verb === 'head') {
    const top = action.path.split('/')[1] ?? '';
    if (top === 'logs' || top === 'debug') return { tier: 1, why: 'API server logs or debug endpoints' };
    return { tier: 0, why: 'read' };
  }
  if (action.verb === 'delete') return { tier: 3, why: 'deletion' };
  return { tier: 2, why: 'change' };
}

/**
 * The action in rule syntax, safe to print: `delete pods`, `create deployments.apps`,
 * `get pods/log`, `get /version`. Anything outside printable ASCII becomes `?`, and the
 * result is cut to POLICY_DESCRIPTION_MAX_CHARS.
 */
export function describeAction(action: PolicyAction | AmbiguousRequestAttributes): string {
  let text: string;
  if (action.kind === 'resource') {
    const group = action.group === '' ? '' : `.${action.group}`;
    const subresource = action.subresource === '' ? '' : `/${action.subresource}`;
    text = `${action.verb} ${action.resource}${group}${subresource}`;
  } else {
    text = `${action.verb} ${action.path}`;
  }
  const safe = text.replace(/[^\x20-\x7e]/g, '?');
  return safe.length > POLICY_DESCRIPTION_MAX_CHARS ? `${safe.slice(0, POLICY_DESCRIPTION_MAX_CHARS - 3)}...` : safe;
}
