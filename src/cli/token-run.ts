/**
 * Running `kubepair token set|delete|status` (docs/design.md §7): the relay URL is checked first
 * (exit 2), then the OS keychain is asked. No token is ever printed, not even in part: status says
 * only whether one is stored and where share and connect would take one from.
 */
import { KeychainTokenStore } from '../credentials/keychain-token-store.js';
import { TOKEN_ENV } from '../credentials/relay-token-source.js';
import { isRelayTokenFormat, KEYCHAIN_SERVICE, relayOrigin } from '../credentials/relay-token-store.js';
import type { RelayTokenStore } from '../credentials/relay-token-store.js';
import { KubepairError, isKubepairError } from '../errors/index.js';
import { sanitizeRelayText } from '../relay-client/relay-error-mapping.js';
import * as z from 'zod';
import { parseCommandOptions } from './command-options.js';
import { relayUrlFrom } from './relay-endpoint-options.js';
import { promptHidden, readSecretStream } from './secret-input.js';

export interface TokenRunContext {
  readonly env: NodeJS.ProcessEnv;
  readonly store: RelayTokenStore;
  readonly stdout: NodeJS.WritableStream;
}

function defaultContext(): TokenRunContext {
  return { env: process.env, store: new KeychainTokenStore(), stdout: process.stdout };
}

async function readToken(origin: string): Promise<string> {
  const text =
    process.stdin.isTTY === true
      ? await promptHidden(process.stdin, process.stderr, `Relay token for ${origin} (input hidden): `)
      : await readSecretStream(process.stdin);
  if (text === '') throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'no token given: pipe it to standard input, or run on a terminal to be prompted');
  // Never repeat the input: it may be a secret with a typo, or a different secret entirely.
  if (!isRelayTokenFormat(text)) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'the input is not a relay token (expected kprt_ and 43 base64url characters, as "kubepair relay token create" prints)');
  }
  return text;
}

/** `kubepair token set|delete|status`'s one option. */
const TokenOptionsSchema = z.strictObject({ relay: z.string().optional() });

/** The relay origin the command is about: --relay, KUBEPAIR_RELAY or the default. */
function originOf(rawOptions: unknown, command: string, env: NodeJS.ProcessEnv): string {
  return relayOrigin(relayUrlFrom(parseCommandOptions(TokenOptionsSchema, rawOptions, `token ${command}`), env));
}

function envTokenNote(env: NodeJS.ProcessEnv): string {
  const value = env[TOKEN_ENV];
  return value === undefined || value === '' ? '' : `Note: ${TOKEN_ENV} is set here, and share and connect use it instead of the keychain.\n`;
}

export async function runTokenSet(rawOptions: unknown, context: TokenRunContext = defaultContext()): Promise<void> {
  const origin = originOf(rawOptions, 'set', context.env);
  // Ask the keychain first, so nobody types a token for a keychain that is not there.
  const earlier = await context.store.get(origin);
  const token = await readToken(origin);
  await context.store.set(origin, token);
  const verb = earlier === undefined ? 'Stored' : 'Replaced';
  context.stdout.write(`${verb} the relay token for ${origin} in ${context.store.name}.\n${envTokenNote(context.env)}`);
}

export async function runTokenDelete(rawOptions: unknown, context: TokenRunContext = defaultContext()): Promise<void> {
  const origin = originOf(rawOptions, 'delete', context.env);
  const deleted = await context.store.delete(origin);
  context.stdout.write(deleted ? `Deleted the relay token for ${origin} from ${context.store.name}.\n` : `No relay token was stored for ${origin} in ${context.store.name}.\n`);
}

export async function runTokenStatus(rawOptions: unknown, context: TokenRunContext = defaultContext()): Promise<void> {
  const origin = originOf(rawOptions, 'status', context.env);
  let keychain: string;
  let stored = false;
  try {
    const token = await context.store.get(origin);
    stored = token !== undefined && isRelayTokenFormat(token);
    keychain =
      token === undefined
        ? 'no token stored'
        : stored
          ? `a token is stored (service "${KEYCHAIN_SERVICE}", account "${origin}")`
          : `an entry exists (service "${KEYCHAIN_SERVICE}", account "${origin}") but it is not a relay token; replace it with kubepair token set`;
  } catch (err) {
    if (!isKubepairError(err, 'KP_ERR_KEYCHAIN_UNAVAILABLE') && !isKubepairError(err, 'KP_ERR_KEYCHAIN_FAILED')) throw err;
    const reason = err.cause instanceof Error ? ` (${sanitizeRelayText(err.cause.message, 160)})` : '';
    keychain = err.code === 'KP_ERR_KEYCHAIN_UNAVAILABLE' ? `not available on this machine${reason}` : `cannot be read (${err.message})`;
  }
  const envValue = context.env[TOKEN_ENV];
  const envSet = envValue !== undefined && envValue !== '';
  const envWellFormed = envSet && isRelayTokenFormat(envValue);
  const used = envSet
    ? envWellFormed
      ? `${TOKEN_ENV} (it takes precedence over the keychain)`
      : `${TOKEN_ENV}, which is malformed: share and connect will refuse to start`
    : stored
      ? `the token in ${context.store.name}`
      : 'no token (a relay that requires one answers 401)';
  context.stdout.write(
    [
      `relay:          ${origin}`,
      `keychain:       ${keychain}`,
      `${TOKEN_ENV}: ${envSet ? (envWellFormed ? 'set' : 'set, but not a relay token') : 'not set'}`,
      `share/connect:  use ${used}`,
      '',
    ].join('\n'),
  );
}
