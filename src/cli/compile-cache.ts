/**
 * V8's compile cache for the `kubepair` binary (issue 15, start-up; docs/performance.md
 * "Start-up"). Node.js 22.1 and later can keep the code V8 compiled for each module on disk
 * (`module.enableCompileCache`) and reuse it on the next run instead of parsing and compiling
 * the same files again. main.ts enables it before it loads the commands, so everything after
 * the version check is cached.
 *
 * Where: `$XDG_CACHE_HOME/kubepair/compile-cache`, or `~/.cache/kubepair/compile-cache` when
 * XDG_CACHE_HOME is unset or not absolute (the XDG Base Directory specification). Not Node's
 * own default, a directory in the shared temp directory: whoever can write the cache can
 * change the code kubepair runs, so the directory must be the user's own: created with mode
 * 0700, and used only when it is a real directory owned by this user that nobody else can
 * write. Anything else, or any failure (read-only home, no home, a Node.js without the API),
 * means running without the cache: start-up is never failed or slowed by a warning for it.
 * `NODE_DISABLE_COMPILE_CACHE=1` turns it off (Node.js itself honours it), and a
 * `NODE_COMPILE_CACHE` the user set wins. Input: the environment (the user's own, trusted).
 */
import { lstatSync, mkdirSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** The cache directory for an environment and home directory (pure; creates nothing). */
export function compileCacheDirectory(env: NodeJS.ProcessEnv, home: string): string {
  const xdg = env['XDG_CACHE_HOME'];
  const cacheHome = xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? xdg : join(home, '.cache');
  return join(cacheHome, 'kubepair', 'compile-cache');
}

/** True when `dir` is a directory (not a link) owned by this user that group and others cannot write. */
function isPrivateDirectory(dir: string): boolean {
  const info = lstatSync(dir);
  if (!info.isDirectory() || (info.mode & 0o022) !== 0) return false;
  return process.getuid === undefined || info.uid === process.getuid();
}

/**
 * Enable the compile cache where this Node.js offers it. Returns the directory in use, or
 * undefined when running without the cache (never throws).
 */
export function enableCompileCache(env: NodeJS.ProcessEnv = process.env): string | undefined {
  // Typed loosely: the API is missing before Node.js 22.1 (such a Node.js is refused anyway,
  // but main.ts calls this only after that check, and nothing here may throw).
  const enable = (nodeModule as { enableCompileCache?: (dir: string) => { status: number; directory?: string } }).enableCompileCache;
  if (typeof enable !== 'function') return undefined;
  try {
    const dir = compileCacheDirectory(env, homedir());
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!isPrivateDirectory(dir)) return undefined;
    const result = enable(dir);
    const { ENABLED, ALREADY_ENABLED } = nodeModule.constants.compileCacheStatus;
    return result.status === ENABLED || result.status === ALREADY_ENABLED ? result.directory : undefined;
  } catch {
    return undefined;
  }
}
