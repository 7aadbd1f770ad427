/**
 * Which HTTPS proxy, if any, stands between this machine and a relay (issue 4: corporate
 * proxies): `https_proxy` / `HTTPS_PROXY` name an `http://` proxy that tunnels with HTTP
 * CONNECT, and `no_proxy` / `NO_PROXY` list the relay hosts reached directly. Only TLS relays
 * (https://, wss://) go through a proxy; a plaintext relay (loopback, or `--insecure`) is always
 * reached directly, and HTTP_PROXY / ALL_PROXY are not read.
 *
 * Rules (docs/usage.md "Corporate proxies" repeats them for users):
 * - Lowercase first, as curl does: `https_proxy` when set and non-empty, else `HTTPS_PROXY`;
 *   the same for `no_proxy` / `NO_PROXY`.
 * - The proxy URL is `http://[user:password@]host[:port]` (port 80 when absent); a value
 *   without a scheme (`proxy.corp:3128`) means http://. Any other scheme (https://, socks5://,
 *   ...) is refused: kubepair speaks only HTTP CONNECT to a proxy. Credentials become a
 *   `Proxy-Authorization: Basic` header and never appear in a message or a log: the proxy is
 *   named by `label`, which has none.
 * - NO_PROXY: comma-separated entries, case-insensitive, blanks ignored. `*` alone bypasses
 *   the proxy for every relay. `example.com`, `.example.com` and `*.example.com` all match the
 *   host `example.com` and every host ending in `.example.com` (label boundary: not
 *   `badexample.com`), and never a relay given by IP address. An IP address (IPv6 with or
 *   without brackets) matches only that literal address; there are no CIDR ranges, and no name
 *   is resolved. `entry:PORT` matches only when
 *   the relay's port (443 unless given) is PORT. Entries that fit none of these match nothing.
 *
 * Untrusted input: the environment values (length-bounded, parsed strictly).
 */
import { isIP } from 'node:net';
import { KubepairError } from '../errors/index.js';
import { RELAY_PROXY_SETTING_MAX_CHARS } from '../limits.js';

/** An HTTP proxy to tunnel through. */
export interface RelayProxy {
  /** `http://host:port`: what the agent connects to, and how messages name the proxy. Never credentials. */
  readonly label: string;
  /** `Basic ...` for `Proxy-Authorization`, from the URL's user and password; absent without them. */
  readonly authorization?: string | undefined;
}

/** A relay's host as the proxy decision sees it. */
interface RelayHost {
  readonly hostname: string;
  readonly port: number;
}

function firstSet(env: NodeJS.ProcessEnv, names: readonly string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') {
      if (value.length > RELAY_PROXY_SETTING_MAX_CHARS) {
        throw new KubepairError('KP_ERR_PROXY_INVALID', `${name} is longer than ${RELAY_PROXY_SETTING_MAX_CHARS} characters`);
      }
      return { name, value: value.trim() };
    }
  }
  return undefined;
}

function decodeCredential(text: string, name: string, part: string): string {
  try {
    return decodeURIComponent(text);
  } catch (err) {
    throw new KubepairError('KP_ERR_PROXY_INVALID', `the ${part} in ${name} is not valid percent-encoding`, { cause: err });
  }
}

/** Parse an HTTPS_PROXY value (named `name` in messages). Throws KP_ERR_PROXY_INVALID. */
export function parseProxyUrl(value: string, name = 'HTTPS_PROXY'): RelayProxy {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch (err) {
    // The value may hold a password: it is never repeated in the message.
    throw new KubepairError('KP_ERR_PROXY_INVALID', `${name} is not a URL (expected http://host:port)`, { cause: err });
  }
  if (url.protocol !== 'http:') {
    throw new KubepairError(
      'KP_ERR_PROXY_INVALID',
      `${name} must be an http:// proxy URL (got ${url.protocol}//); kubepair tunnels through a proxy with HTTP CONNECT only`,
    );
  }
  if (url.hostname === '') throw new KubepairError('KP_ERR_PROXY_INVALID', `${name} has no host`);
  if (url.search !== '' || url.hash !== '' || (url.pathname !== '/' && url.pathname !== '')) {
    throw new KubepairError('KP_ERR_PROXY_INVALID', `${name} must be just http://host:port (no path, query or fragment)`);
  }
  const label = `http://${url.host}`;
  if (url.username === '' && url.password === '') return { label };
  const user = decodeCredential(url.username, name, 'user name');
  const password = decodeCredential(url.password, name, 'password');
  if (user.includes(':')) throw new KubepairError('KP_ERR_PROXY_INVALID', `the user name in ${name} must not contain ":"`);
  return { label, authorization: `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}` };
}

/** Lowercase, without IPv6 brackets or a trailing dot. */
function normalizeHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase().replace(/\.$/, '');
}

/** One NO_PROXY entry as a predicate on the relay host, or undefined for an entry that matches nothing. */
function noProxyEntry(raw: string): ((relay: RelayHost) => boolean) | undefined {
  const entry = raw.trim().toLowerCase();
  if (entry === '') return undefined;
  if (entry === '*') return () => true;
  let host = entry;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed !== null) {
    host = bracketed[1]!;
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else if (isIP(entry) === 0) {
    const colon = entry.lastIndexOf(':');
    if (colon !== -1) {
      const portText = entry.slice(colon + 1);
      if (!/^\d{1,5}$/.test(portText)) return undefined;
      port = Number(portText);
      host = entry.slice(0, colon);
    }
  }
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  const portMatches = (relay: RelayHost): boolean => port === undefined || relay.port === port;
  if (isIP(host) !== 0) {
    const address = normalizeHost(host);
    return (relay) => relay.hostname === address && portMatches(relay);
  }
  const domain = normalizeHost(host.replace(/^\*?\./, ''));
  if (domain === '' || !/^[a-z0-9._-]+$/.test(domain)) return undefined;
  // A name suffix never matches an IP address ("2.3" must not match 10.1.2.3).
  return (relay) => isIP(relay.hostname) === 0 && (relay.hostname === domain || relay.hostname.endsWith(`.${domain}`)) && portMatches(relay);
}

/** True when a NO_PROXY value says the relay at `hostname:port` is reached directly. */
export function bypassesProxy(noProxy: string, hostname: string, port: number): boolean {
  const relay: RelayHost = { hostname: normalizeHost(hostname), port };
  return noProxy.split(',').some((raw) => noProxyEntry(raw)?.(relay) === true);
}

/**
 * The proxy to use for the relay at `relayUrl` under the environment `env`, or undefined to
 * connect directly. Throws KP_ERR_PROXY_INVALID for an unusable HTTPS_PROXY (even when the
 * relay would bypass it: a broken setting is reported, not silently ignored).
 */
export function proxyForRelay(relayUrl: string, env: NodeJS.ProcessEnv): RelayProxy | undefined {
  const setting = firstSet(env, ['https_proxy', 'HTTPS_PROXY']);
  if (setting === undefined) return undefined;
  const proxy = parseProxyUrl(setting.value, setting.name);
  let url: URL;
  try {
    url = new URL(relayUrl);
  } catch {
    return undefined; // not a URL: resolveRelay() reports it with the relay's own error
  }
  if (url.protocol !== 'https:' && url.protocol !== 'wss:') return undefined;
  const noProxy = firstSet(env, ['no_proxy', 'NO_PROXY']);
  const port = url.port === '' ? 443 : Number(url.port);
  if (noProxy !== undefined && bypassesProxy(noProxy.value, url.hostname, port)) return undefined;
  return proxy;
}
