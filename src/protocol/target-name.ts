/**
 * Target names: what a CONNECT stream's `:authority` may name (docs/design.md §5;
 * docs/protocol.md). The agent offers `kube-apiserver` and names given with
 * `--expose NAME=HOST:PORT`; the client can only name one of them, and the agent maps names to
 * addresses itself, so a client can never make the agent dial an arbitrary host. Names are
 * DNS-label-like and compared exactly.
 */
import { KubepairError } from '../errors/index.js';
import { MUX_TARGET_NAME_MAX_CHARS } from '../limits.js';

/** The target every session offers: the cluster's API server. */
export const KUBE_API_TARGET = 'kube-apiserver';

const TARGET_NAME = new RegExp(`^[a-z0-9](?:[a-z0-9-]{0,${MUX_TARGET_NAME_MAX_CHARS - 2}}[a-z0-9])?$`);

export function isValidTargetName(name: string): boolean {
  return TARGET_NAME.test(name);
}

/** Throw a usage error (exit 2) naming the bad target. */
export function assertTargetName(name: string, what = 'target name'): void {
  if (!isValidTargetName(name)) {
    throw new KubepairError(
      'KP_ERR_INVALID_ARGUMENT',
      `${what} "${name.slice(0, 80)}" must be lowercase letters, digits and dashes (1-${MUX_TARGET_NAME_MAX_CHARS} characters)`,
    );
  }
}
