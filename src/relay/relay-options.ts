/**
 * Relay configuration (docs/design.md §3, §7): the `RelayConfig` a relay is constructed with, the
 * table of every configurable limit (flag, environment variable, unit, default, allowed range), and
 * the parsers that turn operator-supplied text into validated values.
 *
 * Untrusted input: option values from the command line and the environment. Every value is
 * parsed strictly (units required on durations, integers only, ranges checked) and a bad one
 * fails start-up with KP_ERR_RELAY_CONFIG naming the flag or variable it came from.
 */
import { BlockList, isIP } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubepairError } from '../errors/index.js';
import { isLoopbackHost } from '../relay-client/relay-endpoint.js';
import {
  RELAY_API_RATE_LIMIT_PER_MINUTE,
  RELAY_AUDIT_BACKLOG,
  RELAY_CLAIM_CONNECT_TIMEOUT_MS,
  RELAY_CONNECTION_LEASE_MS,
  RELAY_ESTABLISHED_LIFETIME_MS,
  RELAY_EXPIRING_NOTICE_MS,
  RELAY_MAX_BUFFERED_BYTES,
  RELAY_HEAD_TIMEOUT_MS,
  RELAY_MAX_CONNECTIONS,
  RELAY_MAX_CONNECTIONS_PER_ADDRESS,
  RELAY_MAX_MESSAGE_BYTES,
  RELAY_MAX_PAIRING_ATTEMPTS,
  RELAY_MAX_RECONNECTS_PER_MINUTE,
  RELAY_MAX_RECREATED_WAITING,
  RELAY_MAX_RESUME_WINDOW_MS,
  RELAY_MAX_REQUEST_BODY_BYTES,
  RELAY_MAX_SESSIONS,
  RELAY_MAX_SESSIONS_PER_ADDRESS,
  RELAY_MAX_SESSIONS_PER_TOKEN,
  RELAY_NAMEPLATE_QUARANTINE_MS,
  RELAY_PEER_SILENCE_TIMEOUT_MS,
  RELAY_PING_INTERVAL_MS,
  RELAY_REQUEST_TIMEOUT_MS,
  RELAY_SHUTDOWN_GRACE_MS,
  RELAY_STORE_PREFIX_MAX_CHARS,
  RELAY_UNPAIRED_TTL_MS,
} from '../limits.js';
import { DAY_MS, GIB, HOUR_MS, KIB, MAX_TIMER_MS, MIB, MINUTE_MS, SECOND_MS, formatByteSize, formatDuration, parseByteSize, parseCount, parseDuration } from '../units.js';

/** Every limit of a running relay, in milliseconds, bytes or counts. */
export interface RelayLimits {
  readonly unpairedTtlMs: number;
  readonly establishedLifetimeMs: number;
  readonly claimConnectTimeoutMs: number;
  readonly maxPairingAttempts: number;
  readonly maxMessageBytes: number;
  readonly apiRateLimitPerMinute: number;
  readonly maxSessions: number;
  readonly maxSessionsPerToken: number;
  readonly maxSessionsPerAddress: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly headTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly peerSilenceTimeoutMs: number;
  readonly maxBufferedBytes: number;
  readonly expiringNoticeMs: number;
  readonly shutdownGraceMs: number;
  readonly maxRequestBodyBytes: number;
  readonly requestTimeoutMs: number;
  readonly nameplateQuarantineMs: number;
  readonly auditBacklog: number;
  readonly maxResumeWindowMs: number;
  readonly maxRecreatedWaiting: number;
  readonly maxReconnectsPerMinute: number;
  readonly nodeLeaseMs: number;
}

export type LimitUnit = 'duration' | 'bytes' | 'count';

/** One configurable limit: how operators name it and what values it accepts. */
export interface LimitOption {
  readonly key: keyof RelayLimits;
  /** Long flag without the dashes, e.g. `session-ttl`. */
  readonly flag: string;
  /** Environment variable, e.g. `KUBEPAIR_RELAY_SESSION_TTL`. */
  readonly env: string;
  readonly unit: LimitUnit;
  readonly defaultValue: number;
  readonly min: number;
  readonly max: number;
  readonly help: string;
}

