/**
 * Error codes of `kubepair connect` (docs/design.md §1, §6).
 * Codes are never reused once retired; add new ones at the end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const CLIENT_ERRORS = {
  KP_ERR_KUBECONFIG_WRITE: { message: 'the temporary kubeconfig cannot be written', exit: 1 },
  KP_ERR_LOCAL_LISTEN: { message: 'cannot listen on the local port', exit: 1 },
  KP_ERR_SESSION_DESCRIPTION: { message: 'the agent sent an invalid session description', close: 4105, exit: 1 },
  // The CLI exits 128 + the signal's number for this one (130 for SIGINT), not the 1 below.
  KP_ERR_INTERRUPTED: { message: 'interrupted', exit: 1 },
  KP_ERR_NO_CODE_ENTERED: { message: 'no pairing code entered', exit: 2 },
  // connect exits 127 for this one, as a shell does for a command it cannot find.
  KP_ERR_COMMAND_NOT_FOUND: { message: 'the command to run after -- was not found', exit: 2 },
} as const satisfies Record<string, ErrorSpec>;
