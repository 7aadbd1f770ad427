/**
 * The relay tokens file (docs/design.md §7: scoped tokens, stored hashed): who may use the relay
 * API, with which scope. The file holds only SHA-256 digests of tokens, each with a name, a scope
 * and a creation time; the token itself is shown once, when it is created.
 *
 * File safety: the directory is 0700 and the file 0600, both owned by the current user, and
 * anything else is refused rather than silently used. Writes go to an exclusive temporary
 * file in the same directory, are fsynced, then renamed over the old file, so a reader (the
 * running relay) sees the old or the new file, never half of one. A lock file keeps two token
 * commands from losing each other's change. "Last used" times live in a sidecar file written
 * only by the relay, so the relay never rewrites the tokens file.
 *
 * Untrusted input: the file's contents (schema-validated, size-bounded) and token names given
 * on the command line.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as z from 'zod';
import { KubepairError } from '../errors/index.js';
import { RELAY_MAX_TOKENS, RELAY_TOKEN_NAME_MAX_CHARS, RELAY_TOKENS_FILE_MAX_BYTES } from '../limits.js';
import { digestSecret, newRelayToken } from './secrets.js';

export type TokenScope = 'agent' | 'client' | 'metrics' | 'admin';
export const TOKEN_SCOPES: readonly TokenScope[] = ['agent', 'client', 'metrics', 'admin'];

/** Token names: short, printable, safe in logs and file names. */
export const TOKEN_NAME_PATTERN = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,${RELAY_TOKEN_NAME_MAX_CHARS - 1}}$`);

export interface TokenEntry {
  readonly name: string;
  readonly scope: TokenScope;
  /** Hex SHA-256 of the token text. */
  readonly sha256: string;
  /** ISO-8601 creation time. */
  readonly createdAt: string;
}

export interface TokenListing {
  readonly name: string;
  readonly scope: TokenScope;
  readonly createdAt: string;
  readonly lastUsedAt: string | undefined;
}

const TokensFileSchema = z.strictObject({
  version: z.literal(1),
  tokens: z
    .array(
      z.strictObject({
        name: z.string().regex(TOKEN_NAME_PATTERN),
        scope: z.enum(['agent', 'client', 'metrics', 'admin']),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        created_at: z.iso.datetime(),
      }),
    )
    .max(RELAY_MAX_TOKENS),
});

const LastUsedFileSchema = z.strictObject({
  version: z.literal(1),
  last_used: z.record(z.string().regex(/^[0-9a-f]{64}$/), z.iso.datetime()),
});

/** Path of the sidecar file with "last used" times, next to the tokens file. */
export function lastUsedPath(tokensFile: string): string {
  return `${tokensFile}.last-used`;
}

/** Check a token name given by an operator. */
export function checkTokenName(name: string): string {
  if (!TOKEN_NAME_PATTERN.test(name)) {
    throw new KubepairError(
      'KP_ERR_INVALID_ARGUMENT',
      `token name ${JSON.stringify(name.slice(0, 80))}: use 1-${RELAY_TOKEN_NAME_MAX_CHARS} letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  return name;
}

/** Check a scope given by an operator. */
export function checkTokenScope(scope: string): TokenScope {
  if (!(TOKEN_SCOPES as readonly string[]).includes(scope)) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `scope ${JSON.stringify(scope.slice(0, 40))}: use one of ${TOKEN_SCOPES.join(', ')}`);
  }
  return scope as TokenScope;
}

/**
 * Make sure `dir` is a directory owned by this user and closed to everyone else (mode 0700),
 * creating it with that mode when missing and `create` is set. Anything else is refused, with
 * `code` (the tokens file's by default; the relay state directory's for relay-secret.ts).
 */