function limit(
  key: keyof RelayLimits,
  flag: string,
  unit: LimitUnit,
  defaultValue: number,
  min: number,
  max: number,
  help: string,
): LimitOption {
  return { key, flag, env: `KUBEPAIR_RELAY_${flag.toUpperCase().replaceAll('-', '_')}`, unit, defaultValue, min, max, help };
}

/** Every limit flag, in the order `--help` lists them. */
export const RELAY_LIMIT_OPTIONS: readonly LimitOption[] = [
  limit('unpairedTtlMs', 'session-ttl', 'duration', RELAY_UNPAIRED_TTL_MS, 100, DAY_MS, 'how long a new session waits to be paired'),
  limit('establishedLifetimeMs', 'session-lifetime', 'duration', RELAY_ESTABLISHED_LIFETIME_MS, SECOND_MS, 7 * DAY_MS, 'how long an established session may live'),
  limit('claimConnectTimeoutMs', 'claim-timeout', 'duration', RELAY_CLAIM_CONNECT_TIMEOUT_MS, 100, HOUR_MS, 'how long a paired client may take to open its WebSocket'),
  limit('maxPairingAttempts', 'max-attempts', 'count', RELAY_MAX_PAIRING_ATTEMPTS, 1, 100, 'failed pairing attempts per session; the last destroys it'),
  limit('maxMessageBytes', 'max-message-size', 'bytes', RELAY_MAX_MESSAGE_BYTES, 128 * KIB, 16 * MIB, 'largest WebSocket message (close 1009 above it)'),
  limit('apiRateLimitPerMinute', 'rate-limit', 'count', RELAY_API_RATE_LIMIT_PER_MINUTE, 1, 1_000_000, 'requests per minute per client address on /api/*'),
  limit('maxSessions', 'max-sessions', 'count', RELAY_MAX_SESSIONS, 1, 1_000_000, 'live sessions in total'),
  limit('maxSessionsPerToken', 'max-sessions-per-token', 'count', RELAY_MAX_SESSIONS_PER_TOKEN, 1, 1_000_000, 'live sessions per relay token'),
  limit('maxSessionsPerAddress', 'max-sessions-per-ip', 'count', RELAY_MAX_SESSIONS_PER_ADDRESS, 1, 1_000_000, 'live sessions per client address (an IPv6 /64 counts as one)'),
  limit('maxConnections', 'max-connections', 'count', RELAY_MAX_CONNECTIONS, 16, 1_000_000, 'open TCP connections (HTTP and WebSocket)'),
  limit('maxConnectionsPerAddress', 'max-connections-per-ip', 'count', RELAY_MAX_CONNECTIONS_PER_ADDRESS, 1, 1_000_000, 'open TCP connections from one peer address, an IPv6 /64 as one (trusted proxies exempt)'),
  limit('headTimeoutMs', 'head-timeout', 'duration', RELAY_HEAD_TIMEOUT_MS, 100, 10 * MINUTE_MS, 'how long a client may take to send a complete request head (HTTP, WebSocket upgrade, TLS handshake)'),
  limit('pingIntervalMs', 'ping-interval', 'duration', RELAY_PING_INTERVAL_MS, 100, HOUR_MS, 'time between WebSocket pings to each peer'),
  limit('peerSilenceTimeoutMs', 'peer-timeout', 'duration', RELAY_PEER_SILENCE_TIMEOUT_MS, 200, 3 * HOUR_MS, 'drop a peer silent (no frame, no pong) for this long'),
  limit('maxBufferedBytes', 'max-buffered-bytes', 'bytes', RELAY_MAX_BUFFERED_BYTES, 64 * KIB, GIB, 'bytes queued towards one peer before the relay stops reading the other'),
  limit('expiringNoticeMs', 'expiring-notice', 'duration', RELAY_EXPIRING_NOTICE_MS, 0, DAY_MS, 'send {"type":"expiring"} this long before a session ends'),
  limit('shutdownGraceMs', 'shutdown-grace', 'duration', RELAY_SHUTDOWN_GRACE_MS, 0, 10 * MINUTE_MS, 'on SIGTERM, how long peers may finish before they are closed'),
  limit('maxRequestBodyBytes', 'max-request-body', 'bytes', RELAY_MAX_REQUEST_BODY_BYTES, 256, MIB, 'largest JSON request body on /api/*'),
  limit('requestTimeoutMs', 'request-timeout', 'duration', RELAY_REQUEST_TIMEOUT_MS, 100, 10 * MINUTE_MS, 'how long one HTTP request may take to arrive'),
  limit('nameplateQuarantineMs', 'nameplate-quarantine', 'duration', RELAY_NAMEPLATE_QUARANTINE_MS, 0, DAY_MS, 'how long a freed nameplate stays out of use, so a stale code finds no session (0: reuse at once)'),
  limit('auditBacklog', 'audit-backlog', 'count', RELAY_AUDIT_BACKLOG, 16, RELAY_AUDIT_BACKLOG, 'audit records waiting for the disk before more are refused (and /readyz turns 503)'),
  limit('maxResumeWindowMs', 'max-resume-window', 'duration', RELAY_MAX_RESUME_WINDOW_MS, 0, 7 * DAY_MS, 'longest resume window granted to an agent: how long an established session whose socket dropped waits for it (0: sessions end when a socket drops, and do not survive a restart)'),
  limit('maxReconnectsPerMinute', 'max-reconnects-per-minute', 'count', RELAY_MAX_RECONNECTS_PER_MINUTE, 1, 100_000, 'new sockets each side of an established session may open per minute (resumptions and replacements; 429 above)'),
  limit('maxRecreatedWaiting', 'max-recreated-waiting', 'count', RELAY_MAX_RECREATED_WAITING, 1, 1_000_000, 'sessions recreated from their keys after a restart that may wait for their other side at once'),
  limit('nodeLeaseMs', 'node-lease', 'duration', RELAY_CONNECTION_LEASE_MS, 3 * SECOND_MS, 10 * MINUTE_MS, 'in a relay cluster: how long a node counts as alive after it last renewed its lease (it renews every third of it); then the other nodes sweep its sessions'),
];

