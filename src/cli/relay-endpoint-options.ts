/**
 * The relay options `share` and `connect` have in common (docs/design.md §3, §7): where the relay
 * is, how to trust it, the HTTPS proxy on the way (HTTPS_PROXY, NO_PROXY: proxy-settings.ts), and
 * the bearer token, which comes from KUBEPAIR_TOKEN or the OS keychain
 * (credentials/relay-token-source.ts), never from a flag, so it does not show up in `ps` or
 * shell history.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Command } from 'commander';
import { KeychainTokenStore } from '../credentials/keychain-token-store.js';
import { chooseRelayToken } from '../credentials/relay-token-source.js';
import type { RelayTokenStore } from '../credentials/relay-token-store.js';
import { KubepairError } from '../errors/index.js';
import { proxyForRelay } from '../relay-client/proxy-settings.js';
import type { RelayEndpoint } from '../relay-client/relay-endpoint.js';
import { resolveRelay } from '../relay-client/relay-endpoint.js';
import type { RelayOptions } from './command-options.js';

/** The --relay option's help, shared by every command that takes it. */
export const RELAY_OPTION_HELP = 'relay base URL, https://... (env KUBEPAIR_RELAY; or once: kubepair config set relay URL)';

export function addRelayOptions(command: Command): Command {
  return command
    .option('--relay <url>', RELAY_OPTION_HELP)
    .option('--relay-ca <file>', 'extra PEM CA certificate to trust for the relay (a private relay CA)')
    .option('--proxy-ca <file>', 'extra PEM CA certificate of a TLS-intercepting corporate proxy (the proxy itself comes from HTTPS_PROXY, NO_PROXY)')
    .option('--insecure', 'allow http:// or ws:// to a relay that is not on this machine (tokens and keys travel unencrypted)');
}

/** The PEM certificate text of `path` given with `flag`, or KP_ERR_INVALID_ARGUMENT. */
export function readPem(path: string, flag: string): string {
  try {
    const text = readFileSync(path, 'utf8');
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    return text;
  } catch (err) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `${flag} ${path}: ${err instanceof Error ? err.message : 'unreadable'}`, { cause: err });
  }
}

/**
 * The relay URL from --relay, else KUBEPAIR_RELAY (the config file's `relay` reaches
 * options.relay through resolveDefaults(), setting-resolution.ts). There is no built-in relay:
 * none given is KP_ERR_RELAY_NOT_CONFIGURED, whose message names the three ways to give one.
 */
export function relayUrlFrom(options: Pick<RelayOptions, 'relay'>, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['KUBEPAIR_RELAY'];
  const url = options.relay ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined);
  if (url === undefined || url === '') throw new KubepairError('KP_ERR_RELAY_NOT_CONFIGURED');
  return url;
}

export interface RelayEndpointSources {
  readonly env?: NodeJS.ProcessEnv;
  /** The token store (default: the OS keychain), asked only when KUBEPAIR_TOKEN is not set. */
  readonly store?: () => RelayTokenStore;
}

/**
 * The relay endpoint of `share` / `connect`: URL, CAs, proxy and token. Everything the user
 * typed is checked before the keychain is asked, so a bad option fails at once with exit code 2.
 */
export async function relayEndpointFrom(options: RelayOptions, sources: RelayEndpointSources = {}): Promise<RelayEndpoint> {
  const env = sources.env ?? process.env;
  const url = relayUrlFrom(options, env);
  const extra = [
    ...(options.relayCa === undefined ? [] : [readPem(options.relayCa, '--relay-ca')]),
    ...(options.proxyCa === undefined ? [] : [readPem(options.proxyCa, '--proxy-ca')]),
  ];
  const base: RelayEndpoint = {
    url,
    ...(options.insecure === true && { insecure: true }),
    // Node's `ca` replaces the default roots: listing them keeps --relay-ca / --proxy-ca an
    // addition, so a relay with a public certificate (say, one NO_PROXY sends around an
    // intercepting proxy) is still trusted.
    ...(extra.length > 0 && { ca: [...rootCertificates, ...extra].join('\n') }),
  };
  resolveRelay(base); // fail now, with exit code 2, on a bad or insecure URL
  const proxy = proxyForRelay(url, env);
  const debug = env['KUBEPAIR_DEBUG'] === '1';
  const { token } = await chooseRelayToken({
    relayUrl: url,
    env,
    store: sources.store ?? (() => new KeychainTokenStore()),
    debug: (line) => {
      if (debug) process.stderr.write(`kubepair: [debug] ${line}\n`);
    },
    warn: (line) => process.stderr.write(`kubepair: warning: ${line}\n`),
  });
  const endpoint: RelayEndpoint = { ...base, ...(proxy !== undefined && { proxy }), ...(token !== undefined && { token }) };
  resolveRelay(endpoint); // a malformed KUBEPAIR_TOKEN is bad input too
  return endpoint;
}

/**
 * An AbortSignal that fires on SIGTERM and SIGHUP (and SIGINT unless `keepSigint`); `received`
 * names the first of them, so the command can exit 128 + its number (docs/exit-codes.md).
 */
export function signalOnTermination(keepSigint = false): { readonly signal: AbortSignal; readonly received: () => NodeJS.Signals | undefined; readonly dispose: () => void } {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const signals: NodeJS.Signals[] = keepSigint ? ['SIGTERM', 'SIGHUP'] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const onSignal = (name: NodeJS.Signals): void => {
    received ??= name;
    controller.abort(new KubepairError('KP_ERR_ABORTED', `received ${name}`));
  };
  for (const name of signals) process.on(name, onSignal);
  // While a child owns the terminal, Ctrl-C belongs to it; kubepair must not die of it.
  const ignore = (): void => undefined;
  if (keepSigint) process.on('SIGINT', ignore);
  return {
    signal: controller.signal,
    received: () => received,
    dispose: () => {
      for (const name of signals) process.off(name, onSignal);
      if (keepSigint) process.off('SIGINT', ignore);
    },
  };
}
