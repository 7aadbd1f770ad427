/**
 * One way to check a value against a zod schema and fail with a coded KubepairError whose
 * message says where and what: `forwards.1.localPort: Too small: expected number to be >=1`.
 * Used for messages from the network (the session description) and for the configuration a
 * role is constructed with (ClientTunnel, CodeOffer, AgentSession), so a bad value is refused
 * the same way wherever it enters. A refinement that concerns the whole value (path `[]`) is
 * shown as its message alone, so cross-field checks read as sentences.
 *
 * Untrusted input: `value`. Only the first issue is reported, its message bounded.
 */
import type { z } from 'zod';
import { KubepairError } from '../errors/index.js';
import type { ErrorCode } from '../errors/index.js';

const ISSUE_MAX_CHARS = 300;

/** The first issue of a failed parse as one line: `path: message`, or the message alone for the whole value. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid';
  const where = issue.path.map(String).join('.');
  const text = where === '' ? issue.message : `${where}: ${issue.message}`;
  return text.length > ISSUE_MAX_CHARS ? `${text.slice(0, ISSUE_MAX_CHARS)}...` : text;
}

/** `schema.parse(value)`, or a KubepairError with `code` and the first issue (prefixed with `context` when given). */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, code: ErrorCode, context?: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = describeIssue(parsed.error);
  throw new KubepairError(code, context === undefined ? issue : `${context}: ${issue}`);
}
