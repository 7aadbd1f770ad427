/**
 * Where a relay is and how to reach it safely (docs/design.md §3, §7: clients refuse ws:// to
 * non-loopback hosts): the base URL is parsed strictly, plaintext (http/ws) is refused for any
 * host but this machine unless the caller explicitly set `insecure`, and URLs never carry
 * credentials, a query or a fragment. Untrusted input: the URL and token the user typed.
 */
import { BlockList, isIP } from 'node:net';
import * as z from 'zod';
import { KubepairError } from '../errors/index.js';
import type { RelayProxy } from './proxy-settings.js';
import { RELAY_TOKEN_PATTERN } from '../protocol/relay-api.js';

export interface RelayEndpoint {
  /** Base URL of the relay: `https://relay.example.com[:port][/prefix]` (http allowed to loopback). */
  readonly url: string;
  /** Relay bearer token (`kprt_...`); absent for a relay running with `--auth none`. */
  readonly token?: string | undefined;
  /** Allow http:// / ws:// to a host that is not this machine. Off by default. */
  readonly insecure?: boolean | undefined;
  /** Extra PEM CA certificate(s) to trust for this relay (a private relay CA, a TLS-intercepting proxy's CA). */
  readonly ca?: string | Buffer | undefined;
  /** HTTP proxy to tunnel through (proxy-settings.ts decides); used for https:// and wss:// relays only. */
  readonly proxy?: RelayProxy | undefined;
}

/**
 * The shape of a RelayEndpoint in a role's configuration (ClientTunnel, CodeOffer). The URL's
 * rules (scheme, loopback, credentials) are resolveRelay's, which the roles also apply, so the
 * error names the problem with its own code.
 */
export const RelayEndpointSchema = z.strictObject({
  url: z.string().min(1).max(2048),
  token: z.string().regex(new RegExp(RELAY_TOKEN_PATTERN), 'a relay token: kprt_ and 43 characters').optional(),
  insecure: z.boolean().optional(),
  ca: z.union([z.string(), z.instanceof(Buffer)]).optional(),
  proxy: z.strictObject({ label: z.string().min(1), authorization: z.string().min(1).optional() }).optional(),
});

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for `localhost`, 127.0.0.0/8 and ::1 (with or without brackets). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  const family = isIP(bare);
  if (family === 0) return false;
  if (family === 6 && bare.toLowerCase().startsWith('::ffff:') && isIP(bare.slice(7)) === 4) return LOOPBACK.check(bare.slice(7), 'ipv4');
  return LOOPBACK.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/** A checked relay location: whether it is TLS, and the URLs of its API and WebSockets. */
export interface ResolvedRelay {
  readonly secure: boolean;
  /** `https://host:port/prefix` without a trailing slash. */
  readonly httpBase: string;
  /** `wss://host:port/prefix` without a trailing slash. */
  readonly wsBase: string;
  readonly hostname: string;
}

const TOKEN_FORMAT = new RegExp(RELAY_TOKEN_PATTERN);

/**
 * A URL typed without `scheme://` (`relay.example.com`, `relay.example.com:8443`, which
 * `new URL` would even read as scheme "relay.example.com:"): say what to write instead,
 * https:// except for a relay on this machine.
 */
function schemeMissing(text: string): KubepairError {
  const shown = JSON.stringify(text.slice(0, 100));
  const host = /^(\[[^\]]*\]|[^:/]*)/.exec(text)?.[1] ?? '';
  const suggestion = `${host !== '' && isLoopbackHost(host) ? 'http' : 'https'}://${text.slice(0, 100)}`;
  return new KubepairError('KP_ERR_RELAY_URL_INVALID', `${shown} has no scheme; write ${suggestion}`);
}

/** Parse and check a relay endpoint. Throws KP_ERR_RELAY_URL_INVALID / _INSECURE / KP_ERR_INVALID_ARGUMENT. */
export function resolveRelay(endpoint: RelayEndpoint): ResolvedRelay {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint.url)) throw schemeMissing(endpoint.url);
  let url: URL;
  try {
    url = new URL(endpoint.url);
  } catch (err) {
    throw new KubepairError('KP_ERR_RELAY_URL_INVALID', `${JSON.stringify(endpoint.url.slice(0, 100))} is not a URL`, { cause: err });
  }
  const scheme = url.protocol;
  if (!['https:', 'http:', 'wss:', 'ws:'].includes(scheme)) {
    throw new KubepairError('KP_ERR_RELAY_URL_INVALID', `use https:// (got ${scheme})`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new KubepairError('KP_ERR_RELAY_URL_INVALID', 'the URL must not contain credentials; relay tokens go in the Authorization header');
  }
  if (url.search !== '' || url.hash !== '' || endpoint.url.includes('?') || endpoint.url.includes('#')) {
    throw new KubepairError('KP_ERR_RELAY_URL_INVALID', 'the URL must not have a query or fragment');
  }
  const secure = scheme === 'https:' || scheme === 'wss:';
  if (!secure && !isLoopbackHost(url.hostname) && endpoint.insecure !== true) {
    throw new KubepairError('KP_ERR_RELAY_URL_INSECURE', `${url.hostname}`);
  }
  if (endpoint.token !== undefined && !TOKEN_FORMAT.test(endpoint.token)) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'the relay token is malformed (expected kprt_ and 43 characters)');
  }
  const prefix = url.pathname.replace(/\/+$/, '');
  return {
    secure,
    httpBase: `${secure ? 'https' : 'http'}://${url.host}${prefix}`,
    wsBase: `${secure ? 'wss' : 'ws'}://${url.host}${prefix}`,
    hostname: url.hostname,
  };
}
