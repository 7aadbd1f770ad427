/**
 * `--allow RULE` and `--deny RULE`: parsing and matching (docs/design.md §6; grammar and examples
 * in docs/policy.md). A rule is `VERB TARGET [NAMESPACE/NAME]`:
 *
 *   rule        = verb 1*WSP target [1*WSP scope]
 *   verb        = glob of [a-z*]             ; must match a known verb
 *   target      = "*"                         ; every resource, subresource and non-resource URL
 *               / resource ["." group] ["/" subresource]
 *               / "/" [url-path]              ; a non-resource URL such as /version or /logs/*
 *   resource    = glob of [a-z0-9*-]          ; the lower-case plural: pods, deployments
 *   group       = glob of [a-z0-9.*-]         ; omitted: any group (the core group included)
 *   subresource = glob of [a-z0-9*-]          ; omitted: the resource itself, no subresource
 *   url-path    = glob of printable ASCII except space
 *   scope       = namespace "/" name          ; omitted: every namespace and name
 *   namespace   = glob of [a-z0-9*-]          ; empty: cluster-scoped objects only
 *   name        = glob of printable ASCII except space, "/", "%" and "\"
 *
 * Globs have one wildcard, `*` (any run of characters, including none), matched in linear
 * time by glob.ts; no regular expression is built from a rule. A missing namespace or name
 * in the request (a list, a create, a request across all namespaces) is '' to an --allow rule,
 * so a narrow --allow never covers a wide request, but matches anything for a --deny rule,
 * so a narrow --deny cannot be side-stepped by asking for the whole collection.
 *
 * Untrusted input: rule text is the sharer's command-line input (or a peer's session
 * description); it is length-bounded and validated character by character. Action fields
 * come from the client's request.
 */
import { KubepairError } from '../../errors/index.js';
import { POLICY_MAX_RULES, POLICY_RULE_MAX_CHARS } from '../../limits.js';
import { compileGlob, globMatches } from './glob.js';
import type { Glob } from './glob.js';
import type { PolicyAction, ResourceAction } from './policy-action.js';
import { CONNECT_SUBRESOURCES, NON_RESOURCE_VERBS, RESOURCE_VERBS } from './request-attributes.js';

export type RuleKind = 'allow' | 'deny';

export type RuleTarget =
  | { readonly type: 'everything' }
  | { readonly type: 'resource'; readonly resource: Glob; readonly group: Glob; readonly subresource: Glob }
  | { readonly type: 'non-resource'; readonly path: Glob };

export interface PolicyRule {
  readonly kind: RuleKind;
  /** The rule as written (trimmed). */
  readonly text: string;
  readonly verb: Glob;
  readonly target: RuleTarget;
  /** Absent: every namespace and name. */
  readonly scope?: { readonly namespace: Glob; readonly name: Glob };
}

/** Verbs a resource rule may name: the request verbs plus `impersonate` (impersonation.ts). */
const RESOURCE_RULE_VERBS: readonly string[] = [...RESOURCE_VERBS, 'impersonate'];
const ALL_RULE_VERBS: readonly string[] = [...new Set([...RESOURCE_RULE_VERBS, ...NON_RESOURCE_VERBS])];

/** Words people write for a verb that is really a subresource or another verb. */
const VERB_HINTS: Readonly<Record<string, string>> = {
  exec: 'exec is a subresource: write "create pods/exec"',
  attach: 'attach is a subresource: write "create pods/attach"',
  portforward: 'port-forward is a subresource: write "create pods/portforward"',
  logs: 'logs are a subresource: write "get pods/log"',
  log: 'logs are a subresource: write "get pods/log"',
  read: 'write "get", "list" or "watch" (or "*")',
  edit: 'write "update" or "patch"',
  replace: 'write "update"',
  apply: 'server-side apply is "patch"',
  scale: 'scaling is a subresource: write "update deployments.apps/scale" (or "patch ...")',
  post: 'post is only a verb of non-resource URLs (targets starting with /)',
};