export async function ensurePrivateDir(
  dir: string,
  create = true,
  code: 'KP_ERR_RELAY_TOKENS_FILE' | 'KP_ERR_RELAY_STATE_DIR' = 'KP_ERR_RELAY_TOKENS_FILE',
): Promise<void> {
  if (create) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new KubepairError(code, `cannot create directory ${dir}`, { cause: err });
    }
  }
  let info;
  try {
    info = await lstat(dir);
  } catch (err) {
    throw new KubepairError(code, `cannot inspect directory ${dir}`, { cause: err });
  }
  const uid = process.getuid?.();
  if (!info.isDirectory()) throw new KubepairError(code, `${dir} is not a directory`);
  if (uid !== undefined && info.uid !== uid) {
    throw new KubepairError(code, `directory ${dir} belongs to another user (uid ${info.uid})`);
  }
  if ((info.mode & 0o077) !== 0) {
    throw new KubepairError(code, `directory ${dir} is open to other users (mode ${(info.mode & 0o777).toString(8)}); run: chmod 700 ${dir}`);
  }
}

/**
 * Read a private file: no symlink, a regular file owned by this user, mode without group or
 * other bits, at most `maxBytes`. Undefined when it does not exist.
 */
async function readPrivateFile(path: string, maxBytes: number): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `${path} is a symbolic link; refusing to follow it`, { cause: err });
    }
    throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `cannot open ${path}`, { cause: err });
  }
  try {
    const info = await handle.stat();
    const uid = process.getuid?.();
    if (!info.isFile()) throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `${path} is not a regular file`);
    if (uid !== undefined && info.uid !== uid) {
      throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `${path} belongs to another user (uid ${info.uid})`);
    }
    if ((info.mode & 0o077) !== 0) {
      throw new KubepairError(
        'KP_ERR_RELAY_TOKENS_FILE',
        `${path} is readable or writable by other users (mode ${(info.mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
      );
    }
    if (info.size > maxBytes) throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `${path} is larger than ${maxBytes} bytes`);
    const buffer = Buffer.alloc(info.size);
    const { bytesRead } = await handle.read(buffer, 0, info.size, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Write `text` to `path` atomically: exclusive 0600 temp file, fsync, rename, fsync the directory. */
async function writePrivateFileAtomically(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    await handle.writeFile(text, 'utf8');
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (err) {
    // Report the write failure; a failed cleanup is added to the cause, never dropped.
    const cleanupErrors: unknown[] = [];
    if (handle !== undefined) await handle.close().catch((closeErr: unknown) => cleanupErrors.push(closeErr));
    await unlink(temp).catch((unlinkErr: unknown) => {
      if ((unlinkErr as NodeJS.ErrnoException).code !== 'ENOENT') cleanupErrors.push(unlinkErr);
    });
    const cause = cleanupErrors.length === 0 ? err : new AggregateError([err, ...cleanupErrors], `writing ${path} failed and so did cleaning up ${temp}`);
    throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `cannot write ${path}`, { cause });
  }
  const dirHandle = await open(dir, constants.O_RDONLY);
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/**
 * Read the tokens. A missing file is an empty list when `missingOk`, otherwise an error that
 * tells the operator how to create the first token.
 */
export async function readTokens(path: string, missingOk: boolean): Promise<TokenEntry[]> {
  const text = await readPrivateFile(path, RELAY_TOKENS_FILE_MAX_BYTES);
  if (text !== undefined) await ensurePrivateDir(dirname(path), false);
  if (text === undefined) {
    if (missingOk) return [];
    throw new KubepairError(
      'KP_ERR_RELAY_TOKENS_FILE',
      `${path} does not exist; create a token with "kubepair relay token create --scope agent --name NAME" or run a public relay with --auth none`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `${path} is not valid JSON`, { cause: err });
  }
  const parsed = TokensFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `${path} is not a kubepair tokens file: ${z.prettifyError(parsed.error).split('\n')[0] ?? ''}`);
  }
  const names = new Set<string>();
  const digests = new Set<string>();
  for (const token of parsed.data.tokens) {
    if (names.has(token.name)) throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `${path} names "${token.name}" twice`);
    if (digests.has(token.sha256)) throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `${path} lists one token twice`);
    names.add(token.name);
    digests.add(token.sha256);
  }
  return parsed.data.tokens.map((token) => ({ name: token.name, scope: token.scope, sha256: token.sha256, createdAt: token.created_at }));
}

async function writeTokens(path: string, tokens: readonly TokenEntry[]): Promise<void> {
  const body = {
    version: 1,
    tokens: tokens.map((token) => ({ name: token.name, scope: token.scope, sha256: token.sha256, created_at: token.createdAt })),
  };
  await writePrivateFileAtomically(path, JSON.stringify(body, null, 2) + '\n');
}

/** Hold the tokens-file lock while `change` runs; refuse when another command holds it. */
async function withTokensLock<T>(path: string, change: () => Promise<T>): Promise<T> {
  await ensurePrivateDir(dirname(path));
  const lock = `${path}.lock`;
  let handle: FileHandle;
  try {
    handle = await open(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KubepairError(
        'KP_ERR_RELAY_TOKENS_FILE',
        `${lock} exists: another token command is running (if none is, a crashed one left it behind; remove it)`,
        { cause: err },
      );
    }
    throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `cannot create ${lock}`, { cause: err });
  }
  try {
    await handle.close();
    return await change();
  } finally {
    await unlink(lock);
  }
}

/** Create a token; returns the token text, which is not stored anywhere and is shown once. */
export async function createToken(path: string, name: string, scope: TokenScope, now = new Date()): Promise<string> {
  checkTokenName(name);
  checkTokenScope(scope);
  return withTokensLock(path, async () => {
    const tokens = await readTokens(path, true);
    if (tokens.some((token) => token.name === name)) throw new KubepairError('KP_ERR_RELAY_TOKEN_EXISTS', `"${name}" (revoke it first)`);
    if (tokens.length >= RELAY_MAX_TOKENS) throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `${path} already holds ${RELAY_MAX_TOKENS} tokens`);
    const token = newRelayToken();
    const entry: TokenEntry = { name, scope, sha256: digestSecret(token).toString('hex'), createdAt: now.toISOString() };
    await writeTokens(path, [...tokens, entry]);
    return token;
  });
}

/** Remove the token called `name`. */
export async function revokeToken(path: string, name: string): Promise<TokenEntry> {
  checkTokenName(name);
  return withTokensLock(path, async () => {
    const tokens = await readTokens(path, true);
    const revoked = tokens.find((token) => token.name === name);
    if (revoked === undefined) throw new KubepairError('KP_ERR_RELAY_TOKEN_UNKNOWN', `"${name}" in ${path}`);
    await writeTokens(path, tokens.filter((token) => token !== revoked));
    return revoked;
  });
}

/** Names, scopes, creation and last-use times; never a token or its digest. */
export async function listTokens(path: string): Promise<TokenListing[]> {
  const tokens = await readTokens(path, true);
  const lastUsed = await readLastUsed(path);
  return tokens.map((token) => ({ name: token.name, scope: token.scope, createdAt: token.createdAt, lastUsedAt: lastUsed.get(token.sha256) }));
}

/** "Last used" times by token digest, from the relay's sidecar file. */
export async function readLastUsed(tokensFile: string): Promise<Map<string, string>> {
  const path = lastUsedPath(tokensFile);
  const text = await readPrivateFile(path, RELAY_TOKENS_FILE_MAX_BYTES);
  if (text === undefined) return new Map();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `${path} is not valid JSON`, { cause: err });
  }
  const parsed = LastUsedFileSchema.safeParse(json);
  if (!parsed.success) throw new KubepairError('KP_ERR_RELAY_TOKENS_FILE', `${path} is not a kubepair last-used file`);
  return new Map(Object.entries(parsed.data.last_used));
}

/** Write the sidecar file (the relay is its only writer). */
export async function writeLastUsed(tokensFile: string, lastUsed: ReadonlyMap<string, string>): Promise<void> {
  await writePrivateFileAtomically(lastUsedPath(tokensFile), JSON.stringify({ version: 1, last_used: Object.fromEntries(lastUsed) }) + '\n');
}
