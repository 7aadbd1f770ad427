/**
 * Compile connect's entry module with V8's lazy compilation off (issue 15, start-up;
 * docs/performance.md "Start to first byte, sixth pass"). Node.js writes a module's compile
 * cache (compile-cache.ts) right after compiling it, and V8 compiles only a module's top level
 * then: every function connect runs before its first byte was compiled again on every run.
 * Compiled with `--no-lazy`, every function of the module is compiled at once, so the cache
 * holds them all (about 1.4 MB for dist/cli/connect-cli.js instead of 0.15 MB) and a run with
 * the cache compiles none of them. The flag is V8's, for this process; it is put back as soon
 * as the module is compiled: the first statement of dist/cli/connect-cli.js calls
 * AFTER_COMPILE (scripts/bundle.mjs puts it there), before the module's code loads Node.js's
 * own modules, which V8 would otherwise compile eagerly too, without their built-in cache (V8
 * keys a cache to its flags). Whatever happens, the flag is back once the import settles (with
 * tsc's build, which has no such statement, only then). V8 checks a cache against the flags
 * in force, and the entry module's cache is written and read under the same one. Input: none.
 */
import { createRequire } from 'node:module';
import type * as V8Module from 'node:v8';

// node:v8 is loaded here, when connect needs it, not with main.ts (every command): a `require`,
// which scripts/bundle.mjs keeps as one.
const require = createRequire(import.meta.url);

/** The global the entry module's first statement calls once it is compiled (scripts/bundle.mjs). */
export const AFTER_COMPILE = 'kubepair.afterCompile';

/** `load()` (an `import()`) with lazy compilation off until the module is compiled, or at the latest until it settles. */
export async function compiledEagerly<T>(load: () => Promise<T>): Promise<T> {
  const { setFlagsFromString } = require('node:v8') as typeof V8Module;
  const hooks = globalThis as Record<symbol, (() => void) | undefined>;
  const key = Symbol.for(AFTER_COMPILE);
  let eager = true;
  const lazyAgain = (): void => {
    if (!eager) return;
    eager = false;
    setFlagsFromString('--lazy');
  };
  hooks[key] = lazyAgain;
  setFlagsFromString('--no-lazy');
  try {
    return await load();
  } finally {
    lazyAgain();
    hooks[key] = undefined;
  }
}
