/**
 * Who may call the relay API (docs/design.md §3 "Relay auth", §7): `Authorization: Bearer <token>`
 * checked against the tokens file, scope by scope. Tokens are accepted only in that header,
 * never in a URL. With `--auth none` every caller is anonymous, which the relay announces
 * loudly at start-up.
 *
 * The presented token is untrusted: its format is checked first, then its SHA-256 is compared
 * with every stored digest in constant time (no early exit, no map lookup keyed by the
 * secret). The running relay follows the tokens file: a change on disk (a `token revoke`)
 * is picked up by a directory watch, and a file that became unusable fails closed (no token
 * is accepted until it is fixed).
 */
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { KubepairError } from '../errors/index.js';
import { RELAY_TOKEN_LAST_USED_FLUSH_MS, RELAY_TOKENS_RELOAD_DEBOUNCE_MS } from '../limits.js';
import { RELAY_TOKEN_PATTERN } from '../protocol/relay-api.js';
import { describeError } from './relay-log.js';
import { digestSecret, digestsEqual } from './secrets.js';
import { readLastUsed, readTokens, writeLastUsed } from './token-file.js';
import type { TokenEntry, TokenScope } from './token-file.js';

/** The authenticated caller: a token's name and scope, or anonymous under `--auth none`. */
export interface RelayPrincipal {
  readonly tokenName: string | null;
  readonly scope: TokenScope | null;
}

