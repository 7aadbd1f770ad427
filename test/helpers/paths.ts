/**
 * Paths for tests. Tests run compiled from build/test/, so files of the repository (vectors,
 * docs, the built CLI) are found from the repository root, not from the compiled file.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 8; depth++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error('repository root not found above ' + fileURLToPath(import.meta.url));
}

export const REPO_ROOT = findRepoRoot();

/** Absolute path of a file given relative to the repository root. */
export function repoPath(relative: string): string {
  return join(REPO_ROOT, relative);
}
