/**
 * Relay tokens in the OS keychain through `@napi-rs/keyring` (docs/design.md §7): macOS Keychain,
 * Windows Credential Manager, and on Linux the Secret Service on the D-Bus session bus
 * (gnome-keyring, KWallet, KeePassXC). Service `kubepair`, account = the relay's origin.
 *
 * On Linux the entry is pinned to the Secret Service. The library would otherwise fall back to
 * the kernel keyring (keyutils), which keeps secrets in memory only until the next reboot and
 * shares them with everything in the session keyring: a token stored there would vanish without
 * a word, so kubepair reports "no keychain" instead and points at KUBEPAIR_TOKEN.
 *
 * The native module is loaded on first use only, so commands that never touch the keychain do
 * not load it. Errors: "Platform failure" (no D-Bus session bus, no Secret Service on it, a
 * library that cannot load here) is KP_ERR_KEYCHAIN_UNAVAILABLE; anything else (locked,
 * access denied, ambiguous entries) is KP_ERR_KEYCHAIN_FAILED; each call is bounded by
 * KEYCHAIN_CALL_TIMEOUT_MS. The library's own text goes into the error's cause only.
 *
 * Untrusted input: what the keychain returns (checked by the caller against the token format).
 */
import type * as Keyring from '@napi-rs/keyring';
import type { AsyncEntry } from '@napi-rs/keyring';
import { KubepairError } from '../errors/index.js';
import { KEYCHAIN_CALL_TIMEOUT_MS } from '../limits.js';
import { sanitizeRelayText } from '../relay-client/relay-error-mapping.js';
import { KEYCHAIN_SERVICE } from './relay-token-store.js';
import type { RelayTokenStore } from './relay-token-store.js';

type KeyringModule = typeof Keyring;

/** The KubepairError for a failure of the keychain library. */
export function keychainError(err: unknown, action: string): KubepairError {
  if (err instanceof KubepairError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/^Platform failure\b/i.test(message)) return new KubepairError('KP_ERR_KEYCHAIN_UNAVAILABLE', undefined, { cause: err });
  return new KubepairError('KP_ERR_KEYCHAIN_FAILED', `${action}: ${sanitizeRelayText(message, 160)}`, { cause: err });
}

/** RelayTokenStore in the OS keychain; see the file header. */
export class KeychainTokenStore implements RelayTokenStore {
  readonly name = process.platform === 'linux' ? 'the OS keychain (Secret Service)' : 'the OS keychain';
  readonly #timeoutMs: number;
  #module: Promise<KeyringModule> | undefined;

  constructor(timeoutMs = KEYCHAIN_CALL_TIMEOUT_MS) {
    this.#timeoutMs = timeoutMs;
  }

  async get(origin: string): Promise<string | undefined> {
    const password = await this.#call('reading the relay token', origin, (entry, signal) => entry.getPassword(signal));
    return password ?? undefined;
  }

  async set(origin: string, token: string): Promise<void> {
    await this.#call('storing the relay token', origin, (entry, signal) => entry.setPassword(token, signal));
  }

  async delete(origin: string): Promise<boolean> {
    return this.#call('deleting the relay token', origin, (entry, signal) => entry.deleteCredential(signal));
  }

  async #entry(origin: string, action: string): Promise<AsyncEntry> {
    this.#module ??= import('@napi-rs/keyring');
    let keyring: KeyringModule;
    try {
      keyring = await this.#module;
    } catch (err) {
      throw new KubepairError('KP_ERR_KEYCHAIN_UNAVAILABLE', undefined, { cause: err });
    }
    try {
      return new keyring.AsyncEntry(KEYCHAIN_SERVICE, origin, { linux: { store: 'secret-service' } });
    } catch (err) {
      throw keychainError(err, action);
    }
  }

  async #call<T>(action: string, origin: string, run: (entry: AsyncEntry, signal: AbortSignal) => Promise<T>): Promise<T> {
    const entry = await this.#entry(origin, action);
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new KubepairError('KP_ERR_KEYCHAIN_FAILED', `${action}: no answer within ${this.#timeoutMs / 1000} s (is the keychain locked behind a prompt?)`));
      }, this.#timeoutMs);
    });
    try {
      return await Promise.race([run(entry, controller.signal), timeout]);
    } catch (err) {
      throw keychainError(err, action);
    } finally {
      clearTimeout(timer);
    }
  }
}