/** Singular names, kinds and short names of built-in resources, mapped to the plural. */
const RESOURCE_HINTS: Readonly<Record<string, string>> = {
  pod: 'pods', po: 'pods', service: 'services', svc: 'services', secret: 'secrets', configmap: 'configmaps',
  cm: 'configmaps', namespace: 'namespaces', ns: 'namespaces', node: 'nodes', no: 'nodes',
  serviceaccount: 'serviceaccounts', sa: 'serviceaccounts', endpoint: 'endpoints', ep: 'endpoints',
  event: 'events', ev: 'events', pv: 'persistentvolumes', persistentvolume: 'persistentvolumes',
  pvc: 'persistentvolumeclaims', persistentvolumeclaim: 'persistentvolumeclaims',
  deployment: 'deployments.apps', deploy: 'deployments.apps', replicaset: 'replicasets.apps', rs: 'replicasets.apps',
  statefulset: 'statefulsets.apps', sts: 'statefulsets.apps', daemonset: 'daemonsets.apps', ds: 'daemonsets.apps',
  job: 'jobs.batch', cronjob: 'cronjobs.batch', cj: 'cronjobs.batch', ingress: 'ingresses.networking.k8s.io',
  ing: 'ingresses.networking.k8s.io', networkpolicy: 'networkpolicies.networking.k8s.io',
  netpol: 'networkpolicies.networking.k8s.io', role: 'roles.rbac.authorization.k8s.io',
  clusterrole: 'clusterroles.rbac.authorization.k8s.io', rolebinding: 'rolebindings.rbac.authorization.k8s.io',
  clusterrolebinding: 'clusterrolebindings.rbac.authorization.k8s.io', csr: 'certificatesigningrequests.certificates.k8s.io',
  crd: 'customresourcedefinitions.apiextensions.k8s.io', hpa: 'horizontalpodautoscalers.autoscaling',
  pdb: 'poddisruptionbudgets.policy', sc: 'storageclasses.storage.k8s.io',
};

const VERB_CHARS = /[^a-z*]/;
const RESOURCE_CHARS = /[^a-z0-9*-]/;
const GROUP_CHARS = /[^a-z0-9.*-]/;
const NAMESPACE_CHARS = /[^a-z0-9*-]/;
const NAME_CHARS = /[^\x21-\x7e]|[/%\\]/;
const URL_PATH_CHARS = /[^\x21-\x7e]/;

/** One token of the rule and the 1-based column it starts at, for error messages. */
interface Token {
  readonly text: string;
  readonly column: number;
}

/** Parse one rule; throws KP_ERR_POLICY_RULE_INVALID naming the rule, the column and the problem. */
export function parseRule(kind: RuleKind, source: string): PolicyRule {
  const fail = (column: number | undefined, problem: string): never => {
    const shown = source.length > 80 ? `${source.slice(0, 80)}...` : source;
    const where = column === undefined ? '' : ` at column ${column}`;
    throw new KubepairError('KP_ERR_POLICY_RULE_INVALID', `--${kind} ${JSON.stringify(shown)}${where}: ${problem}`);
  };
  if (source.length > POLICY_RULE_MAX_CHARS) fail(undefined, `longer than ${POLICY_RULE_MAX_CHARS} characters`);
  const badChar = /[^\x20-\x7e\t]/.exec(source);
  if (badChar) fail(badChar.index + 1, 'only printable ASCII characters, spaces and tabs are allowed');

  const tokens = tokenize(source);
  const [verbToken, targetToken, scopeToken, extra] = tokens;
  if (verbToken === undefined) return fail(undefined, 'the rule is empty; expected VERB TARGET [NAMESPACE/NAME]');
  if (targetToken === undefined) {
    return fail(source.length + 1, 'missing the target after the verb; expected VERB TARGET [NAMESPACE/NAME]');
  }
  if (extra !== undefined) fail(extra.column, 'unexpected text after NAMESPACE/NAME; a rule has at most three parts');

  const target = parseTarget(targetToken, fail);
  const verb = parseVerb(verbToken, target, fail);
  checkConnectVerb(verb, target, verbToken, fail);
  const scope = scopeToken === undefined ? undefined : parseScope(scopeToken, target, fail);
  const text = tokens.map((token) => token.text).join(' ');
  return scope === undefined ? { kind, text, verb, target } : { kind, text, verb, target, scope };
}

