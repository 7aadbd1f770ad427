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
  KP_ERR_APPROVAL_UNKNOWN: { message: 'no request with that id waits for the sharer\'s approval', exit: 1 },
  KP_ERR_APPROVAL_ID_NEEDED: { message: 'several requests wait for approval: name one by its id (kubepair approvals lists them)', exit: 2 },
  KP_ERR_APPROVAL_SESSION_UNAVAILABLE: { message: 'this request cannot be approved for the session (no --allow rule names exactly it); approve it once', exit: 1 },
  KP_ERR_APPROVE_UNAVAILABLE: { message: 'share --approve needs a way to ask the sharer: a terminal, or the share\'s control socket', exit: 2 },
  KP_ERR_APPROVAL_SESSION_FAILED: { message: 'the request was not approved for the session, and is refused: its rule could not be added to the session\'s policy', exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
