/**
 * Where the local control sockets live (issue 14; docs/usage.md "Session control"): one private
 * directory per user, `<runtime dir>/kubepair-control-<uid>` (runtime dir: process/runtime-dir.ts),
 * and in it one socket per running process, `share-<pid>.sock` or `connect-<pid>.sock`.
 *
 * Security: the directory is what keeps other users out (a Unix socket is as reachable as the
 * directory that holds it), so it is created 0700 and, when it already exists, used only if it is
 * a real directory (not a symlink) owned by this user with mode exactly 0700: in a shared
 * directory such as /dev/shm another user could have created it first, or a symlink to a place
 * they can read. Anything else is refused with KP_ERR_CONTROL_DIR_INSECURE, never repaired.
 * The socket itself ends up 0600 (control-server.ts binds it under a umask).
 *
 * A socket whose process is gone stays behind after a SIGKILL; whoever finds one (a server about
 * to bind its own name, a client looking for running processes) removes it, once a connection to
 * it is refused and its pid no longer runs.
 *
 * Untrusted input: the directory's entries (names are parsed strictly; only sockets are removed)
 * and `XDG_RUNTIME_DIR` (checked by chooseRuntimeDir).
 */
import { lstat, mkdir, readdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { KubepairError } from '../errors/index.js';
import { CONTROL_PROBE_TIMEOUT_MS, CONTROL_SCAN_MAX_ENTRIES, CONTROL_SOCKET_PATH_MAX_BYTES } from '../limits.js';
import { ownerState } from '../process/process-identity.js';
import { chooseRuntimeDir } from '../process/runtime-dir.js';

/** The processes that run a control socket. */
export type ControlRole = 'share' | 'connect';

/** A running process's control socket, as found in the directory. */
export interface ControlSocketEntry {
  readonly role: ControlRole;
  readonly pid: number;
  readonly path: string;
}

const SOCKET_NAME = /^(share|connect)-([1-9][0-9]{0,9})\.sock$/;

/** This user's id (`user` where the platform has none, as on Windows; the directory is 0700 all the same). */
function userId(): string {
  const uid = process.getuid?.();
  return uid === undefined ? 'user' : String(uid);
}

/** `share-<pid>.sock` / `connect-<pid>.sock`. */
export function controlSocketName(role: ControlRole, pid: number): string {
  return `${role}-${pid}.sock`;
}

/** The role and pid a socket name states, or undefined for any other name. */
export function parseControlSocketName(name: string): { role: ControlRole; pid: number } | undefined {
  const match = SOCKET_NAME.exec(name);
  if (match === null) return undefined;
  return { role: match[1] as ControlRole, pid: Number(match[2]) };
}

/** Refuse `path` unless it is a directory (not a symlink) owned by this user with mode 0700. */
async function checkPrivateDirectory(path: string): Promise<void> {
  const info = await lstat(path);
  const uid = process.getuid?.();
  const problems: string[] = [];
  if (!info.isDirectory()) problems.push(info.isSymbolicLink() ? 'it is a symbolic link' : 'it is not a directory');
  else {
    if (uid !== undefined && info.uid !== uid) problems.push(`it belongs to uid ${info.uid}`);
    if ((info.mode & 0o777) !== 0o700) problems.push(`its mode is ${(info.mode & 0o777).toString(8).padStart(4, '0')}`);
  }
  if (problems.length > 0) {
    throw new KubepairError('KP_ERR_CONTROL_DIR_INSECURE', `${path}: ${problems.join(', ')} (remove it if it is not yours, or run: chmod 700 ${path})`);
  }
}

/**
 * The control directory of this user, created (0700) when missing and checked either way.
 * `env` decides the runtime directory (tests pass a private XDG_RUNTIME_DIR).
 */
export async function controlDirectory(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const runtime = await chooseRuntimeDir(env);
  const path = join(runtime.path, `kubepair-control-${userId()}`);
  try {
    await mkdir(path, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new KubepairError('KP_ERR_CONTROL_LISTEN', `cannot create ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  // A umask wider than 077 cannot widen mkdir's 0700; one that narrows it (0500) is refused here.
  await checkPrivateDirectory(path);
  return path;
}

/** The path of the socket `role`/`pid` in `directory`, refused when too long for a Unix socket. */
export function controlSocketPath(directory: string, role: ControlRole, pid: number): string {
  const path = join(directory, controlSocketName(role, pid));
  if (Buffer.byteLength(path) > CONTROL_SOCKET_PATH_MAX_BYTES) {
    throw new KubepairError('KP_ERR_CONTROL_LISTEN', `the socket path ${path} is longer than ${CONTROL_SOCKET_PATH_MAX_BYTES} bytes; set XDG_RUNTIME_DIR to a shorter directory`);
  }
  return path;
}

/**
 * Whether anybody listens on the socket at `path`: `listening`, `refused` (a socket nobody
 * serves: stale), or `missing`. A connection that neither opens nor fails within
 * CONTROL_PROBE_TIMEOUT_MS counts as listening (a busy process is not stale).
 */
export function probeControlSocket(path: string): Promise<'listening' | 'refused' | 'missing'> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const timer = setTimeout(() => finish('listening'), CONTROL_PROBE_TIMEOUT_MS);
    function finish(result: 'listening' | 'refused' | 'missing'): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    }
    socket.once('connect', () => finish('listening'));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ENOENT' ? 'missing' : 'refused'));
  });
}

/**
 * Remove the socket at `path` if it is stale: nobody listens and the process its name states is
 * gone (so a process between bind and listen is never robbed of its socket). Only sockets are
 * removed. Resolves with true when `path` is gone afterwards.
 */
export async function removeIfStale(path: string, pid: number): Promise<boolean> {
  const probe = await probeControlSocket(path);
  if (probe === 'missing') return true;
  if (probe === 'listening') return false;
  if (pid !== process.pid && ownerState({ pid, startTime: '0', boot: '00000000' }) === 'alive') return false;
  try {
    if (!(await lstat(path)).isSocket()) return false;
    await unlink(path);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * The control sockets of this user's running share and connect processes (optionally of one
 * role), oldest pid first; stale ones found on the way are removed. Bounded: at most
 * CONTROL_SCAN_MAX_ENTRIES directory entries are examined.
 */
export async function findControlSockets(options: { role?: ControlRole; env?: NodeJS.ProcessEnv } = {}): Promise<ControlSocketEntry[]> {
  const directory = await controlDirectory(options.env);
  const names = (await readdir(directory)).slice(0, CONTROL_SCAN_MAX_ENTRIES);
  const found: ControlSocketEntry[] = [];
  for (const name of names) {
    const parsed = parseControlSocketName(name);
    if (parsed === undefined || (options.role !== undefined && parsed.role !== options.role)) continue;
    const path = join(directory, name);
    const probe = await probeControlSocket(path);
    if (probe === 'listening') found.push({ ...parsed, path });
    else if (probe === 'refused') await removeIfStale(path, parsed.pid);
  }
  return found.sort((a, b) => a.pid - b.pid);
}
