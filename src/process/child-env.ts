/**
 * The environment a child process inherits (docs/design.md §7): kubepair strips every variable
 * whose name mentions TOKEN, SECRET, PASSWORD, CREDENTIAL (or KUBEPAIR_ settings) before it runs a
 * shell, a command or an exec credential plugin, so a secret meant for kubepair or the parent
 * shell does not leak into programs that did not ask for it.
 */

const SENSITIVE_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|^KUBEPAIR_/i;

/** True when a variable with this name is withheld from children. */
export function isSensitiveVariable(name: string): boolean {
  return SENSITIVE_NAME.test(name);
}

/**
 * A copy of `env` without sensitive variables, plus `extra` (which is trusted). Names in
 * `passThrough` are kept even when they look sensitive: the user listed them explicitly (for
 * example `--pass-env AWS_SESSION_TOKEN` for an exec credential plugin that needs it).
 */
export function childEnvironment(
  env: NodeJS.ProcessEnv,
  extra: Readonly<Record<string, string>> = {},
  passThrough: readonly string[] = [],
): NodeJS.ProcessEnv {
  const keep = new Set(passThrough);
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && (keep.has(name) || !isSensitiveVariable(name))) out[name] = value;
  }
  return { ...out, ...extra };
}

/** Names that `childEnvironment` removed, for telling the user. */
export function withheldVariables(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env).filter(isSensitiveVariable).sort();
}
