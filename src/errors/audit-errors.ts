/**
 * Error codes of the audit log, its verification and redaction (docs/design.md §6, docs/audit.md).
 * Codes are never reused once retired; add new ones at the end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const AUDIT_ERRORS = {
  KP_ERR_AUDIT_WRITE: { message: 'the audit log cannot be written', status: 503, exit: 1 },
  KP_ERR_AUDIT_RECORD_INVALID: {
    message: 'the audit record cannot be written (not a plain object, a reserved chain field, or too large)',
    status: 500,
    exit: 1,
  },
  KP_ERR_AUDIT_BACKLOG: { message: 'too many audit records are waiting to be written', status: 503, exit: 1 },
  KP_ERR_AUDIT_VERIFY_FAILED: { message: 'the audit log failed verification', exit: 1 },
  KP_ERR_AUDIT_LOCKED: { message: 'another process writes this audit log (one writer per file)', exit: 2 },
  KP_ERR_RECORDING_WRITE: { message: 'the session recording cannot be written', status: 503, exit: 1 },
  KP_ERR_RECORDING_LIMIT: { message: 'the session recording reached its size limit', status: 503, exit: 1 },
  KP_ERR_RECORDING_STREAM: { message: 'the terminal stream cannot be read for recording (a malformed or hostile WebSocket frame)', exit: 1 },
  KP_ERR_RECORDING_INVALID: { message: 'the file is not an asciicast v2 recording', exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