/** Parse a list of rules of one kind; throws KP_ERR_POLICY_TOO_MANY_RULES past POLICY_MAX_RULES. */
export function parseRules(kind: RuleKind, sources: readonly string[]): PolicyRule[] {
  if (sources.length > POLICY_MAX_RULES) {
    throw new KubepairError('KP_ERR_POLICY_TOO_MANY_RULES', `${sources.length} --${kind} rules; at most ${POLICY_MAX_RULES}`);
  }
  return sources.map((source) => parseRule(kind, source));
}

/** How a rule is named in messages and the audit log: `--deny "delete pods"`. */
export function ruleLabel(rule: PolicyRule): string {
  return `--${rule.kind} ${JSON.stringify(rule.text)}`;
}

/** True when the rule covers the action, with the --allow / --deny reading of missing fields. */
export function ruleMatches(rule: PolicyRule, action: PolicyAction): boolean {
  if (!globMatches(rule.verb, action.verb)) return false;
  const { target, scope } = rule;
  if (action.kind === 'non-resource') {
    if (target.type === 'non-resource') return globMatches(target.path, action.path);
    return target.type === 'everything' && scope === undefined;
  }
  if (target.type === 'non-resource') return false;
  if (target.type === 'resource') {
    if (!globMatches(target.resource, action.resource)) return false;
    if (!globMatches(target.group, action.group)) return false;
    if (!globMatches(target.subresource, action.subresource)) return false;
  }
  return scope === undefined || scopeMatches(rule.kind, scope, action);
}

function scopeMatches(kind: RuleKind, scope: { namespace: Glob; name: Glob }, action: ResourceAction): boolean {
  // A deny rule reads a missing namespace or name as "possibly any": the request may touch it.
  const unknownMatches = kind === 'deny';
  const namespaceOk =
    (unknownMatches && action.namespace === '') ||
    globMatches(scope.namespace, action.namespace) ||
    // The namespace object NS is both the cluster-scoped /NS and, as RBAC sees it, NS/NS.
    (action.resource === 'namespaces' && action.group === '' && globMatches(scope.namespace, ''));
  const nameOk = (unknownMatches && action.name === '') || globMatches(scope.name, action.name);
  return namespaceOk && nameOk;
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /[^ \t]+/g;
  for (let match = pattern.exec(source); match !== null; match = pattern.exec(source)) {
    tokens.push({ text: match[0], column: match.index + 1 });
    if (tokens.length > 4) break; // the fourth token is already an error
  }
  return tokens;
}

type Fail = (column: number | undefined, problem: string) => never;

/** Check `text` against a forbidden-character pattern; `offset` is its column within the token. */
function checkChars(text: string, forbidden: RegExp, token: Token, offset: number, what: string, fail: Fail): void {
  const bad = forbidden.exec(text);
  if (bad) fail(token.column + offset + bad.index, `${JSON.stringify(bad[0])} is not allowed in ${what}`);
}

function parseVerb(token: Token, target: RuleTarget, fail: Fail): Glob {
  const known =
    target.type === 'resource' ? RESOURCE_RULE_VERBS : target.type === 'non-resource' ? NON_RESOURCE_VERBS : ALL_RULE_VERBS;
  const hint = VERB_HINTS[token.text];
  if (hint !== undefined && !known.includes(token.text)) fail(token.column, `unknown verb ${JSON.stringify(token.text)}: ${hint}`);
  checkChars(token.text, VERB_CHARS, token, 0, 'a verb (lower-case letters and *)', fail);
  const glob = compileGlob(token.text);
  if (!known.some((verb) => globMatches(glob, verb))) {
    const kindName = target.type === 'non-resource' ? 'non-resource URL' : 'resource';
    fail(token.column, `${JSON.stringify(token.text)} matches no ${kindName} verb (${known.join(', ')})`);
  }
  return glob;
}

