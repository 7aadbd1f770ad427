/**
 * Exit codes of the kubepair CLI that are not an error's own (src/errors gives 1 or 2), in one
 * place; the table users and scripts read is docs/exit-codes.md. Signals: 128 + the signal's
 * number (connect-termination.ts signalExitCode).
 */

/** connect's own failure, bad usage included, when it runs `-- CMD`: like ssh, so a script can tell it from the command's status. */
export const COMMAND_MODE_FAILURE_EXIT_CODE = 255;

/** `-- CMD` names no executable on PATH (checked before pairing), as a shell reports it. */
export const COMMAND_NOT_FOUND_EXIT_CODE = 127;
