/**
 * `kubepair relay` and `kubepair relay token ...` (docs/design.md §3, §7): argument and environment
 * parsing only; the relay role (src/relay/) does the work.
 *
 * Every option has a KUBEPAIR_RELAY_* environment variable; a flag wins over the variable.
 * Values are validated by the relay before it listens, and a bad one fails with a message
 * naming the flag or variable it came from (exit code 2). Untrusted input: argv and env.
 */
import type { Command } from 'commander';
import * as z from 'zod';
import { KubepairError } from '../errors/index.js';
import { collect, flag, parseCommandOptions, repeated } from './command-options.js';
// Only the light option tables are loaded eagerly; the relay itself (Fastify, ws, pino,
// prom-client) is imported when a relay subcommand runs, so other commands start fast.
import {
  DEFAULT_RELAY_LIMITS,
  RELAY_LIMIT_OPTIONS,
  RELAY_LOG_LEVELS,
  defaultAuditLogPath,
  defaultRelayStateDir,
  defaultTokensFile,
  DEFAULT_STORE_PREFIX,
  formatLimit,
  parseListenAddress,
  parseAdvertiseUrl,
  parseStoreOption,
  parseStorePrefix,
  resolveRelayLimits,
} from '../relay/relay-options.js';
import type { RawOptionValue, RelayClusterConfig, RelayConfig, RelayLimits, RelayStoreConfig } from '../relay/relay-options.js';
import { RELAY_DEFAULT_LISTEN } from '../limits.js';

/** Commander's option keys of the limit flags (`sessionTtl` for `--session-ttl`). */
const LIMIT_KEYS: ReadonlySet<string> = new Set(RELAY_LIMIT_OPTIONS.map((option) => camel(option.flag)));

/** Commander's flat options with the limit flags moved under `limits`, so both halves have a fixed type. */
function groupLimits(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null) return raw;
  const options: Record<string, unknown> = {};
  const limits: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) (LIMIT_KEYS.has(key) ? limits : options)[key] = value;
  return { ...options, limits };
}

/** `kubepair relay`'s options as commander hands them over (every limit flag is a string). */
function relayOptionsSchema() {
  const limits = z.record(z.string().refine((key) => LIMIT_KEYS.has(key), 'a limit flag'), z.string());
  return z.preprocess(groupLimits, z.strictObject({
    listen: z.string().optional(),
    tlsCert: z.string().optional(),
    tlsKey: z.string().optional(),
    insecureNoTls: flag,
    trustProxy: repeated,
    allowOrigin: repeated,
    auth: z.string().optional(),
    tokensFile: z.string().optional(),
    auditLog: z.string().optional(),
    stateDir: z.string().optional(),
    store: z.string().optional(),
    storePasswordFile: z.string().optional(),
    storePrefix: z.string().optional(),
    advertise: z.string().optional(),
    clusterKeyFile: z.string().optional(),
    logLevel: z.string().optional(),
    limits,
  }));
}

/** The value of an option as given on the command line, or else in environment variable `env`. */
function rawOption(value: string | undefined, flagName: string, env: string): RawOptionValue | undefined {
  if (value !== undefined) return { value, origin: `--${flagName}` };
  const fromEnv = process.env[env];
  if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, origin: env };
  return undefined;
}

/** A repeatable option from the command line, or a comma-separated list from the environment. */
function listOption(values: readonly string[], env: string): string[] {
  if (values.length > 0) return [...values];
  const fromEnv = process.env[env];
  if (fromEnv === undefined || fromEnv.trim() === '') return [];
  return fromEnv.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
}

/** A boolean flag, or its environment variable (which must say 1/true/yes or 0/false/no). */
function flagOption(given: true | undefined, flagName: string, env: string): boolean {
  if (given === true) return true;
  const fromEnv = process.env[env];
  if (fromEnv === undefined || fromEnv === '') return false;
  if (/^(1|true|yes)$/i.test(fromEnv)) return true;
  if (/^(0|false|no)$/i.test(fromEnv)) return false;
  throw new KubepairError('KP_ERR_RELAY_CONFIG', `${env}=${JSON.stringify(fromEnv.slice(0, 20))}: expected 1, true, yes, 0, false or no (same as --${flagName})`);
}

/** `relay token create`'s options (both required by commander; checked by token-file.ts). */
const TokenCreateOptionsSchema = z.strictObject({ scope: z.string(), name: z.string() });

/** `--tokens-file`, wherever on the command line it was given (`relay` or `relay token ...`). */
const GlobalTokensFileSchema = z.looseObject({ tokensFile: z.string().optional() });

/**
 * The tokens file: `--tokens-file` (an option of `relay`, which commander also accepts after
 * `relay token create|list|revoke`), else KUBEPAIR_RELAY_TOKENS_FILE, else the default.
 */
