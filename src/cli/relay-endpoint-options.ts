/**
 * The relay options `share` and `connect` have in common (DESIGN §3, §7): where the relay is,
 * how to trust it, and the bearer token, which comes only from the environment
 * (KUBEPAIR_TOKEN), never from a flag, so it does not show up in `ps` or shell history.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { KubepairError } from '../errors/index.js';
import type { RelayEndpoint } from '../relay-client/relay-endpoint.js';
import { resolveRelay } from '../relay-client/relay-endpoint.js';

/** The relay used when neither --relay nor KUBEPAIR_RELAY says otherwise: one on this machine. */
export const DEFAULT_RELAY_URL = 'http://127.0.0.1:8443';

export function addRelayOptions(command: Command): Command {
  return command
    .option('--relay <url>', `relay base URL, https:// (env KUBEPAIR_RELAY; default ${DEFAULT_RELAY_URL})`)
    .option('--relay-ca <file>', 'extra PEM CA certificate to trust for the relay (a private relay CA)')
    .option('--proxy-ca <file>', 'extra PEM CA certificate of a TLS-intercepting corporate proxy')
    .option('--insecure', 'allow http:// or ws:// to a relay that is not on this machine (tokens and keys travel unencrypted)');
}

function readPem(path: string, flag: string): string {
  try {
    const text = readFileSync(path, 'utf8');
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    return text;
  } catch (err) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `${flag} ${path}: ${err instanceof Error ? err.message : 'unreadable'}`, { cause: err });
  }
}

export function relayEndpointFrom(options: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): RelayEndpoint {
  const url = (options['relay'] as string | undefined) ?? env['KUBEPAIR_RELAY'] ?? DEFAULT_RELAY_URL;
  const cas = [
    options['relayCa'] === undefined ? '' : readPem(options['relayCa'] as string, '--relay-ca'),
    options['proxyCa'] === undefined ? '' : readPem(options['proxyCa'] as string, '--proxy-ca'),
  ].join('');
  const token = env['KUBEPAIR_TOKEN'];
  const endpoint: RelayEndpoint = {
    url,
    ...(token !== undefined && token !== '' && { token }),
    ...(options['insecure'] === true && { insecure: true }),
    ...(cas !== '' && { ca: cas }),
  };
  resolveRelay(endpoint); // fail now, with exit code 2, on a bad or insecure URL
  return endpoint;
}

/** An AbortSignal that fires on SIGTERM and SIGHUP (and SIGINT unless `keepSigint`). */
export function signalOnTermination(keepSigint = false): { readonly signal: AbortSignal; readonly dispose: () => void } {
  const controller = new AbortController();
  const signals: NodeJS.Signals[] = keepSigint ? ['SIGTERM', 'SIGHUP'] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const onSignal = (name: NodeJS.Signals): void => controller.abort(new KubepairError('KP_ERR_ABORTED', `received ${name}`));
  for (const name of signals) process.on(name, onSignal);
  // While a child owns the terminal, Ctrl-C belongs to it; kubepair must not die of it.
  const ignore = (): void => undefined;
  if (keepSigint) process.on('SIGINT', ignore);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const name of signals) process.off(name, onSignal);
      if (keepSigint) process.off('SIGINT', ignore);
    },
  };
}

/** Commander `collect` for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
