/**
 * Error codes of the CLI's own files and setup checks: the user's config file
 * (src/cli/config-file.ts, docs/usage.md "Config file") and `kubepair doctor`.
 * Codes are never reused once retired; add new ones at the end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const CLI_ERRORS = {
  KP_ERR_CONFIG_INVALID: { message: 'the kubepair config file is invalid', exit: 2 },
  KP_ERR_CONFIG_INSECURE: { message: 'the kubepair config file may be changed by other users, so kubepair will not read it', exit: 2 },
  KP_ERR_CONFIG_WRITE: { message: 'the kubepair config file cannot be written', exit: 1 },
  KP_ERR_CONFIG_KEY_UNKNOWN: { message: 'unknown config key', exit: 2 },
  KP_ERR_DOCTOR_FAILED: { message: 'kubepair doctor found problems (the lines marked FAIL say what to fix)', exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
