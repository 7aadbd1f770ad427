/**
 * Removing kubeconfigs that a dead `kubepair connect` left behind (issue 10, "Kubeconfig left
 * behind"; docs/design.md §6). A connect killed with SIGKILL, or by a crash signal, cannot remove
 * its kubeconfig, and in passthrough mode that file holds the cluster's client key. Each connect
 * therefore looks through its runtime directory before it pairs and removes the kubeconfigs
 * whose owning process is certainly gone (process-identity.ts).
 *
 * Only what kubepair created is touched: names matching the exact pattern kubeconfig.ts gives,
 * regular files (a symlink is never followed or removed, whatever its name), owned by this user,
 * not written by this process. At most STALE_KUBECONFIG_SCAN_MAX_ENTRIES directory entries are
 * examined, so a huge directory (/dev/shm) costs a bounded amount. Best effort: a file that
 * cannot be examined or removed is left alone and never fails connect.
 *
 * Untrusted input: the directory's entries (names, types, owners), which other processes of
 * this user — or, in /dev/shm, other users — may have put there.
 */
import { lstat, opendir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { STALE_KUBECONFIG_SCAN_MAX_ENTRIES } from '../limits.js';
import type { ProcessIdentity } from '../process/process-identity.js';
import { currentProcessIdentity, ownerState, sameProcess } from '../process/process-identity.js';
import { kubeconfigOwner } from './kubeconfig.js';

export interface StaleKubeconfigOptions {
  /** Directory entries examined at most (default STALE_KUBECONFIG_SCAN_MAX_ENTRIES). */
  readonly maxEntries?: number;
  /** This process (default: the running one). */
  readonly self?: ProcessIdentity;
}

/** Remove the kubeconfigs in `directory` whose owner is gone; resolves with the names removed. */
export async function removeStaleKubeconfigs(directory: string, options: StaleKubeconfigOptions = {}): Promise<string[]> {
  const maxEntries = options.maxEntries ?? STALE_KUBECONFIG_SCAN_MAX_ENTRIES;
  const self = options.self ?? currentProcessIdentity();
  const uid = process.getuid?.();
  const removed: string[] = [];
  let dir;
  try {
    dir = await opendir(directory);
  } catch {
    return removed; // no such directory, or not readable: nothing of ours to clean
  }
  let examined = 0;
  try {
    for await (const entry of dir) {
      if (++examined > maxEntries) break;
      // The entry's own type: a symlink is never a file here, whatever it points to.
      if (!entry.isFile()) continue;
      const owner = kubeconfigOwner(entry.name);
      if (owner === undefined || sameProcess(owner, self) || ownerState(owner, self) === 'alive') continue;
      const path = join(directory, entry.name);
      try {
        const info = await lstat(path);
        if (!info.isFile() || (uid !== undefined && info.uid !== uid)) continue;
        await unlink(path); // unlink never follows a symlink, should one have replaced the file since
        removed.push(entry.name);
      } catch {
        continue; // gone meanwhile, or not ours to remove
      }
    }
  } catch {
    // A read error half-way: keep what was removed so far. The iterator closes the directory.
  }
  return removed;
}
