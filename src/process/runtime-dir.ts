/**
 * The runtime directory (docs/design.md §6): where the temporary kubeconfig and the local control
 * sockets (src/control/) go. A RAM-backed directory when there is one, so credentials never reach
 * a disk — `$XDG_RUNTIME_DIR` (per-user, 0700 by the login system) if it is a directory owned by
 * this user and not readable by others, else `/dev/shm`, else the system temp directory. What is
 * created in it protects itself: the kubeconfig is created exclusively with mode 0600, the
 * control sockets live in a 0700 directory of their own.
 *
 * Untrusted input: `XDG_RUNTIME_DIR` (checked: absolute, a directory, ours, private).
 */
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';

export interface RuntimeDirChoice {
  readonly path: string;
  /** True when the directory is memory-backed. */
  readonly ramBacked: boolean;
}

async function isPrivateDirectory(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    const uid = process.getuid?.();
    return info.isDirectory() && (uid === undefined || info.uid === uid) && (info.mode & 0o077) === 0;
  } catch {
    return false; // missing or unreadable: not a candidate
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false; // missing: not a candidate
  }
}

export async function chooseRuntimeDir(env: NodeJS.ProcessEnv = process.env): Promise<RuntimeDirChoice> {
  const xdg = env['XDG_RUNTIME_DIR'];
  if (xdg !== undefined && xdg.startsWith('/') && (await isPrivateDirectory(xdg))) return { path: xdg, ramBacked: true };
  if (await isDirectory('/dev/shm')) return { path: '/dev/shm', ramBacked: true };
  return { path: tmpdir(), ramBacked: false };
}
