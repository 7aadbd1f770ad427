/**
 * Whether a failed attempt to open a relay socket never reached a listening relay
 * (docs/design.md §8.1 "Liveness"): the relay's host refused the connection (nothing listens on
 * the port: the relay is restarting) or no route led there (this machine is offline). Such an
 * attempt costs the relay nothing, so DurableLink retries it at a short cadence
 * (RECONNECT_UNREACHED_MAX_DELAY_MS) instead of backing off towards RECONNECT_MAX_DELAY_MS, and
 * bytes flow again within about that cadence once the relay listens again (issue 12's goal: under
 * 1 s). A failure in which the relay, a load balancer or a proxy answered backs off as before.
 *
 * Input: the `cause` of KP_ERR_RELAY_UNREACHABLE, an error of this process's own connect call;
 * its code comes from the operating system, never from the relay's bytes. A relay that refuses
 * on purpose only makes the endpoint retry at that cadence until its window closes.
 */
import type { KubepairError } from '../errors/index.js';

/** connect(2) failures where no packet of ours reached a listening process on the relay's side. */
const UNREACHED_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN']);

/** The system error codes behind `cause` (every address tried, for Node's happy-eyeballs AggregateError). */
function systemCodes(cause: unknown): string[] {
  if (cause instanceof AggregateError && cause.errors.length > 0) return cause.errors.flatMap(systemCodes);
  const code: unknown = typeof cause === 'object' && cause !== null && 'code' in cause ? cause.code : undefined;
  return typeof code === 'string' ? [code] : [];
}

/** True when opening a relay socket failed before any relay (or proxy) process took part. */
export function neverReachedRelay(error: KubepairError | undefined): boolean {
  if (error?.code !== 'KP_ERR_RELAY_UNREACHABLE') return false;
  const codes = systemCodes(error.cause);
  return codes.length > 0 && codes.every((code) => UNREACHED_CODES.has(code));
}