function tokensFileOf(command: Command): string {
  const given = parseCommandOptions(GlobalTokensFileSchema, command.optsWithGlobals(), 'relay').tokensFile;
  if (given !== undefined) return given;
  const fromEnv = process.env['KUBEPAIR_RELAY_TOKENS_FILE'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : defaultTokensFile();
}

/** Build the relay configuration from the parsed command line and the environment. */
function relayConfigFrom(command: Command): RelayConfig {
  const options = parseCommandOptions(relayOptionsSchema(), command.opts(), 'relay');
  const listen = rawOption(options.listen, 'listen', 'KUBEPAIR_RELAY_LISTEN');
  const authRaw = rawOption(options.auth, 'auth', 'KUBEPAIR_RELAY_AUTH') ?? { value: 'tokens', origin: '--auth' };
  if (authRaw.value !== 'tokens' && authRaw.value !== 'none') {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `${authRaw.origin}=${JSON.stringify(authRaw.value.slice(0, 20))}: expected "tokens" or "none"`);
  }
  const levelRaw = rawOption(options.logLevel, 'log-level', 'KUBEPAIR_RELAY_LOG_LEVEL') ?? { value: 'info', origin: '--log-level' };
  const logLevel = RELAY_LOG_LEVELS.find((level) => level === levelRaw.value);
  if (logLevel === undefined) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', `${levelRaw.origin}=${JSON.stringify(levelRaw.value.slice(0, 20))}: expected one of ${RELAY_LOG_LEVELS.join(', ')}`);
  }
  const certFile = rawOption(options.tlsCert, 'tls-cert', 'KUBEPAIR_RELAY_TLS_CERT')?.value;
  const keyFile = rawOption(options.tlsKey, 'tls-key', 'KUBEPAIR_RELAY_TLS_KEY')?.value;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', '--tls-cert and --tls-key go together');
  }
  const rawLimits: Partial<Record<keyof RelayLimits, RawOptionValue>> = {};
  for (const option of RELAY_LIMIT_OPTIONS) {
    const raw = rawOption(options.limits[camel(option.flag)], option.flag, option.env);
    if (raw !== undefined) rawLimits[option.key] = raw;
  }
  return {
    listen: parseListenAddress(listen?.value ?? RELAY_DEFAULT_LISTEN, listen?.origin),
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile } : undefined,
    insecureNoTls: flagOption(options.insecureNoTls, 'insecure-no-tls', 'KUBEPAIR_RELAY_INSECURE_NO_TLS'),
    trustProxy: listOption(options.trustProxy, 'KUBEPAIR_RELAY_TRUST_PROXY'),
    allowOrigins: listOption(options.allowOrigin, 'KUBEPAIR_RELAY_ALLOW_ORIGIN'),
    auth: authRaw.value === 'none' ? { mode: 'none' } : { mode: 'tokens', tokensFile: tokensFileOf(command) },
    auditLogPath: rawOption(options.auditLog, 'audit-log', 'KUBEPAIR_RELAY_AUDIT_LOG')?.value ?? defaultAuditLogPath(),
    stateDir: rawOption(options.stateDir, 'state-dir', 'KUBEPAIR_RELAY_STATE_DIR')?.value ?? defaultRelayStateDir(),
    logLevel,
    limits: resolveRelayLimits(rawLimits),
    store: storeConfigFrom(options),
    cluster: clusterConfigFrom(options),
  };
}

/**
 * `--advertise` and `--cluster-key-file` (docs/design.md §8.2): both or neither, and only with a
 * Redis store (checkRelayConfig).
 */
function clusterConfigFrom(options: { advertise?: string | undefined; clusterKeyFile?: string | undefined }): RelayClusterConfig | undefined {
  const advertise = rawOption(options.advertise, 'advertise', 'KUBEPAIR_RELAY_ADVERTISE');
  const keyFile = rawOption(options.clusterKeyFile, 'cluster-key-file', 'KUBEPAIR_RELAY_CLUSTER_KEY_FILE');
  if (advertise === undefined && keyFile === undefined) return undefined;
  if (advertise === undefined || keyFile === undefined) {
    throw new KubepairError('KP_ERR_RELAY_CONFIG', '--advertise and --cluster-key-file go together: other nodes need both where to reach this node and the key to prove they belong');
  }
  return { advertise: parseAdvertiseUrl(advertise.value, advertise.origin), keyFile: keyFile.value };
}