export interface RelayAuthenticator {
  readonly mode: 'tokens' | 'none';
  /** True while the tokens file is usable (readiness). */
  readonly healthy: boolean;
  /**
   * Check an Authorization header for one of `allowed` scopes. Throws KP_ERR_RELAY_UNAUTHORIZED
   * (missing, malformed or unknown token) or KP_ERR_RELAY_FORBIDDEN (wrong scope); the error's
   * `tokenName` property names a known token that had the wrong scope.
   */
  authenticate(authorization: string | undefined, allowed: readonly TokenScope[]): RelayPrincipal;
  /** Re-read the tokens file now. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

/** A scope failure of a known token: carries the token name for the audit log. */
export class ScopeError extends KubepairError {
  readonly tokenName: string;
  constructor(tokenName: string, scope: TokenScope, allowed: readonly TokenScope[]) {
    super('KP_ERR_RELAY_FORBIDDEN', `token "${tokenName}" has scope ${scope}; this needs ${allowed.join(' or ')}`);
    this.tokenName = tokenName;
  }
}

/**
 * The credential of `Authorization: Bearer <credential>`, checked against `pattern`.
 * Throws KP_ERR_RELAY_UNAUTHORIZED without echoing the header.
 */
export function parseBearer(authorization: string | undefined, pattern: RegExp, what: string): string {
  if (authorization === undefined || authorization === '') {
    throw new KubepairError('KP_ERR_RELAY_UNAUTHORIZED', `missing "Authorization: Bearer <${what}>" header`);
  }
  const match = /^Bearer ([^\s]+)$/i.exec(authorization.trim());
  if (!match || !pattern.test(match[1] as string)) {
    throw new KubepairError('KP_ERR_RELAY_UNAUTHORIZED', `the Authorization header does not hold a well-formed ${what}`);
  }
  return match[1] as string;
}

const TOKEN_FORMAT = new RegExp(RELAY_TOKEN_PATTERN);

/** `--auth none`: everyone is anonymous. */
export class AnonymousAuthenticator implements RelayAuthenticator {
  readonly mode = 'none' as const;
  readonly healthy = true;
  authenticate(): RelayPrincipal {
    return { tokenName: null, scope: null };
  }
  reload(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

interface LoadedToken {
  readonly entry: TokenEntry;
  readonly digest: Buffer;
}

/** Tokens from the tokens file, followed on disk. */
export class TokenAuthenticator implements RelayAuthenticator {
  readonly mode = 'tokens' as const;
  readonly #path: string;
  readonly #log: Logger;
  #tokens: readonly LoadedToken[] = [];
  #healthy = false;
  #watcher: FSWatcher | undefined;
  #reloadTimer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> = Promise.resolve();
  readonly #lastUsed = new Map<string, string>();
  #lastUsedDirty = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(path: string, log: Logger) {
    this.#path = path;
    this.#log = log;
  }

  /** Load the tokens file (failing start-up when it is missing or unsafe) and watch it. */
  static async open(path: string, log: Logger): Promise<TokenAuthenticator> {
    const auth = new TokenAuthenticator(path, log);
    auth.#install(await readTokens(path, false));
    for (const [digest, at] of await readLastUsed(path)) auth.#lastUsed.set(digest, at);
    auth.#watch();
    return auth;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  get tokenCount(): number {
    return this.#tokens.length;
  }

  authenticate(authorization: string | undefined, allowed: readonly TokenScope[]): RelayPrincipal {
    const token = parseBearer(authorization, TOKEN_FORMAT, 'relay token (kprt_...)');
    const digest = digestSecret(token);
    let found: LoadedToken | undefined;
    // Compare against every stored digest, in constant time each, without stopping early.
    for (const candidate of this.#tokens) {
      if (digestsEqual(candidate.digest, digest)) found = candidate;
    }
    if (found === undefined) throw new KubepairError('KP_ERR_RELAY_UNAUTHORIZED', 'the relay token is not known to this relay (revoked or mistyped?)');
    const { name, scope, sha256 } = found.entry;
    if (!allowed.includes(scope)) throw new ScopeError(name, scope, allowed);
    this.#touch(sha256);
    return { tokenName: name, scope };
  }

  reload(): Promise<void> {
    // Serialise reloads so an older read never overwrites a newer one.
    this.#reloading = this.#reloading.then(async () => {
      if (this.#closed) return;
      try {
        this.#install(await readTokens(this.#path, false));
        this.#log.info({ event: 'tokens_reloaded', tokens: this.#tokens.length }, 'relay tokens reloaded');
      } catch (err) {
        // Fail closed: a tokens file that cannot be read any more authorises nobody.
        this.#tokens = [];
        this.#healthy = false;
        this.#log.error({ event: 'tokens_unusable', err: describeError(err) }, 'the tokens file is unusable; refusing every token until it is fixed');
      }
    });
    return this.#reloading;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
    clearTimeout(this.#reloadTimer);
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    await this.#reloading;
    await this.#flushLastUsed();
  }

  #install(entries: readonly TokenEntry[]): void {
    this.#tokens = entries.map((entry) => ({ entry, digest: Buffer.from(entry.sha256, 'hex') }));
    this.#healthy = true;
  }

  #watch(): void {
    const file = basename(this.#path);
    // Watch the directory: `token create/revoke` replace the file by rename.
    this.#watcher = watch(dirname(this.#path), { persistent: false }, (_event, changed) => {
      if (changed !== file) return;
      clearTimeout(this.#reloadTimer);
      this.#reloadTimer = setTimeout(() => {
        this.#reloadTimer = undefined;
        this.reload().catch((err: unknown) => this.#log.error({ event: 'tokens_reload_failed', err: describeError(err) }, 'tokens reload failed'));
      }, RELAY_TOKENS_RELOAD_DEBOUNCE_MS);
    });
    this.#watcher.on('error', (err) => {
      this.#log.error({ event: 'tokens_watch_failed', err: describeError(err) }, 'cannot watch the tokens file; send SIGHUP after changing it');
    });
  }

  #touch(sha256: string): void {
    this.#lastUsed.set(sha256, new Date().toISOString());
    this.#lastUsedDirty = true;
    if (this.#flushTimer !== undefined || this.#closed) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flushLastUsed().catch((err: unknown) => this.#log.warn({ event: 'last_used_write_failed', err: describeError(err) }, 'cannot record when tokens were last used'));
    }, RELAY_TOKEN_LAST_USED_FLUSH_MS);
  }

  async #flushLastUsed(): Promise<void> {
    // While the tokens file is unusable the live set is unknown: keep the times for later.
    if (!this.#lastUsedDirty || !this.#healthy) return;
    this.#lastUsedDirty = false;
    // Keep only tokens that still exist, so revoked tokens leave no trace behind.
    const live = new Set(this.#tokens.map((token) => token.entry.sha256));
    for (const digest of [...this.#lastUsed.keys()]) if (!live.has(digest)) this.#lastUsed.delete(digest);
    await writeLastUsed(this.#path, this.#lastUsed);
  }
}
