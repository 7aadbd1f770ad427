/**
 * The relay secret (docs/design.md §8.1 "relay restarts"): 32 random bytes under which the relay
 * MACs every session key (session-keys.ts), kept in the relay's state directory so that a restarted
 * relay still verifies the keys of sessions it never saw.
 *
 * File safety: the state directory is 0700 and the file `session-key-secret` 0600, both owned by
 * the relay's user; anything else (a symbolic link, a wider mode, another owner, a file that is
 * not exactly 32 bytes) stops the relay with KP_ERR_RELAY_STATE_DIR rather than being used or
 * silently replaced. The file is created once, exclusively: the bytes go to an exclusive 0600
 * temporary file, are fsynced, and are linked into place with link(2), which fails if another
 * relay created the file first (then that file is used). The secret is never logged.
 *
 * Rotation: a new secret (the file removed while the relay is stopped) makes every key issued
 * before it invalid, so every session ends at the next restart (docs/operations.md).
 * Untrusted input: the file system contents of the state directory.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { KubepairError } from '../errors/index.js';
import { RELAY_SECRET_BYTES } from './session-keys.js';
import { ensurePrivateDir } from './token-file.js';

/** Name of the secret file inside the state directory. */
export const RELAY_SECRET_FILE = 'session-key-secret';

export interface RelaySecret {
  readonly value: Buffer;
  /** `created` on first start, `loaded` after, `ephemeral` without a state directory. */
  readonly origin: 'created' | 'loaded' | 'ephemeral';
}

/** A secret that lives only as long as this process (no state directory: nothing survives a restart). */
export function ephemeralRelaySecret(): RelaySecret {
  return { value: randomBytes(RELAY_SECRET_BYTES), origin: 'ephemeral' };
}

/** Load the relay secret from `stateDir`, creating the directory (0700) and the secret (0600) on first use. */
export async function openRelaySecret(stateDir: string): Promise<RelaySecret> {
  await ensurePrivateDir(stateDir, true, 'KP_ERR_RELAY_STATE_DIR');
  const path = join(stateDir, RELAY_SECRET_FILE);
  const existing = await readSecret(path);
  if (existing !== undefined) return { value: existing, origin: 'loaded' };
  if (await createSecret(stateDir, path)) {
    const created = await readSecret(path);
    if (created !== undefined) return { value: created, origin: 'created' };
  }
  // Another relay created it between our read and our link: use theirs.
  const theirs = await readSecret(path);
  if (theirs === undefined) throw new KubepairError('KP_ERR_RELAY_STATE_DIR', `${path} vanished while the relay was creating it`);
  return { value: theirs, origin: 'loaded' };
}

/** The secret in `path`, undefined when there is no such file; refuses an unsafe or damaged file. */
async function readSecret(path: string): Promise<Buffer | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new KubepairError('KP_ERR_RELAY_STATE_DIR', `${path} is a symbolic link; refusing to follow it`, { cause: err });
    throw new KubepairError('KP_ERR_RELAY_STATE_DIR', `cannot open ${path}`, { cause: err });
  }
  try {
    const info = await handle.stat();
    const uid = process.getuid?.();
    if (!info.isFile()) throw new KubepairError('KP_ERR_RELAY_STATE_DIR', `${path} is not a regular file`);
    if (uid !== undefined && info.uid !== uid) throw new KubepairError('KP_ERR_RELAY_STATE_DIR', `${path} belongs to another user (uid ${info.uid})`);
    if ((info.mode & 0o077) !== 0) {
      throw new KubepairError(
        'KP_ERR_RELAY_STATE_DIR',
        `${path} is readable or writable by other users (mode ${(info.mode & 0o777).toString(8)}); it may have leaked: remove it (this ends every session) and restart`,
      );
    }
    if (info.size !== RELAY_SECRET_BYTES) {
      throw new KubepairError(
        'KP_ERR_RELAY_STATE_DIR',
        `${path} is ${info.size} bytes, not ${RELAY_SECRET_BYTES}: it is damaged; remove it (this ends every session) and restart`,
      );
    }
    const value = Buffer.alloc(RELAY_SECRET_BYTES);
    const { bytesRead } = await handle.read(value, 0, RELAY_SECRET_BYTES, 0);
    if (bytesRead !== RELAY_SECRET_BYTES) throw new KubepairError('KP_ERR_RELAY_STATE_DIR', `${path} could not be read whole`);
    return value;
  } finally {
    await handle.close();
  }
}

/** Create the secret file exclusively; false when another process created it first. */
async function createSecret(stateDir: string, path: string): Promise<boolean> {
  const temp = join(stateDir, `.${RELAY_SECRET_FILE}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  let linked = false;
  try {
    handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    await handle.writeFile(randomBytes(RELAY_SECRET_BYTES));
    await handle.sync();
    await handle.close();
    handle = undefined;
    try {
      await link(temp, path);
      linked = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  } catch (err) {
    throw new KubepairError('KP_ERR_RELAY_STATE_DIR', `cannot create ${path}`, { cause: err });
  } finally {
    if (handle !== undefined) await handle.close().catch(() => undefined); // the create error above is the one to report
    await unlink(temp).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new KubepairError('KP_ERR_RELAY_STATE_DIR', `cannot remove ${temp}`, { cause: err });
    });
  }
  if (linked) {
    const dir = await open(stateDir, constants.O_RDONLY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
  return linked;
}
