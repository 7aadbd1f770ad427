/**
 * Error codes of the certificate module (src/tls, docs/design.md §6: the per-session throw-away CA
 * of the client's local TLS listener, and the test API server's certificates).
 * Codes are never reused once retired; add new ones at the end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const TLS_ERRORS = {
  KP_ERR_TLS_INVALID_REQUEST: { message: 'invalid certificate request', exit: 2 },
  KP_ERR_TLS_ISSUE_FAILED: { message: 'a certificate could not be issued', exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