/** `--store`, `--store-password-file`, `--store-prefix` (docs/operations.md "Redis store"). */
function storeConfigFrom(options: { store?: string | undefined; storePasswordFile?: string | undefined; storePrefix?: string | undefined }): RelayStoreConfig {
  const raw = rawOption(options.store, 'store', 'KUBEPAIR_RELAY_STORE');
  const passwordFile = rawOption(options.storePasswordFile, 'store-password-file', 'KUBEPAIR_RELAY_STORE_PASSWORD_FILE');
  const prefix = rawOption(options.storePrefix, 'store-prefix', 'KUBEPAIR_RELAY_STORE_PREFIX');
  const store = raw === undefined ? { kind: 'memory' as const } : parseStoreOption(raw.value, raw.origin);
  if (store.kind === 'memory') {
    const extra = passwordFile ?? prefix;
    if (extra !== undefined) throw new KubepairError('KP_ERR_RELAY_CONFIG', `${extra.origin} needs --store redis://...`);
    return store;
  }
  return {
    kind: 'redis',
    url: store.url,
    passwordFile: passwordFile?.value,
    keyPrefix: prefix === undefined ? DEFAULT_STORE_PREFIX : parseStorePrefix(prefix.value, prefix.origin),
  };
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}

async function runRelay(command: Command): Promise<void> {
  const config = relayConfigFrom(command);
  const { RelayServer } = await import('../relay/index.js');
  const relay = new RelayServer(config);
  const stop = new AbortController();
  const onStop = (): void => stop.abort();
  const onReload = (): void => {
    relay.reloadTokens().catch((err: unknown) => process.stderr.write(`kubepair relay: token reload failed: ${String(err)}\n`));
  };
  process.once('SIGTERM', onStop);
  process.once('SIGINT', onStop);
  process.on('SIGHUP', onReload);
  try {
    if (config.auth.mode === 'none') {
      process.stderr.write(
        'kubepair relay: WARNING: --auth none: this relay is PUBLIC and ANONYMOUS. Anyone who can reach it can create and pair sessions.\n',
      );
    }
    if (config.insecureNoTls) {
      process.stderr.write('kubepair relay: WARNING: --insecure-no-tls: tokens and session keys travel unencrypted.\n');
    }
    const address = await relay.start(stop.signal);
    process.stderr.write(`kubepair relay listening on ${address.url}\n`);
    await relay.wait();
    await relay.close();
    process.stderr.write('kubepair relay stopped\n');
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onReload);
  }
}

const RELAY_HELP = `
Environment: every option has a variable: --max-sessions is KUBEPAIR_RELAY_MAX_SESSIONS,
--allow-origin and --trust-proxy take comma-separated lists there, switches take 1 or 0.
A flag wins over its variable. Durations need a unit (500ms, 30s, 2m, 8h); sizes are bytes
or KiB/MiB/GiB.

JSON logs go to standard output; "kubepair relay listening on URL" and warnings go to
standard error. SIGTERM or SIGINT: stop accepting, send {"type":"expiring"} to every peer,
close after --shutdown-grace. SIGHUP: re-read the tokens file (it is also watched).

Examples:
  # a private relay on this machine, for trying things out
  kubepair relay token create --scope agent --name my-agent
  kubepair relay token create --scope client --name my-laptop
  kubepair relay

  # a public relay serving TLS itself
  kubepair relay --listen 0.0.0.0:8443 --tls-cert /etc/kubepair/tls.crt --tls-key /etc/kubepair/tls.key

  # behind a TLS-terminating proxy at 10.0.0.2 that sets X-Forwarded-For
  # (--max-connections-per-ip does not apply to the proxy: cap connections per client there)
  kubepair relay --listen 0.0.0.0:8080 --trust-proxy 10.0.0.2

  # sessions in a Redis that several relay nodes share (password in a file, not in the URL)
  kubepair relay --store redis://10.0.0.5:6379/0 --store-password-file /etc/kubepair/redis-password

  # short-lived sessions and a tighter rate limit
  kubepair relay --session-ttl 60s --session-lifetime 1h --rate-limit 10

See docs/operations.md for TLS, tokens, metrics, the audit log and limits.`;

const tokenHelp = (): string => `
Tokens look like kprt_ followed by 43 characters. The relay stores only their SHA-256, in the
tokens file (mode 0600, directory 0700), so a token is shown once, when it is created.
Scopes: agent (POST /api/v1/sessions), client (POST /api/v1/pair), metrics (GET /metrics),
admin (GET /metrics, DELETE /api/v1/sessions/ID).
Every token command takes --tokens-file FILE (or KUBEPAIR_RELAY_TOKENS_FILE); default:
${defaultTokensFile()}

Examples:
  kubepair relay token create --scope agent --name ci-bastion
  kubepair relay token list
  kubepair relay token revoke ci-bastion`;

