/**
 * How a CLI failure reaches the user: one line `kubepair: <message>` on stderr and a non-zero
 * exit code from the error registry. Never a stack trace, unless KUBEPAIR_DEBUG=1 asks for
 * the internal chain (codes and causes) for a bug report.
 */
import { toKubepairError } from '../errors/index.js';

export interface ErrorReport {
  readonly text: string;
  readonly exitCode: number;
}

export function reportError(err: unknown, debug: boolean): ErrorReport {
  const kerr = toKubepairError(err);
  const lines = [`kubepair: ${kerr.message}`];
  if (debug) {
    let cause: unknown = kerr;
    for (let depth = 0; cause !== undefined && depth < 8; depth++) {
      const name = cause instanceof Error ? cause.name : typeof cause;
      const rawCode: unknown = typeof cause === 'object' && cause !== null && 'code' in cause ? cause.code : undefined;
      const code = typeof rawCode === 'string' || typeof rawCode === 'number' ? String(rawCode) : '';
      const message = cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : '(not an Error)';
      lines.push(`  [debug] ${name}${code ? ` ${code}` : ''}: ${message}`);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
  }
  return { text: lines.join('\n') + '\n', exitCode: kerr.exitCode };
}
