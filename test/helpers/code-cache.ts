/**
 * What Node.js did with the code cache built into its binary for its own modules, read from its
 * native debug output (`NODE_DEBUG_NATIVE=CODE_CACHE`, written to stderr): one line per module it
 * compiled, "Code cache of NAME (...) is accepted" or "... is rejected". V8 rejects a cache made
 * under other flags (src/cli/heap-flag-reset.ts).
 */

/** The environment entry that makes Node.js report its built-in code cache. */
export const CODE_CACHE_DEBUG_ENV = { NODE_DEBUG_NATIVE: 'CODE_CACHE' } as const;

export interface BuiltinCodeCache {
  readonly accepted: readonly string[];
  readonly rejected: readonly string[];
}

/** The modules whose built-in code cache was accepted and rejected, from a run's stderr. */
export function builtinCodeCache(stderr: string): BuiltinCodeCache {
  const accepted: string[] = [];
  const rejected: string[] = [];
  for (const match of stderr.matchAll(/^Code cache of (\S+) \([^)]*\) is (accepted|rejected)$/gm)) {
    (match[2] === 'accepted' ? accepted : rejected).push(match[1]!);
  }
  return { accepted, rejected };
}