/** The default limits (docs/design.md §3). */
export const DEFAULT_RELAY_LIMITS: RelayLimits = Object.freeze(
  Object.fromEntries(RELAY_LIMIT_OPTIONS.map((option) => [option.key, option.defaultValue])) as unknown as RelayLimits,
);

/** Format a limit value the way operators write it. */
export function formatLimit(unit: LimitUnit, value: number): string {
  if (unit === 'count') return String(value);
  return unit === 'duration' ? formatDuration(value) : formatByteSize(value);
}

const UNIT_SYNTAX: Record<LimitUnit, string> = {
  duration: 'a duration with a unit (ms, s, m, h, d), e.g. 30s',
  bytes: 'a size in bytes, optionally with KiB, MiB or GiB, e.g. 16MiB',
  count: 'a whole number',
};

/** Where a raw option value came from, for error messages. */
export interface RawOptionValue {
  readonly value: string;
  /** How the operator wrote it: `--session-ttl` or `KUBEPAIR_RELAY_SESSION_TTL`. */
  readonly origin: string;
}

/** Parse and range-check one limit. Throws KP_ERR_RELAY_CONFIG naming `raw.origin`. */
export function parseLimit(option: LimitOption, raw: RawOptionValue): number {
  const parse = option.unit === 'duration' ? parseDuration : option.unit === 'bytes' ? parseByteSize : parseCount;
  const value = parse(raw.value);
  const shown = JSON.stringify(raw.value.slice(0, 64));
  if (value === undefined) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `${raw.origin}=${shown}: expected ${UNIT_SYNTAX[option.unit]}`);
  }
  if (value < option.min || value > option.max) {
    throw new KubepairError(
      'KP_ERR_RELAY_CONFIG',
      `${raw.origin}=${shown}: must be between ${formatLimit(option.unit, option.min)} and ${formatLimit(option.unit, option.max)}`,
    );
  }
  return value;
}

/**
 * The relay's limits from raw values (flags or environment), defaults for the rest, then the
 * checks that involve two limits.
 */
export function resolveRelayLimits(raw: Partial<Record<keyof RelayLimits, RawOptionValue>>): RelayLimits {
  const values: Record<string, number> = {};
  for (const option of RELAY_LIMIT_OPTIONS) {
    const given = raw[option.key];
    values[option.key] = given === undefined ? option.defaultValue : parseLimit(option, given);
  }
  const limits = values as unknown as RelayLimits;
  checkRelayLimits(limits);
  return limits;
}

