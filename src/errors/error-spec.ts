/**
 * The shape of one entry in the error registry (CONVENTIONS §4).
 *
 * Every error kubepair raises has a stable code, a human summary, and the way it leaves the
 * process: an HTTP status (relay API), a WebSocket close code (tunnel), and a CLI exit code.
 */
export interface ErrorSpec {
  /** Human summary shown to users; a specific detail may be appended after a colon. */
  readonly message: string;
  /** HTTP status when the error answers an HTTP request. */
  readonly status?: number;
  /** WebSocket close code (4000-4999 application range) when the error ends a socket. */
  readonly close?: number;
  /** Process exit code when the error ends a CLI command: 2 for bad input, 1 otherwise. */
  readonly exit: 1 | 2;
}
