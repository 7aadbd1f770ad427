/**
 * Error codes of the local control socket (src/control/, docs/usage.md "Session control") and of
 * the session changes made through it. Codes are never reused once retired; add new ones at the
 * end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const CONTROL_ERRORS = {
  KP_ERR_CONTROL_DIR_INSECURE: { message: 'the control socket directory is not a private (0700) directory owned by this user, so kubepair will not use it', exit: 1 },
  KP_ERR_CONTROL_LISTEN: { message: 'cannot open the local control socket', exit: 1 },
  KP_ERR_CONTROL_NOT_RUNNING: { message: 'no kubepair share or connect of this user is running', exit: 1 },
  KP_ERR_CONTROL_AMBIGUOUS: { message: 'several kubepair processes are running; choose one with --pid', exit: 2 },
  KP_ERR_CONTROL_UNREACHABLE: { message: 'cannot reach the control socket of that kubepair process', exit: 1 },
  KP_ERR_CONTROL_REQUEST_INVALID: { message: 'invalid control request', exit: 2 },
  KP_ERR_CONTROL_REQUEST_TOO_LARGE: { message: 'the control request is larger than the control socket accepts', exit: 2 },
  KP_ERR_CONTROL_COMMAND_UNKNOWN: { message: 'that kubepair process does not offer this control command', exit: 2 },
  KP_ERR_CONTROL_TIMEOUT: { message: 'the control request timed out', exit: 1 },
  KP_ERR_CONTROL_BUSY: { message: 'too many control connections at once; try again', exit: 1 },
  KP_ERR_CONTROL_BAD_RESPONSE: { message: 'the control socket sent an invalid answer', exit: 1 },
  KP_ERR_SESSION_UNKNOWN: { message: 'no running session matches', exit: 2 },
  KP_ERR_SESSION_LIFETIME_LIMIT: { message: 'a session cannot last beyond --max-duration from its start', exit: 2 },
  KP_ERR_SESSION_CHANGE_UNAUDITED: { message: 'the change was not made: its audit record cannot be written (fail closed)', exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
