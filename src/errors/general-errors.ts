/**
 * Error codes that are not specific to one component: bad arguments, aborts, internal bugs.
 * Codes are never reused once retired; add new ones at the end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const GENERAL_ERRORS = {
  KP_ERR_INVALID_ARGUMENT: { message: 'invalid argument', status: 400, exit: 2 },
  KP_ERR_ABORTED: { message: 'the operation was aborted', exit: 1 },
  KP_ERR_INTERNAL: { message: 'internal error (this is a kubepair bug; please report it)', status: 500, close: 1011, exit: 1 },
  KP_ERR_NODE_UNSUPPORTED: { message: 'this Node.js release is not supported', exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
