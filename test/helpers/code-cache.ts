/**
 * What Node.js did with the code cache built into its binary for its own modules, read from its
 * native debug output (`NODE_DEBUG_NATIVE=CODE_CACHE`, written to stderr): one line per module it
 * compiled, "Code cache of NAME (...) is accepted" or "... is rejected". V8 rejects a cache made
 * under other flags (src/cli/heap-flag-reset.ts). And V8's cached-data version tag, which hashes
 * the flags in force: how a test tells which flags a process ran under.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const TAG_RUN_TIMEOUT_MS = 60_000;

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

/** V8's cached-data version tag (it hashes the flags in force) of a node that set `flags`, or none. */
export function tagWith(flags: readonly string[]): number {
  const script = `const v8 = require('node:v8'); for (const f of ${JSON.stringify(flags)}) v8.setFlagsFromString(f); process.stdout.write(String(v8.cachedDataVersionTag()));`;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: TAG_RUN_TIMEOUT_MS });
  assert.equal(run.status, 0, `node -e (V8 tag with ${flags.join(' ') || 'no flags'}): exit ${run.status}: ${run.stderr}`);
  return Number(run.stdout);
}
