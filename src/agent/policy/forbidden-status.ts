/**
 * The answer to a refused request (docs/design.md §6): a Kubernetes `Status` object with code 403
 * and reason Forbidden, the shape the API server itself sends, so kubectl and client-go print it
 * as their own errors:
 *
 *   Error from server (Forbidden): kubepair policy "guarded" refuses "delete pods" (tier 3): ...
 *
 * (kubectl prints `Error from server (REASON): MESSAGE` for any Status with a reason;
 * test/integration/agent/policy/forbidden-status-kubectl.test.ts checks it with the real binary.)
 * `details` carries the resource, group and name the way the API server's own Forbidden does
 * (`kind` is the resource's plural, as in apierrors.NewForbidden).
 *
 * Untrusted input: the object name in the attributes (from the request path). It only appears
 * JSON-encoded in `details`; the message is built from the policy decision, whose text is
 * reduced to printable ASCII.
 */
import { ERRORS } from '../../errors/index.js';
import { KUBE_STATUS_HEADERS, kubeStatus } from '../../protocol/kube-status.js';
import type { KubeStatus, StatusDetails } from '../../protocol/kube-status.js';
import type { PolicyDecision } from './policy.js';
import type { RequestAttributes } from './request-attributes.js';

export type { StatusDetails };

/** An HTTP answer ready to write: status code, headers and the JSON body. */
export interface ForbiddenResponse {
  readonly statusCode: 403;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const FORBIDDEN = ERRORS.KP_ERR_POLICY_FORBIDDEN.status;

/** The Status object for a refusal (protocol/kube-status.ts builds it; reason Forbidden). */
export function forbiddenStatus(decision: PolicyDecision, attributes: RequestAttributes): KubeStatus {
  if (attributes.kind !== 'resource') return kubeStatus(FORBIDDEN, decision.reason);
  return kubeStatus(FORBIDDEN, decision.reason, {
    ...(attributes.name === '' ? {} : { name: attributes.name }),
    ...(attributes.group === '' ? {} : { group: attributes.group }),
    kind: attributes.resource,
  });
}

/** The whole HTTP answer for a refusal, as the API server would send it. */
export function forbiddenResponse(decision: PolicyDecision, attributes: RequestAttributes): ForbiddenResponse {
  const body = JSON.stringify(forbiddenStatus(decision, attributes));
  return {
    statusCode: FORBIDDEN,
    headers: {
      ...Object.fromEntries(KUBE_STATUS_HEADERS),
      'content-length': String(Buffer.byteLength(body)),
      'x-content-type-options': 'nosniff',
    },
    body,
  };
}
