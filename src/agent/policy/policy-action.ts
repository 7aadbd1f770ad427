/**
 * Policy actions: the things the agent's policy authorises (docs/design.md §6). A request is one
 * action (its resource or non-resource attributes); each impersonation header adds one more
 * (`impersonate users`, `impersonate groups`, ...), the way RBAC checks impersonation
 * separately from the request itself.
 *
 * Untrusted input: every field comes from the client's request.
 */

/** An action on an API resource; request attributes of kind 'resource' are one. */
export interface ResourceAction {
  readonly kind: 'resource';
  /** get, list, watch, create, update, patch, delete, deletecollection, proxy, impersonate */
  readonly verb: string;
  /** '' for the core group. */
  readonly group: string;
  readonly resource: string;
  /** '' when the action is on the resource itself. */
  readonly subresource: string;
  /** '' when cluster-scoped or across all namespaces. */
  readonly namespace: string;
  /** '' when the request names no object. */
  readonly name: string;
}

/** An action on a non-resource URL; request attributes of kind 'non-resource' are one. */
export interface NonResourceAction {
  readonly kind: 'non-resource';
  /** The lower-case HTTP method. */
  readonly verb: string;
  readonly path: string;
}

export type PolicyAction = ResourceAction | NonResourceAction;
