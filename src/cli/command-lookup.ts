/**
 * Is the command of `kubepair connect CODE -- CMD` something that can run? Checked before the
 * code is read or the relay contacted, so a typo does not spend a pairing code (issue 11 §3).
 * Looks the name up the way execvp does: a name with a slash is a path; otherwise each entry
 * of PATH in order (an empty entry is the current directory). Only regular files with an
 * execute bit for us count. Untrusted input: none beyond argv and the environment.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { KubepairError } from '../errors/index.js';
import { inertText } from '../terminal/inert-text.js';

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path CMD would run from, or KP_ERR_COMMAND_NOT_FOUND saying what to check. */
export async function findExecutable(command: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const shown = inertText(command, { maxChars: 80 });
  if (command.includes('/')) {
    if (await isExecutableFile(command)) return command;
    throw new KubepairError('KP_ERR_COMMAND_NOT_FOUND', `"${shown}" is not an executable file; nothing was paired, the code is still valid`);
  }
  if (command !== '') {
    for (const dir of (env['PATH'] ?? '').split(delimiter)) {
      const candidate = join(dir === '' ? '.' : dir, command);
      if (await isExecutableFile(candidate)) return candidate;
    }
  }
  throw new KubepairError('KP_ERR_COMMAND_NOT_FOUND', `"${shown}" is not on PATH; nothing was paired, the code is still valid`);
}
