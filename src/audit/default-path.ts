/**
 * Where the audit log lives when no path is given (docs/design.md §6, §7; docs/audit.md):
 * `$XDG_STATE_HOME/kubepair/audit.jsonl`, or `~/.local/state/kubepair/audit.jsonl` when
 * XDG_STATE_HOME is unset or not absolute (the XDG Base Directory specification says relative
 * values are invalid and must be ignored). The kubepair directory is private: mode 0700.
 */
import { chmod, mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { KubepairError } from '../errors/index.js';

/** File name of the audit log inside the kubepair state directory. */
export const AUDIT_FILE_NAME = 'audit.jsonl';

/** The default audit log path for an environment and home directory (pure; creates nothing). */
export function defaultAuditLogPath(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const xdg = env['XDG_STATE_HOME'];
  const stateHome = xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? xdg : join(home, '.local', 'state');
  return join(stateHome, 'kubepair', AUDIT_FILE_NAME);
}

/**
 * The default audit log path, with its kubepair directory created (mode 0700) or, when it
 * exists with a looser mode, tightened to 0700. Fails with KP_ERR_AUDIT_WRITE.
 */
export async function prepareDefaultAuditLogPath(
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): Promise<string> {
  const path = defaultAuditLogPath(env, home);
  const dir = dirname(path);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const info = await stat(dir);
    if (!info.isDirectory()) throw new KubepairError('KP_ERR_AUDIT_WRITE', `${dir} is not a directory`);
    if ((info.mode & 0o077) !== 0) await chmod(dir, 0o700);
  } catch (err) {
    if (err instanceof KubepairError) throw err;
    throw new KubepairError('KP_ERR_AUDIT_WRITE', `cannot prepare the audit directory ${dir}`, { cause: err });
  }
  return path;
}