export function registerRelayCommand(program: Command): void {
  const relay = program
    .command('relay')
    .description('run the kubepair relay: the public broker that splices agent and client (sees only ciphertext)')
    .option('--listen <host:port>', `address to listen on; port 0 picks a free port (default: ${RELAY_DEFAULT_LISTEN})`)
    .option('--tls-cert <file>', 'serve HTTPS/WSS with this PEM certificate (chain)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--insecure-no-tls', 'allow plaintext HTTP on a non-loopback address (loudly logged)')
    .option('--trust-proxy <addresses>', 'believe X-Forwarded-For from these proxies: IPs, CIDRs or "loopback" (repeatable)', collect)
    .option('--allow-origin <origin>', 'browser origin allowed to call the relay, e.g. https://ops.example.com (repeatable; default: none)', collect)
    .option('--auth <mode>', '"tokens" (default): relay tokens required; "none": a public anonymous relay (loudly logged)')
    .option('--tokens-file <file>', `relay tokens (default: ${defaultTokensFile()})`)
    .option('--audit-log <file>', `relay audit log, JSON lines, mode 0600 (default: ${defaultAuditLogPath()})`)
    .option('--state-dir <dir>', `state directory (0700) with the secret that lets established sessions survive a restart (default: ${defaultRelayStateDir()})`)
    .option('--store <store>', 'where sessions are kept: "memory" (default), or redis://[USER:PASSWORD@]HOST:PORT[/DB] (rediss:// for TLS) shared by several relay nodes')
    .option('--store-password-file <file>', 'file holding the Redis password (AUTH), instead of putting it in the --store URL')
    .option('--store-prefix <prefix>', `prefix of every Redis key the relay uses (default: ${DEFAULT_STORE_PREFIX})`)
    .option('--advertise <url>', 'where other relay nodes reach this one, https://HOST[:PORT] (with --cluster-key-file and --store redis://)')
    .option('--cluster-key-file <file>', 'file (0600) holding the key all relay nodes of a cluster share (with --advertise)')
    .option('--log-level <level>', `${RELAY_LOG_LEVELS.join(', ')} (default: info)`);
  for (const option of RELAY_LIMIT_OPTIONS) {
    relay.option(`--${option.flag} <${option.unit === 'count' ? 'n' : option.unit === 'bytes' ? 'size' : 'duration'}>`, `${option.help} (default: ${formatLimit(option.unit, DEFAULT_RELAY_LIMITS[option.key])})`);
  }
  relay.addHelpText('after', RELAY_HELP).action(async (_options: unknown, command: Command) => {
    await runRelay(command);
  });

  const token = relay.command('token').description('manage the relay tokens that authorise agents, clients and metrics scrapers').addHelpText('after', tokenHelp());
  token
    .command('create')
    .description('create a token and print it once on standard output')
    .requiredOption('--scope <scope>', 'one of agent, client, metrics, admin')
    .requiredOption('--name <name>', 'a unique name for logs and revocation (letters, digits, . _ -)')
    .action(async (rawOptions: unknown, command: Command) => {
      const options = parseCommandOptions(TokenCreateOptionsSchema, rawOptions, 'relay token create');
      const { checkTokenName, checkTokenScope, createToken } = await import('../relay/token-file.js');
      const scope = checkTokenScope(options.scope);
      const name = checkTokenName(options.name);
      const path = tokensFileOf(command);
      const created = await createToken(path, name, scope);
      process.stdout.write(`${created}\n`);
      process.stderr.write(`kubepair: created relay token "${name}" (scope ${scope}) in ${path}. It is shown only this once: store it now.\n`);
    });
  token
    .command('list')
    .description('list token names, scopes, creation and last use (never the tokens)')
    .option('--json', 'print JSON instead of a table')
    .action(async (rawOptions: unknown, command: Command) => {
      const options = parseCommandOptions(z.strictObject({ json: flag }), rawOptions, 'relay token list');
      const { listTokens } = await import('../relay/token-file.js');
      const tokens = await listTokens(tokensFileOf(command));
      if (options.json === true) {
        process.stdout.write(JSON.stringify(tokens.map((t) => ({ name: t.name, scope: t.scope, created_at: t.createdAt, last_used_at: t.lastUsedAt ?? null })), null, 2) + '\n');
        return;
      }
      const rows = [['NAME', 'SCOPE', 'CREATED', 'LAST USED'], ...tokens.map((t) => [t.name, t.scope, t.createdAt, t.lastUsedAt ?? 'never'])];
      const widths = rows[0]?.map((_cell, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
      for (const row of rows) process.stdout.write(row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd() + '\n');
    });
  token
    .command('revoke')
    .description('revoke a token by name (a running relay stops accepting it at once)')
    .argument('<name>', 'the token name')
    .action(async (name: string, _options: unknown, command: Command) => {
      const { revokeToken } = await import('../relay/token-file.js');
      const path = tokensFileOf(command);
      await revokeToken(path, name);
      process.stderr.write(`kubepair: revoked relay token "${name}" in ${path}\n`);
    });
}