/**
 * Security: exec, attach and portforward are always `create` (request-attributes.ts), so a
 * rule such as `get pods/exec` would silently never match; as a --deny it would leave the
 * shell open. Refuse it and say what to write.
 */
function checkConnectVerb(verb: Glob, target: RuleTarget, token: Token, fail: Fail): void {
  if (target.type !== 'resource' || !target.subresource.exact) return;
  const subresource = target.subresource.source;
  if (CONNECT_SUBRESOURCES.has(subresource) && !globMatches(verb, 'create')) {
    fail(
      token.column,
      `${subresource} is always the verb "create" (a WebSocket upgrade arrives as a GET but opens a stream): write "create .../${subresource}"`,
    );
  }
}

function parseTarget(token: Token, fail: Fail): RuleTarget {
  const text = token.text;
  if (text === '*') return { type: 'everything' };
  if (text.startsWith('/')) {
    checkChars(text, URL_PATH_CHARS, token, 0, 'a URL path', fail);
    return { type: 'non-resource', path: compileGlob(text) };
  }
  const slash = text.indexOf('/');
  const qualified = slash < 0 ? text : text.slice(0, slash);
  const subresource = slash < 0 ? undefined : text.slice(slash + 1);
  const dot = qualified.indexOf('.');
  const resource = dot < 0 ? qualified : qualified.slice(0, dot);
  const group = dot < 0 ? undefined : qualified.slice(dot + 1);

  if (resource === '') fail(token.column, 'missing the resource (for example pods or deployments.apps)');
  checkChars(resource, RESOURCE_CHARS, token, 0, 'a resource (the lower-case plural, for example pods)', fail);
  const plural = RESOURCE_HINTS[resource];
  if (plural !== undefined && group === undefined) {
    fail(token.column, `${JSON.stringify(resource)} is not a resource name: write the lower-case plural ${JSON.stringify(plural)}`);
  }
  if (group !== undefined) {
    if (group === '') fail(token.column + dot + 1, 'empty API group after "."');
    checkChars(group, GROUP_CHARS, token, dot + 1, 'an API group', fail);
  }
  if (subresource !== undefined) {
    if (subresource === '') fail(token.column + slash + 1, 'empty subresource after "/"');
    checkChars(subresource, RESOURCE_CHARS, token, slash + 1, 'a subresource', fail);
  }
  return {
    type: 'resource',
    resource: compileGlob(resource),
    group: compileGlob(group ?? '*'),
    subresource: compileGlob(subresource ?? ''),
  };
}

function parseScope(token: Token, target: RuleTarget, fail: Fail): { namespace: Glob; name: Glob } {
  if (target.type === 'non-resource') fail(token.column, 'a non-resource URL has no NAMESPACE/NAME');
  const slash = token.text.indexOf('/');
  if (slash < 0) {
    fail(
      token.column,
      `expected NAMESPACE/NAME (${token.text}/* for a whole namespace, /${token.text} for a cluster-scoped object)`,
    );
  }
  const namespace = token.text.slice(0, slash);
  const name = token.text.slice(slash + 1);
  checkChars(namespace, NAMESPACE_CHARS, token, 0, 'a namespace (a lower-case DNS label or *)', fail);
  checkChars(name, NAME_CHARS, token, slash + 1, 'an object name', fail);
  const scope = { namespace: compileGlob(namespace), name: compileGlob(name) };
  if (namespace === '' && name === '') fail(token.column, 'empty NAMESPACE/NAME; leave the scope out to mean every object');
  return scope;
}
