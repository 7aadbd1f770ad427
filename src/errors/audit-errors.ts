/**
 * Error codes of the audit log and redaction (DESIGN §6).
 * Codes are never reused once retired; add new ones at the end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const AUDIT_ERRORS = {
  KP_ERR_AUDIT_WRITE: { message: 'the audit log cannot be written', status: 503, exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
