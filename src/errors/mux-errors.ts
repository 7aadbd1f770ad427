/**
 * Error codes of the multiplexing layer: HTTP/2 CONNECT streams over the secure channel
 * (docs/design.md §5). Codes are never reused once retired; add new ones at the end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const MUX_ERRORS = {
  KP_ERR_MUX_TARGET_UNKNOWN: { message: 'the agent does not offer that target', exit: 1 },
  KP_ERR_MUX_STREAM_FAILED: { message: 'a tunnelled connection failed', exit: 1 },
  KP_ERR_MUX_CLOSED: { message: 'the tunnel is closed', exit: 1 },
  KP_ERR_MUX_AUDIT_UNAVAILABLE: { message: 'the agent cannot write its audit log, so it refuses new connections (fail closed)', status: 503, exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
