/**
 * Which relay token `share` and `connect` send (docs/design.md §7): `KUBEPAIR_TOKEN` when it is set
 * and not empty (the keychain is then not asked at all), else the token the keychain holds for
 * the relay's origin, else none (a relay with authentication then answers 401, and the relay
 * client says where a token would come from).
 *
 * Where no keychain is available (no Secret Service on the session bus, as in CI and most
 * servers) that is not an error: the answer is "no token" plus one debug-level note. A
 * keychain that exists but fails (locked, denied) is a warning the user sees, and the command
 * goes on without a token. A keychain entry that is not a well-formed token is an error: it
 * was not written by `kubepair token set`.
 *
 * Untrusted input: the environment variable (format-checked by resolveRelay()) and the
 * keychain's answer (format-checked here).
 */
import { KubepairError, isKubepairError } from '../errors/index.js';
import { isRelayTokenFormat, relayOrigin } from './relay-token-store.js';
import type { RelayTokenStore } from './relay-token-store.js';

export const TOKEN_ENV = 'KUBEPAIR_TOKEN';

export type RelayTokenOrigin = 'environment' | 'keychain' | 'none';

export interface RelayTokenChoice {
  readonly token?: string | undefined;
  readonly source: RelayTokenOrigin;
}

export interface RelayTokenSourceOptions {
  readonly relayUrl: string;
  readonly env: NodeJS.ProcessEnv;
  /** The keychain, created only when the environment has no token. */
  readonly store: () => RelayTokenStore;
  /** One line for KUBEPAIR_DEBUG=1 (the keychain is unavailable). */
  readonly debug: (line: string) => void;
  /** One line the user always sees (the keychain failed). */
  readonly warn: (line: string) => void;
}

/** Choose the relay token; see the file header. */
export async function chooseRelayToken(options: RelayTokenSourceOptions): Promise<RelayTokenChoice> {
  const fromEnv = options.env[TOKEN_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { token: fromEnv, source: 'environment' };
  const origin = relayOrigin(options.relayUrl);
  const store = options.store();
  let stored: string | undefined;
  try {
    stored = await store.get(origin);
  } catch (err) {
    if (isKubepairError(err, 'KP_ERR_KEYCHAIN_UNAVAILABLE')) {
      const reason = err.cause instanceof Error ? `: ${err.cause.message}` : '';
      options.debug(`no OS keychain to read a relay token from (${TOKEN_ENV} is not set either)${reason.slice(0, 200)}`);
      return { source: 'none' };
    }
    const message = err instanceof Error ? err.message : String(err);
    options.warn(`${message}; going on without a relay token (set ${TOKEN_ENV} to give one)`);
    return { source: 'none' };
  }
  if (stored === undefined) return { source: 'none' };
  if (!isRelayTokenFormat(stored)) {
    throw new KubepairError('KP_ERR_KEYCHAIN_FAILED', `the entry for ${origin} in ${store.name} is not a kubepair relay token; replace it with "kubepair token set --relay ${origin}"`);
  }
  return { token: stored, source: 'keychain' };
}
