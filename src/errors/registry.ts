/**
 * The one registry of kubepair error codes (CONVENTIONS §4): every component's table joined,
 * with a start-up check that no code is defined twice. `docs/errors.md` lists the same codes;
 * test/unit/errors/registry.test.ts keeps the two in step.
 */
import { AGENT_ERRORS } from './agent-errors.js';
import { AUDIT_ERRORS } from './audit-errors.js';
import { CHANNEL_ERRORS } from './channel-errors.js';
import { CLI_ERRORS } from './cli-errors.js';
import { CLIENT_ERRORS } from './client-errors.js';
import { CONTROL_ERRORS } from './control-errors.js';
import { TLS_ERRORS } from './tls-errors.js';
import { RELAY_ACCESS_ERRORS } from './relay-access-errors.js';
import { RELAY_ERRORS } from './relay-errors.js';
import type { ErrorSpec } from './error-spec.js';
import { GENERAL_ERRORS } from './general-errors.js';
import { MUX_ERRORS } from './mux-errors.js';
import { POLICY_ERRORS } from './policy-errors.js';

// One table per component, in the order docs/errors.md lists them.
const TABLES = [
  GENERAL_ERRORS,
  CHANNEL_ERRORS,
  AUDIT_ERRORS,
  MUX_ERRORS,
  CLIENT_ERRORS,
  POLICY_ERRORS,
  TLS_ERRORS,
  AGENT_ERRORS,
  RELAY_ERRORS,
  RELAY_ACCESS_ERRORS,
  CLI_ERRORS,
  CONTROL_ERRORS,
] as const;

export const ERRORS = {
  ...GENERAL_ERRORS,
  ...CHANNEL_ERRORS,
  ...AUDIT_ERRORS,
  ...MUX_ERRORS,
  ...CLIENT_ERRORS,
  ...POLICY_ERRORS,
  ...TLS_ERRORS,
  ...AGENT_ERRORS,
  ...RELAY_ERRORS,
  ...RELAY_ACCESS_ERRORS,
  ...CLI_ERRORS,
  ...CONTROL_ERRORS,
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** Every code with its specification, in registry order. */
export function listErrorCodes(): ReadonlyArray<readonly [string, ErrorSpec]> {
  return TABLES.flatMap((table) => Object.entries(table) as Array<[string, ErrorSpec]>);
}

function assertUniqueCodes(): void {
  const seen = new Set<string>();
  for (const [code] of listErrorCodes()) {
    if (seen.has(code)) throw new Error(`error code ${code} is defined twice`);
    if (!/^KP_ERR_[A-Z0-9_]+$/.test(code)) throw new Error(`error code ${code} is not KP_ERR_UPPER_SNAKE`);
    seen.add(code);
  }
}
assertUniqueCodes();
