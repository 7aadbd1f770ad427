/**
 * Why the agent refused a CONNECT stream to a target it does offer (docs/design.md §5, §6): the
 * wire vocabulary both ends of the mux share. The agent answers the CONNECT with the reason's
 * status and names the reason in the `kubepair-refusal` response header; the client turns a reason
 * it knows into its own coded error and message. The header comes from the peer: the client never
 * shows its text, only the message of the reason it matched.
 */
import type { ErrorCode } from '../errors/index.js';

/** Response header naming the reason of a refusal. */
export const STREAM_REFUSAL_HEADER = 'kubepair-refusal';

/** The reasons, with the CONNECT status the agent answers and the error the client raises. */
export const STREAM_REFUSALS = {
  /** The agent cannot write its audit log and fails closed: nothing is served unrecorded. */
  'audit-unavailable': { status: 503, code: 'KP_ERR_MUX_AUDIT_UNAVAILABLE' },
} as const satisfies Record<string, { readonly status: number; readonly code: ErrorCode }>;

export type StreamRefusalReason = keyof typeof STREAM_REFUSALS;

/** The reason named by a refusal's header value, if it is one this version knows. */
export function knownRefusal(value: unknown): StreamRefusalReason | undefined {
  return typeof value === 'string' && Object.hasOwn(STREAM_REFUSALS, value) ? (value as StreamRefusalReason) : undefined;
}