/** Checks between limits; also applied to limits given in code. */
export function checkRelayLimits(limits: RelayLimits): void {
  for (const option of RELAY_LIMIT_OPTIONS) {
    const value = limits[option.key];
    if (!Number.isSafeInteger(value) || value < option.min || value > option.max) {
      throw new KubepairError('KP_ERR_RELAY_CONFIG', `--${option.flag} must be between ${formatLimit(option.unit, option.min)} and ${formatLimit(option.unit, option.max)}`);
    }
    if (option.unit === 'duration' && value > MAX_TIMER_MS) {
      throw new KubepairError('KP_ERR_RELAY_CONFIG', `--${option.flag} is longer than a timer can wait`);
    }
  }
  if (limits.maxConnectionsPerAddress > limits.maxConnections) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `--max-connections-per-ip (${limits.maxConnectionsPerAddress}) must not exceed --max-connections (${limits.maxConnections})`);
  }
  if (limits.headTimeoutMs > limits.requestTimeoutMs) {
    throw new KubepairError(
      'KP_ERR_RELAY_CONFIG',
      `--head-timeout (${formatLimit('duration', limits.headTimeoutMs)}) must not exceed --request-timeout (${formatLimit('duration', limits.requestTimeoutMs)}): the head is part of the request`,
    );
  }
  if (limits.peerSilenceTimeoutMs <= limits.pingIntervalMs) {
    throw new KubepairError(
      'KP_ERR_RELAY_CONFIG',
      `--peer-timeout (${formatLimit('duration', limits.peerSilenceTimeoutMs)}) must be longer than --ping-interval (${formatLimit('duration', limits.pingIntervalMs)}), or live peers would be dropped`,
    );
  }
}

// --- listen address, TLS, origins, proxies ---

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Parse `HOST:PORT`, `[IPv6]:PORT`. Port 0 asks the OS for a free port. */
export function parseListenAddress(text: string, origin = '--listen'): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  const host = match ? (match[1] ?? match[2] ?? '') : '';
  if (!match || port > 65535 || (match[1] !== undefined && isIP(host) !== 6)) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `${origin}=${JSON.stringify(text.slice(0, 100))}: expected HOST:PORT, e.g. 127.0.0.1:8443 or [::1]:8443`);
  }
  return { host, port };
}

/** Normalise a browser origin (`https://ops.example.com[:port]`); throws on anything else. */
export function normalizeOrigin(text: string, origin = '--allow-origin'): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch (err) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `${origin}=${JSON.stringify(text.slice(0, 100))}: not a URL origin such as https://ops.example.com`, { cause: err });
  }
  const bare = `${url.protocol}//${url.host}`;
  const onlyOrigin = url.pathname === '/' && url.search === '' && url.hash === '' && !/[?#]/.test(text) && !/^[a-z]+:\/\/[^/]*\/./i.test(text);
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '' || !onlyOrigin) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `${origin}=${JSON.stringify(text.slice(0, 100))}: must be exactly scheme://host[:port], e.g. https://ops.example.com`);
  }
  return bare.toLowerCase();
}

/**
 * Parse `--trust-proxy` entries: IP addresses, CIDR ranges or `loopback`. Only connections from
 * these addresses may set X-Forwarded-For / X-Forwarded-Proto.
 */
export function parseTrustedProxies(entries: readonly string[], origin = '--trust-proxy'): BlockList {
  const list = new BlockList();
  for (const raw of entries.flatMap((entry) => entry.split(',')).map((entry) => entry.trim()).filter((entry) => entry !== '')) {
    if (raw === 'loopback') {
      list.addSubnet('127.0.0.0', 8, 'ipv4');
      list.addAddress('::1', 'ipv6');
      continue;
    }
    const [address = '', prefixText, extra] = raw.split('/');
    const family = isIP(address);
    const prefix = prefixText === undefined ? undefined : Number(prefixText);
    const maxPrefix = family === 4 ? 32 : 128;
    if (family === 0 || extra !== undefined || (prefix !== undefined && !(Number.isInteger(prefix) && prefix >= 0 && prefix <= maxPrefix && /^\d+$/.test(prefixText ?? '')))) {
      throw new KubepairError('KP_ERR_RELAY_CONFIG', `${origin}=${JSON.stringify(raw.slice(0, 100))}: expected an IP address, a CIDR range (10.0.0.0/8) or "loopback"`);
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, prefix, type);
  }
  return list;
}

// --- the session store (docs/design.md §8.2) ---

