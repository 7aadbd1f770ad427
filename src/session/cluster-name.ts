/**
 * Cluster names from the agent are untrusted (docs/design.md §7, mykube issues 6-8): before any use
 * in a path, a shell prompt, a kubeconfig or a terminal they are reduced to `[a-zA-Z0-9._-]`,
 * bounded in length, and never `.`/`..` or empty.
 */

/** Longest sanitized cluster name. */
export const CLUSTER_NAME_MAX_CHARS = 64;

/** Reduce `name` to `[a-zA-Z0-9._-]`, at most 64 characters, never empty or a dot path. */
export function sanitizeClusterName(name: string): string {
  const reduced = name.replace(/[^a-zA-Z0-9._-]/g, '').slice(0, CLUSTER_NAME_MAX_CHARS);
  const withoutLeadingDots = reduced.replace(/^[.-]+/, '');
  return withoutLeadingDots.length === 0 ? 'cluster' : withoutLeadingDots;
}
