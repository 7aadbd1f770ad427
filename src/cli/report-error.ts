/**
 * How a CLI failure reaches the user: one line `kubepair: <message>` on stderr and a non-zero
 * exit code from the error registry. Never a stack trace, unless KUBEPAIR_DEBUG=1 asks for
 * the internal chain (codes and causes) for a bug report.
 *
 * Untrusted input: messages may quote the relay, the peer or a remote server (a detail after
 * the registry summary, a cause's message), so every line is made inert (inert-text.ts) and
 * bounded before it is printed.
 */
import { toKubepairError } from '../errors/index.js';
import { TERMINAL_MESSAGE_MAX_CHARS } from '../limits.js';
import { inertText } from '../terminal/inert-text.js';

export interface ErrorReport {
  readonly text: string;
  readonly exitCode: number;
}

export function reportError(err: unknown, debug: boolean): ErrorReport {
  const kerr = toKubepairError(err);
  const shown = (text: string): string => inertText(text, { maxChars: TERMINAL_MESSAGE_MAX_CHARS });
  const lines = [`kubepair: ${shown(kerr.message)}`];
  if (debug) {
    let cause: unknown = kerr;
    for (let depth = 0; cause !== undefined && depth < 8; depth++) {
      const name = cause instanceof Error ? cause.name : typeof cause;
      const rawCode: unknown = typeof cause === 'object' && cause !== null && 'code' in cause ? cause.code : undefined;
      const code = typeof rawCode === 'string' || typeof rawCode === 'number' ? String(rawCode) : '';
      const message = cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : '(not an Error)';
      lines.push(`  [debug] ${shown(`${name}${code ? ` ${code}` : ''}: ${message}`)}`);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
  }
  return { text: lines.join('\n') + '\n', exitCode: kerr.exitCode };
}