/** Where sessions are kept: this process's memory (the default) or a Redis shared by relay nodes. */
export type RelayStoreConfig =
  | { readonly kind: 'memory' }
  | {
      readonly kind: 'redis';
      /** `redis://` or `rediss://` URL; may carry user:password, so it is never logged (describeStoreUrl). */
      readonly url: string;
      /** A file whose content is the Redis password (AUTH); overrides a password in the URL. */
      readonly passwordFile?: string | undefined;
      /** Prefix of every key and channel the relay uses in Redis. */
      readonly keyPrefix: string;
    };

/** The key prefix when --store-prefix is not given. */
export const DEFAULT_STORE_PREFIX = 'kubepair:';

/** `redis://user:pass@host:port/db` → `redis://host:port/db`: what may be logged or shown. */
export function describeStoreUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return '(an invalid URL)';
  }
}

/**
 * Parse `--store`: `memory`, or `redis://[user:password@]HOST[:PORT][/DB]` (`rediss://` for
 * TLS). Messages show the URL without its credentials.
 */
export function parseStoreOption(text: string, origin = '--store'): { kind: 'memory' } | { kind: 'redis'; url: string } {
  const trimmed = text.trim();
  if (trimmed === 'memory') return { kind: 'memory' };
  const expected = 'expected "memory" or redis://HOST:PORT[/DB] (rediss:// for TLS)';
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch (err) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `${origin}: not a URL: ${expected}`, { cause: err });
  }
  const shown = `${origin}=${describeStoreUrl(trimmed)}`;
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new KubepairError('KP_ERR_RELAY_CONFIG', `${shown}: ${expected}`);
  if (url.hostname === '') throw new KubepairError('KP_ERR_RELAY_CONFIG', `${shown}: no host`);
  if (url.search !== '' || url.hash !== '' || /[?#]/.test(trimmed)) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `${shown}: no query or fragment (credentials go in the URL's user:password or --store-password-file)`);
  }
  if (!/^(\/\d{1,5})?\/?$/.test(url.pathname)) throw new KubepairError('KP_ERR_RELAY_CONFIG', `${shown}: the path must be a database number, e.g. /0`);
  return { kind: 'redis', url: trimmed };
}

/** Check `--store-prefix`: printable ASCII without spaces, at most RELAY_STORE_PREFIX_MAX_CHARS. */
export function parseStorePrefix(text: string, origin = '--store-prefix'): string {
  if (!/^[\x21-\x7e]+$/.test(text) || text.length > RELAY_STORE_PREFIX_MAX_CHARS) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `${origin}: 1 to ${RELAY_STORE_PREFIX_MAX_CHARS} printable characters without spaces, e.g. kubepair:`);
  }
  return text;
}

// --- node-to-node links (docs/design.md §8.2) ---

/** How this node takes part in a cluster of relay nodes sharing a Redis store. */
export interface RelayClusterConfig {
  /** The node's id and where other nodes reach it: `https://host[:port]` (or `http://`), no path. */
  readonly advertise: string;
  /** File holding the key every node of the cluster shares (node-auth.ts reads and checks it). */
  readonly keyFile: string;
}

/**
 * Parse `--advertise`: exactly `scheme://host[:port]` with `https:` or `http:`, no credentials,
 * path, query or fragment. Answers the normalised origin, which is the node's id.
 */
export function parseAdvertiseUrl(text: string, origin = '--advertise'): string {
  const shown = `${origin}=${JSON.stringify(text.slice(0, 100))}`;
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch (err) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `${shown}: not a URL such as https://relay-1.internal:8443`, { cause: err });
  }
  const bare = `${url.protocol}//${url.host}`;
  const onlyOrigin = url.pathname === '/' && url.search === '' && url.hash === '' && !/[?#]/.test(text) && !/^[a-z]+:\/\/[^/]*\/./i.test(text.trim());
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '' || url.hostname === '' || !onlyOrigin) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `${shown}: must be exactly https://HOST[:PORT] (or http://), where other relay nodes reach this one`);
  }
  return bare.toLowerCase();
}

// --- the whole configuration ---

export type RelayAuthConfig = { readonly mode: 'tokens'; readonly tokensFile: string } | { readonly mode: 'none' };

