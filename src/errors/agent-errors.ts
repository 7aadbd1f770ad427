/**
 * Error codes of `kubepair share` (docs/design.md §1, §6).
 * Codes are never reused once retired; add new ones at the end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const AGENT_ERRORS = {
  KP_ERR_KUBECONFIG_LOAD: { message: 'cannot load the kubeconfig', exit: 2 },
  KP_ERR_KUBECONFIG_UNSUPPORTED: { message: 'the kubeconfig uses something kubepair does not support', exit: 2 },
  KP_ERR_KUBECONFIG_INSECURE: {
    message: 'the kubeconfig turns off TLS verification for the API server; kubepair will not proxy to an unverified server',
    exit: 2,
  },
  KP_ERR_EXEC_CREDENTIAL: { message: 'the exec credential plugin failed', exit: 1 },
  KP_ERR_UPSTREAM: { message: 'the Kubernetes API server cannot be reached', status: 502, exit: 1 },
  KP_ERR_TARGET_SPEC: { message: 'invalid --expose target (expected NAME=HOST:PORT)', exit: 2 },
  KP_ERR_SESSION_EXPIRED: { message: 'the session reached its maximum lifetime', close: 4410, exit: 1 },
  KP_ERR_SERVICE_ACCOUNT_TOKEN: { message: 'the API server did not issue a token for --service-account', exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
