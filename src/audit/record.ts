/**
 * The shape of the audit records kubepair writes (DESIGN §6; docs/audit.md "Records"). The
 * agent writes one `request` record per API request it decides on; the log adds `time` when a
 * record has none and, for a chained log, `seq`, `prev` and `hash`. Values that come from the
 * remote client (paths, names, the query) are untrusted and are redacted by the log.
 *
 * These are type aliases rather than interfaces so that they are assignable to
 * AuditLog.append's `Record<string, unknown>` parameter.
 */

/** One API request the agent decided on: what was asked, what was decided, what went back. */
export type RequestAuditRecord = {
  readonly event: 'request';
  /** ISO 8601 UTC time the request arrived; added by the log when missing. */
  readonly time?: string;
  /** The relay session id. */
  readonly session: string;
  /** Who asked: the paired client of that session. */
  readonly client: string;
  /** Unique per request within the session. */
  readonly request_id: string;
  /** HTTP method as received. */
  readonly method: string;
  /** Kubernetes verb (get, list, watch, create, update, patch, delete, deletecollection, ...) or the lower-case method of a non-resource request. */
  readonly verb: string;
  /** API group ('' for the core group), version, resource, subresource, namespace and name; absent for non-resource requests. */
  readonly group?: string;
  readonly version?: string;
  readonly resource?: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** The request path without the query. */
  readonly path: string;
  /** The query string, passed through redactQuery. */
  readonly query?: string;
  /** Policy tier 0-3 and the decision, with the rule that decided when one did. */
  readonly tier: 0 | 1 | 2 | 3;
  readonly decision: 'allow' | 'deny';
  readonly rule?: string;
  readonly reason?: string;
  /** HTTP status sent to the client (101 for an upgrade, 403 for a refusal). */
  readonly status: number;
  /** Body bytes received from the client and sent back to it (upgraded streams: both directions). */
  readonly bytes_in: number;
  readonly bytes_out: number;
  /** Lowercase hex SHA-256 of the response body as streamed to the client (watches and logs too). */
  readonly response_sha256: string;
  /** From arrival to the end of the response, in milliseconds. */
  readonly duration_ms: number;
};

/** Something that happened outside a request: the log opened, a session started or ended. */
export type EventAuditRecord = {
  readonly event: string;
  readonly time?: string;
  readonly session?: string;
  readonly detail?: string;
};