export type RelayLogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const RELAY_LOG_LEVELS: readonly RelayLogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface RelayTlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface RelayConfig {
  readonly listen: ListenAddress;
  /** Serve HTTPS/WSS with this certificate and key. */
  readonly tls?: RelayTlsConfig | undefined;
  /** Allow plaintext on a non-loopback address (for a network you fully control). */
  readonly insecureNoTls: boolean;
  /** Proxy addresses (IPs, CIDRs, `loopback`) whose X-Forwarded-* headers are believed. */
  readonly trustProxy: readonly string[];
  /** Browser origins allowed to call the relay; empty = none (the default). */
  readonly allowOrigins: readonly string[];
  readonly auth: RelayAuthConfig;
  /** Relay audit log (JSON lines, 0600). */
  readonly auditLogPath: string;
  /**
   * State directory (0700) holding the relay secret that session keys are MACs under, so
   * established sessions survive a restart (docs/design.md §8.1). Absent: a secret for this process
   * only.
   */
  readonly stateDir?: string | undefined;
  readonly logLevel: RelayLogLevel;
  readonly limits: RelayLimits;
  /** Where sessions are kept (absent: memory). */
  readonly store?: RelayStoreConfig | undefined;
  /** This node's place in a cluster (absent: a single node that never splices to another). */
  readonly cluster?: RelayClusterConfig | undefined;
  /** Where JSON logs go; standard output when absent. */
  readonly logDestination?: NodeJS.WritableStream | undefined;
}

/** Check a whole configuration; throws KP_ERR_RELAY_CONFIG with the first problem. */
export function checkRelayConfig(config: RelayConfig): void {
  checkRelayLimits(config.limits);
  const { host, port } = config.listen;
  if (!Number.isInteger(port) || port < 0 || port > 65535 || host === '') {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `--listen ${host}:${port} is not a valid address`);
  }
  if (config.tls === undefined && !isLoopbackHost(host) && !config.insecureNoTls && config.trustProxy.length === 0) {
    throw new KubepairError(
      'KP_ERR_RELAY_CONFIG',
      `refusing to listen on ${host} without TLS: pass --tls-cert and --tls-key, put a TLS-terminating proxy in front (--trust-proxy ADDRESS), or accept plaintext with --insecure-no-tls`,
    );
  }
  if (config.tls !== undefined && config.insecureNoTls) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', '--insecure-no-tls contradicts --tls-cert/--tls-key');
  }
  for (const allowed of config.allowOrigins) normalizeOrigin(allowed);
  parseTrustedProxies(config.trustProxy);
  if (config.store?.kind === 'redis') {
    parseStoreOption(config.store.url);
    parseStorePrefix(config.store.keyPrefix);
  }
  if (config.cluster !== undefined) {
    parseAdvertiseUrl(config.cluster.advertise);
    if (config.store?.kind !== 'redis') throw new KubepairError('KP_ERR_RELAY_CONFIG', '--advertise and --cluster-key-file need --store redis://...: nodes share sessions through Redis');
    if (config.cluster.keyFile === '') throw new KubepairError('KP_ERR_RELAY_CONFIG', '--cluster-key-file must name a file');
  }
  if (!RELAY_LOG_LEVELS.includes(config.logLevel)) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `--log-level must be one of ${RELAY_LOG_LEVELS.join(', ')}`);
  }
}

/** `$XDG_CONFIG_HOME/kubepair/relay-tokens.json` (or ~/.config/...). */
export function defaultTokensFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_CONFIG_HOME'] !== undefined && env['XDG_CONFIG_HOME'] !== '' ? env['XDG_CONFIG_HOME'] : join(homedir(), '.config');
  return join(base, 'kubepair', 'relay-tokens.json');
}

/** `$XDG_STATE_HOME/kubepair/relay` (or ~/.local/state/...): the relay's state directory. */
export function defaultRelayStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_STATE_HOME'] !== undefined && env['XDG_STATE_HOME'] !== '' ? env['XDG_STATE_HOME'] : join(homedir(), '.local', 'state');
  return join(base, 'kubepair', 'relay');
}

/** `$XDG_STATE_HOME/kubepair/relay-audit.jsonl` (or ~/.local/state/...). */
export function defaultAuditLogPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_STATE_HOME'] !== undefined && env['XDG_STATE_HOME'] !== '' ? env['XDG_STATE_HOME'] : join(homedir(), '.local', 'state');
  return join(base, 'kubepair', 'relay-audit.jsonl');
}
