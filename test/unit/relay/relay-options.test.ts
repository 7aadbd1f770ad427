/** Relay options: strict parsing of durations, sizes, counts, addresses, origins and proxies. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import {
  DEFAULT_RELAY_LIMITS,
  RELAY_LIMIT_OPTIONS,
  checkRelayConfig,
  formatLimit,
  normalizeOrigin,
  parseAdvertiseUrl,
  parseListenAddress,
  parseTrustedProxies,
  resolveRelayLimits,
} from '../../../src/relay/relay-options.js';
import type { RelayConfig } from '../../../src/relay/relay-options.js';
import { readFile } from 'node:fs/promises';
import * as limits from '../../../src/limits.js';
import { repoPath } from '../../helpers/paths.js';

const isConfigError = (err: unknown): boolean => isKubepairError(err, 'KP_ERR_RELAY_CONFIG');

describe('relay options', { timeout: 60_000 }, () => {
  it('defaults are docs/design.md §3: 120 s TTL, 8 h lifetime, 5 attempts, 16 MiB, 20/min, 30 s ping, 90 s silence', () => {
    assert.equal(DEFAULT_RELAY_LIMITS.unpairedTtlMs, 120_000);
    assert.equal(DEFAULT_RELAY_LIMITS.establishedLifetimeMs, 8 * 3600_000);
    assert.equal(DEFAULT_RELAY_LIMITS.maxPairingAttempts, 5);
    assert.equal(DEFAULT_RELAY_LIMITS.maxMessageBytes, 16 * 1024 * 1024);
    assert.equal(DEFAULT_RELAY_LIMITS.apiRateLimitPerMinute, 20);
    assert.equal(DEFAULT_RELAY_LIMITS.pingIntervalMs, 30_000);
    assert.equal(DEFAULT_RELAY_LIMITS.peerSilenceTimeoutMs, 90_000);
    assert.equal(DEFAULT_RELAY_LIMITS.maxBufferedBytes, limits.RELAY_MAX_BUFFERED_BYTES);
  });

  it('every limit has a flag and a KUBEPAIR_RELAY_* variable, and its default is in range', () => {
    const flags = new Set<string>();
    for (const option of RELAY_LIMIT_OPTIONS) {
      assert.match(option.env, /^KUBEPAIR_RELAY_[A-Z_]+$/);
      assert.equal(option.env, `KUBEPAIR_RELAY_${option.flag.toUpperCase().replaceAll('-', '_')}`);
      assert.ok(!flags.has(option.flag), option.flag);
      flags.add(option.flag);
      assert.ok(option.defaultValue >= option.min && option.defaultValue <= option.max, option.flag);
    }
    assert.equal(RELAY_LIMIT_OPTIONS.length, Object.keys(DEFAULT_RELAY_LIMITS).length);
  });

  it('docs/operations.md lists every limit with its flag, variable and default', async () => {
    const doc = await readFile(repoPath('docs/operations.md'), 'utf8');
    for (const option of RELAY_LIMIT_OPTIONS) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`--${option.flag}\` |`));
      assert.ok(row, `--${option.flag} has a row`);
      assert.ok(row.includes(`\`${option.env}\``), `${option.env} in the row of --${option.flag}`);
      assert.ok(row.includes(`| ${formatLimit(option.unit, option.defaultValue)} |`), `default of --${option.flag}`);
    }
  });

  it('limits are shown the way they are typed (units.ts formats them)', () => {
    assert.equal(formatLimit('duration', 120_000), '120s');
    assert.equal(formatLimit('bytes', 16 * 1024 * 1024), '16MiB');
    assert.equal(formatLimit('count', 20), '20');
  });

  it('resolveRelayLimits names the flag or variable in its error', () => {
    assert.throws(
      () => resolveRelayLimits({ unpairedTtlMs: { value: '10', origin: 'KUBEPAIR_RELAY_SESSION_TTL' } }),
      (err) => isConfigError(err) && /KUBEPAIR_RELAY_SESSION_TTL="10": expected a duration/.test((err as Error).message),
    );
    assert.throws(
      () => resolveRelayLimits({ maxPairingAttempts: { value: '0', origin: '--max-attempts' } }),
      (err) => isConfigError(err) && /--max-attempts="0": must be between 1 and 100/.test((err as Error).message),
    );
    assert.throws(
      () => resolveRelayLimits({ pingIntervalMs: { value: '90s', origin: '--ping-interval' } }),
      (err) => isConfigError(err) && /--peer-timeout \(90s\) must be longer than --ping-interval \(90s\)/.test((err as Error).message),
    );
    assert.equal(resolveRelayLimits({ maxSessions: { value: '7', origin: '--max-sessions' } }).maxSessions, 7);
  });

  it('refuses a per-address connection cap above the total, and a head timeout longer than the request timeout', () => {
    assert.throws(
      () => resolveRelayLimits({ maxConnectionsPerAddress: { value: '30000', origin: '--max-connections-per-ip' } }),
      (err) => isConfigError(err) && /--max-connections-per-ip \(30000\) must not exceed --max-connections \(25000\)/.test((err as Error).message),
    );
    assert.throws(
      () => resolveRelayLimits({ headTimeoutMs: { value: '20s', origin: '--head-timeout' } }),
      (err) => isConfigError(err) && /--head-timeout \(20s\) must not exceed --request-timeout \(10s\)/.test((err as Error).message),
    );
    const limits = resolveRelayLimits({ headTimeoutMs: { value: '2s', origin: '--head-timeout' }, nameplateQuarantineMs: { value: '0s', origin: '--nameplate-quarantine' } });
    assert.equal(limits.headTimeoutMs, 2_000);
    assert.equal(limits.nameplateQuarantineMs, 0, 'quarantine off is allowed');
  });

  it('parses listen addresses, including IPv6 in brackets', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:8443'), { host: '127.0.0.1', port: 8443 });
    assert.deepEqual(parseListenAddress('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListenAddress('localhost:80'), { host: 'localhost', port: 80 });
    for (const bad of ['8443', '127.0.0.1', '127.0.0.1:99999', '[nope]:1', 'a b:1', ':80']) {
      assert.throws(() => parseListenAddress(bad), isConfigError, bad);
    }
  });

  it('normalises allowed origins and refuses anything but scheme://host[:port]', () => {
    assert.equal(normalizeOrigin('https://Ops.Example.com'), 'https://ops.example.com');
    assert.equal(normalizeOrigin('http://localhost:3000/'), 'http://localhost:3000');
    for (const bad of ['ops.example.com', 'https://ops.example.com/app', 'ftp://x', 'https://u:p@x', '*']) {
      assert.throws(() => normalizeOrigin(bad), isConfigError, bad);
    }
  });

  it('parses --trust-proxy entries: addresses, CIDRs, loopback', () => {
    const list = parseTrustedProxies(['10.0.0.0/8,192.168.1.5', 'loopback', '2001:db8::/32']);
    assert.ok(list.check('10.1.2.3', 'ipv4'));
    assert.ok(list.check('192.168.1.5', 'ipv4'));
    assert.ok(!list.check('192.168.1.6', 'ipv4'));
    assert.ok(list.check('127.0.0.1', 'ipv4'));
    assert.ok(list.check('2001:db8::1', 'ipv6'));
    for (const bad of ['10.0.0.0/33', 'proxy.example.com', '10.0.0.1/8/8', '10.0.0.0/x']) {
      assert.throws(() => parseTrustedProxies([bad]), isConfigError, bad);
    }
  });

  it('Security: refuses a non-loopback listen address without TLS, a TLS proxy or --insecure-no-tls', () => {
    const config: RelayConfig = {
      listen: { host: '0.0.0.0', port: 8443 },
      insecureNoTls: false,
      trustProxy: [],
      allowOrigins: [],
      auth: { mode: 'none' },
      auditLogPath: '/tmp/x',
      logLevel: 'info',
      limits: DEFAULT_RELAY_LIMITS,
    };
    assert.throws(() => checkRelayConfig(config), (err) => isConfigError(err) && /refusing to listen on 0\.0\.0\.0 without TLS/.test((err as Error).message));
    checkRelayConfig({ ...config, insecureNoTls: true });
    checkRelayConfig({ ...config, trustProxy: ['10.0.0.2'] });
    checkRelayConfig({ ...config, tls: { certFile: 'c', keyFile: 'k' } });
    checkRelayConfig({ ...config, listen: { host: '127.0.0.1', port: 0 } });
    checkRelayConfig({ ...config, listen: { host: '::1', port: 0 } });
    assert.throws(() => checkRelayConfig({ ...config, insecureNoTls: true, tls: { certFile: 'c', keyFile: 'k' } }), isConfigError);
  });

  it('--advertise is exactly scheme://host[:port] (https or http), normalised to lower case', () => {
    assert.equal(parseAdvertiseUrl('https://Relay-1.Internal:8443'), 'https://relay-1.internal:8443');
    assert.equal(parseAdvertiseUrl('http://10.0.0.5:8080/'), 'http://10.0.0.5:8080');
    assert.equal(parseAdvertiseUrl('https://[fd00::5]:8443'), 'https://[fd00::5]:8443');
    for (const bad of ['relay-1:8443', 'ftp://relay-1', 'https://relay-1/path', 'https://relay-1?x=1', 'https://relay-1#f', 'https://user:pw@relay-1', 'wss://relay-1', '']) {
      assert.throws(() => parseAdvertiseUrl(bad, 'KUBEPAIR_RELAY_ADVERTISE'), (err) => isConfigError(err) && /KUBEPAIR_RELAY_ADVERTISE/.test((err as Error).message), bad);
    }
  });

  it('--advertise and --cluster-key-file need a Redis store', () => {
    const config: RelayConfig = {
      listen: { host: '127.0.0.1', port: 0 },
      insecureNoTls: false,
      trustProxy: [],
      allowOrigins: [],
      auth: { mode: 'none' },
      auditLogPath: '/tmp/x',
      logLevel: 'info',
      limits: DEFAULT_RELAY_LIMITS,
    };
    const cluster = { advertise: 'https://relay-1.internal:8443', keyFile: '/etc/kubepair/cluster-key' };
    const redis = { kind: 'redis', url: 'redis://127.0.0.1:6379/0', keyPrefix: 'kubepair:' } as const;
    assert.throws(() => checkRelayConfig({ ...config, cluster }), (err) => isConfigError(err) && /need --store redis/.test((err as Error).message));
    assert.throws(() => checkRelayConfig({ ...config, cluster, store: { kind: 'memory' } }), isConfigError);
    checkRelayConfig({ ...config, cluster, store: redis });
    assert.throws(() => checkRelayConfig({ ...config, cluster: { ...cluster, advertise: 'https://relay-1/x' }, store: redis }), isConfigError);
    assert.throws(() => checkRelayConfig({ ...config, cluster: { ...cluster, keyFile: '' }, store: redis }), isConfigError);
  });
});
