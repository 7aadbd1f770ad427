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
import type { PolicyDecision } from './policy.js';
import type { RequestAttributes } from './request-attributes.js';

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
}

/** The fields of meta/v1 Status that a Forbidden answer uses. */
export interface ForbiddenStatus {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure';
  readonly message: string;
  readonly reason: 'Forbidden';
  readonly details?: StatusDetails;
  readonly code: 403;
}

/** An HTTP answer ready to write: status code, headers and the JSON body. */
export interface ForbiddenResponse {
  readonly statusCode: 403;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const FORBIDDEN = ERRORS.KP_ERR_POLICY_FORBIDDEN.status;

/** The Status object for a refusal. */
export function forbiddenStatus(decision: PolicyDecision, attributes: RequestAttributes): ForbiddenStatus {
  const base = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: decision.reason,
    reason: 'Forbidden',
    code: FORBIDDEN,
  } as const;
  if (attributes.kind !== 'resource') return base;
  const details: StatusDetails = {
    ...(attributes.name === '' ? {} : { name: attributes.name }),
    ...(attributes.group === '' ? {} : { group: attributes.group }),
    kind: attributes.resource,
  };
  return { ...base, details };
}

/** The whole HTTP answer for a refusal, as the API server would send it. */
export function forbiddenResponse(decision: PolicyDecision, attributes: RequestAttributes): ForbiddenResponse {
  const body = JSON.stringify(forbiddenStatus(decision, attributes));
  return {
    statusCode: FORBIDDEN,
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    },
    body,
  };
}
