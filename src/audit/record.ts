/**
 * The shape of the audit records kubepair writes (docs/design.md §6; docs/audit.md "Records"), one
 * type per event. The agent writes a `connection_opened` record before it serves any tunnel stream
 * and a `connection_closed` record when the stream ends, and one `request` record per API
 * request it decides on; the log adds `time` when a record has none and, for a chained log,
 * `seq`, `prev` and `hash`. Values that come from the remote client (paths, names, the query)
 * are untrusted and are redacted by the log.
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
  /**
   * Who the API server was asked to act as, when not the agent's own identity, and whose choice
   * it was: `share` (`--as`/`--as-group`), `kubeconfig` (the `as:` of the agent's kubeconfig
   * user; the client's own fields are dropped under both), or `client` (its own
   * `Impersonate-*` fields, as the policy judged them).
   */
  readonly impersonate_source?: 'share' | 'kubeconfig' | 'client';
  readonly impersonate_user?: string;
  readonly impersonate_groups?: readonly string[];
  readonly impersonate_uid?: string;
  /** `Impersonate-Extra-KEY` values by lower-case KEY. */
  readonly impersonate_extra?: Readonly<Record<string, readonly string[]>>;
  /** Policy tier 0-3 and the decision, with the rule that decided when one did. */
  readonly tier: 0 | 1 | 2 | 3;
  readonly decision: 'allow' | 'deny';
  readonly rule?: string;
  readonly reason?: string;
  /**
   * With `share --approve` (docs/audit.md "Live approval"): who made the decision, the sharer
   * (an answer at the prompt or through `kubepair approve`/`decline`) or the policy (everything
   * else); on every request record of such a share.
   */
  readonly decided_by?: 'sharer' | 'policy';
  /** How a request held for the sharer ended, and how long it waited for that, in ms. */
  readonly approval?: 'approved_once' | 'approved_session' | 'declined' | 'timed_out' | 'queue_full' | 'withdrawn' | 'closed' | 'session_change_failed';
  readonly waited_ms?: number;
  /** HTTP status sent to the client (101 for an upgrade, 403 for a refusal). */
  readonly status: number;
  /** Body bytes received from the client and sent back to it (upgraded streams: both directions). */
  readonly bytes_in: number;
  readonly bytes_out: number;
  /** Lowercase hex SHA-256 of the response body as streamed to the client (watches and logs too). */
  readonly response_sha256: string;
  /** From arrival to the end of the response, in milliseconds. */
  readonly duration_ms: number;
  /**
   * The recording of an exec or attach session (docs/audit.md "Recorded sessions"): its file,
   * relative to the audit log's directory (`recordings/NAME.cast`), the SHA-256 and size of the
   * file as the agent left it, and whether typed input is in it (redacted).
   */
  readonly recording?: string;
  readonly recording_sha256?: string;
  readonly recording_bytes?: number;
  readonly recording_input?: boolean;
  /** Why the session was refused for, or stopped, its recording, or went on unrecorded (--recording-fail-open). */
  readonly recording_error?: string;
  /**
   * The request was still running when the sharer changed the session's policy, and the new
   * policy refuses it: why (its reason, naming the rule), and it was cut then (`kubepair session
   * policy`, docs/usage.md "Session control").
   */
  readonly cut_by_policy?: string;
};

/**
 * A tunnel stream to one of the agent's targets is about to be served: a raw TCP target
 * (`--expose`), the API server in passthrough mode, or a connection to the agent's API proxy in
 * proxy mode. Written, and awaited, before the stream is answered — so before the agent dials
 * anything and before any byte is forwarded. A stream whose record cannot be written is refused
 * (fail closed, unless --audit-fail-open).
 */
export type ConnectionOpenedAuditRecord = {
  readonly event: 'connection_opened';
  /** When the stream was admitted; added by the log. */
  readonly time?: string;
  readonly session: string;
  readonly client: string;
  /** The tunnel stream id: with the session, it names the connection in both of its records. */
  readonly stream: number;
  /** The target name the client asked for (`kube-apiserver`, or an `--expose` name). */
  readonly target: string;
};

/** A tunnel stream that was served has ended. */
export type ConnectionClosedAuditRecord = {
  readonly event: 'connection_closed';
  readonly time?: string;
  readonly session: string;
  readonly client: string;
  readonly stream: number;
  readonly target: string;
  /**
   * Bytes from and to the client, for raw TCP targets. Absent for a connection to the API
   * proxy (proxy mode): its `request` records count the bytes of each request.
   */
  readonly bytes_in?: number;
  readonly bytes_out?: number;
  /** From the opened record to the end, in milliseconds. */
  readonly duration_ms: number;
  /** Why it ended, when it failed (the target refused the dial, a reset, ...). */
  readonly error?: string;
};

/** Something that happened outside a request: the log opened, a session started or ended. */
export type EventAuditRecord = {
  readonly event: string;
  readonly time?: string;
  readonly session?: string;
  readonly detail?: string;
};
