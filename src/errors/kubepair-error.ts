/**
 * KubepairError: the one error type kubepair raises on purpose. It carries a registry code,
 * a human message (the registry summary, optionally followed by a specific detail), and the
 * HTTP status / WebSocket close code / exit code from the registry. Users see `message`;
 * logs get `code`; nobody sees a stack trace.
 */
import type { ErrorCode } from './registry.js';
import { ERRORS } from './registry.js';

export class KubepairError extends Error {
  readonly code: ErrorCode;
  readonly status: number | undefined;
  readonly closeCode: number | undefined;
  readonly exitCode: 1 | 2;
  /**
   * How long the relay asked to wait before the next attempt (its `Retry-After` on a 429 or 503,
   * already parsed and bounded: relay-client/retry-after.ts); undefined when it did not say.
   */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown; retryAfterMs?: number | undefined }) {
    const spec = ERRORS[code];
    super(detail === undefined ? spec.message : `${spec.message}: ${detail}`, options);
    this.name = 'KubepairError';
    this.code = code;
    this.status = 'status' in spec ? spec.status : undefined;
    this.closeCode = 'close' in spec ? spec.close : undefined;
    this.exitCode = spec.exit;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** True when `err` is a KubepairError, optionally with the given code. */
export function isKubepairError(err: unknown, code?: ErrorCode): err is KubepairError {
  return err instanceof KubepairError && (code === undefined || err.code === code);
}

/**
 * Turn anything thrown into a KubepairError without losing the original: KubepairErrors pass
 * through; anything else becomes `fallback` with the original as `cause`.
 */
export function toKubepairError(err: unknown, fallback: ErrorCode = 'KP_ERR_INTERNAL'): KubepairError {
  if (err instanceof KubepairError) return err;
  return new KubepairError(fallback, undefined, { cause: err });
}
