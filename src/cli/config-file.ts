/**
 * The user's kubepair config file (docs/usage.md "Config file"):
 * `$XDG_CONFIG_HOME/kubepair/config.json`, or `~/.config/kubepair/config.json` when
 * XDG_CONFIG_HOME is unset or not absolute (the XDG Base Directory specification says relative
 * values must be ignored). JSON, checked against the settings schema (settings.ts); it holds
 * defaults only, never a secret (relay tokens live in KUBEPAIR_TOKEN or the OS keychain).
 *
 * Reading: the file is opened once and checked through its descriptor (no check-then-open
 * race): it must be a regular file of at most CONFIG_FILE_MAX_BYTES, owned by this user, and
 * not writable by group or others — a file someone else can edit could point `connect` at their
 * relay, so it is refused with the chmod that fixes it. A malformed file is an error naming the
 * file and the line and column (bad JSON) or the key (a wrong value).
 * Writing: to a temporary file in the same directory (0600, exclusive create), flushed, then
 * renamed over the old one, so a crash leaves the old file or the new one, never half of one.
 *
 * Untrusted input: the file's bytes (another program, a bad edit, a broken disk).
 */
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync, constants as fsConstants } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KubepairError } from '../errors/index.js';
import { CONFIG_FILE_MAX_BYTES } from '../limits.js';
import { configFileSchema, flattenConfig, nestConfig } from './settings.js';
import type { ConfigValues } from './settings.js';

/** The config file path for an environment (pure; creates nothing). */
export function configFilePath(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const xdg = env['XDG_CONFIG_HOME'];
  const configHome = xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? xdg : join(home, '.config');
  return join(configHome, 'kubepair', 'config.json');
}

/** A config file as read: where it is and its settings by dotted key (`relay`, `share.policy`). */
export interface ConfigFile {
  readonly path: string;
  /** False when there is no file (every setting then comes from elsewhere). */
  readonly exists: boolean;
  readonly values: ConfigValues;
}

/** 1-based line and column of character `offset` in `text`. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}

/** Where a JSON.parse failure is: V8 says "at position N" (Node 20) or "(line L column C)" (Node 22+). */
function jsonErrorPlace(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  const lineColumn = /line (\d+) column (\d+)/.exec(message);
  if (lineColumn) return `line ${lineColumn[1]}, column ${lineColumn[2]}`;
  const position = /position (\d+)/.exec(message);
  const { line, column } = position ? lineAndColumn(text, Number(position[1])) : lineAndColumn(text, text.length);
  return `line ${line}, column ${column}`;
}

/** The line where `"key":` first appears in `text`, for a schema error on that key. */
function lineOfKey(text: string, key: string | undefined): string {
  if (key === undefined) return '';
  const match = new RegExp(`"${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\s*:`).exec(text);
  return match ? ` (line ${lineAndColumn(text, match.index).line})` : '';
}

/** Parse and check the text of a config file; `path` only names the file in errors. */
export function parseConfigText(text: string, path: string): ConfigValues {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new KubepairError('KP_ERR_CONFIG_INVALID', `${path}: not valid JSON at ${jsonErrorPlace(text, err)}; fix it, or remove the file and use "kubepair config set"`, { cause: err });
  }
  const parsed = configFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const keyPath = issue?.path.map(String) ?? [];
    const unknown = issue?.code === 'unrecognized_keys' ? issue.keys : [];
    const key = [...keyPath, ...unknown.slice(0, 1)].join('.');
    const last = unknown[0] ?? keyPath.at(-1);
    const what = unknown.length > 0 ? `unknown key "${key}" (run "kubepair config list" for the known ones)` : key === '' ? (issue?.message ?? 'invalid') : `"${key}": ${issue?.message ?? 'invalid value'}`;
    throw new KubepairError('KP_ERR_CONFIG_INVALID', `${path}${lineOfKey(text, last)}: ${what}`);
  }
  return flattenConfig(parsed.data);
}

/** The mode bits of `mode` as 0644-style text. */
function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

/** Read the config file at `path`; a missing file (or directory) is an empty configuration. */
export function readConfigFile(path: string): ConfigFile {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { path, exists: false, values: {} };
    throw new KubepairError('KP_ERR_CONFIG_INVALID', `${path}: cannot open it (${code ?? 'error'})`, { cause: err });
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new KubepairError('KP_ERR_CONFIG_INVALID', `${path}: not a regular file`);
    const uid = process.getuid?.();
    if (uid !== undefined && stats.uid !== uid) {
      throw new KubepairError('KP_ERR_CONFIG_INSECURE', `${path} belongs to user id ${stats.uid}, not to you (${uid}); remove it, or copy it to a file of your own`);
    }
    if ((stats.mode & 0o022) !== 0) {
      throw new KubepairError('KP_ERR_CONFIG_INSECURE', `${path} has mode ${octal(stats.mode)} (writable by group or others); run: chmod 600 ${path}`);
    }
    if (stats.size > CONFIG_FILE_MAX_BYTES) {
      throw new KubepairError('KP_ERR_CONFIG_INVALID', `${path}: larger than ${CONFIG_FILE_MAX_BYTES} bytes; a kubepair config file holds a few settings`);
    }
    // One byte more than the limit tells a file that grew after fstat from one that did not.
    const buffer = Buffer.alloc(CONFIG_FILE_MAX_BYTES + 1);
    let length = 0;
    for (let reads = 0; reads < CONFIG_FILE_MAX_BYTES + 1 && length < buffer.length; reads++) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > CONFIG_FILE_MAX_BYTES) throw new KubepairError('KP_ERR_CONFIG_INVALID', `${path}: larger than ${CONFIG_FILE_MAX_BYTES} bytes`);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(0, length));
    } catch (err) {
      throw new KubepairError('KP_ERR_CONFIG_INVALID', `${path}: not UTF-8 text`, { cause: err });
    }
    return { path, exists: true, values: parseConfigText(text, path) };
  } finally {
    closeSync(fd);
  }
}

/** The text kubepair writes for `values`: pretty JSON with a final newline, keys in table order. */
export function configText(values: ConfigValues): string {
  return `${JSON.stringify(nestConfig(values), null, 2)}\n`;
}

/**
 * Replace the config file at `path` with `values`, atomically (see the file header). Creates
 * the kubepair directory (0700) when missing. Fails with KP_ERR_CONFIG_WRITE.
 */
export function writeConfigFile(path: string, values: ConfigValues): void {
  const dir = dirname(path);
  const temp = join(dir, `.config.json.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    fd = openSync(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    const bytes = Buffer.from(configText(values), 'utf8');
    for (let written = 0, writes = 0; written < bytes.length && writes < bytes.length; writes++) {
      written += writeSync(fd, bytes, written, bytes.length - written);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      rmSync(temp, { force: true });
    } catch {
      // nothing was created (the directory could not be made)
    }
    const code = (err as NodeJS.ErrnoException).code;
    throw new KubepairError('KP_ERR_CONFIG_WRITE', `${path}: ${code ?? (err instanceof Error ? err.message : 'error')}`, { cause: err });
  }
  // Make the rename durable too; a directory that cannot be opened for fsync is not an error.
  try {
    const dirFd = openSync(dir, fsConstants.O_RDONLY);
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // best effort: the data itself was flushed before the rename
  }
}
