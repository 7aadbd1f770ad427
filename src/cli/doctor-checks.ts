/**
 * The checks of `kubepair doctor` (docs/usage.md "kubepair doctor"): each answers OK, WARN or
 * FAIL with what was seen and, when it is not OK, the fix. In order: the config file, the relay
 * URL and where it came from, the relay's health route (reachability), TLS (a trusted, unexpired
 * certificate; an https:// URL answered in plain HTTP; an http:// URL to a TLS port), the clock
 * against the relay's Date header, the relay token (where it would come from; whether the relay
 * accepts it is "not checked": the relay has no route that checks a token without using it),
 * the OS keychain, kubectl on PATH and its version, and the kubeconfig context share would use.
 *
 * Nothing here changes anything: one GET of the relay's unauthenticated health route (no token
 * sent), one TLS handshake at most, one read of the keychain, `kubectl version --client`.
 *
 * Untrusted input: everything the relay answers (status, Date header, a bounded body, its
 * certificate's fields), shown only after sanitizeRelayText.
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { connect as tlsConnect, rootCertificates } from 'node:tls';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import { TOKEN_ENV } from '../credentials/relay-token-source.js';
import { isRelayTokenFormat, relayOrigin } from '../credentials/relay-token-store.js';
import type { RelayTokenStore } from '../credentials/relay-token-store.js';
import { isKubepairError } from '../errors/index.js';
import { DOCTOR_CLOCK_SKEW_WARN_MS, DOCTOR_HEALTH_MAX_BYTES, DOCTOR_KUBECTL_TIMEOUT_MS, DOCTOR_NETWORK_TIMEOUT_MS } from '../limits.js';
import { proxyForRelay } from '../relay-client/proxy-settings.js';
import { isPlainAnswerToTls, notTlsDetail, relayAgent } from '../relay-client/relay-connection.js';
import { isLoopbackHost, resolveRelay } from '../relay-client/relay-endpoint.js';
import type { RelayEndpoint, ResolvedRelay } from '../relay-client/relay-endpoint.js';
import { sanitizeRelayText } from '../relay-client/relay-error-mapping.js';
import { HEALTHZ_PATH } from '../protocol/relay-api.js';
import { configFilePath, readConfigFile } from './config-file.js';
import { readPem } from './relay-endpoint-options.js';

export type CheckStatus = 'OK' | 'WARN' | 'FAIL';

export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** What to do about it (WARN and FAIL). */
  readonly fix?: string | undefined;
}

export interface DoctorInputs {
  /** The relay URL after flag > env > file, and where it came from (`--relay`, `KUBEPAIR_RELAY`, `config file PATH`). */
  readonly relay?: string | undefined;
  readonly relayOrigin: string;
  readonly relayCa?: string | undefined;
  readonly proxyCa?: string | undefined;
  readonly insecure: boolean;
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly store: () => RelayTokenStore;
  /** Now, in ms since the epoch (tests may move the clock). */
  readonly now: () => number;
}

/** OpenSSL / Node codes for a certificate that was not trusted or does not fit. */
const CERTIFICATE_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME/;
const CERTIFICATE_EXPIRY_WARN_MS = 14 * 24 * 3600_000; // 14 days

const ok = (name: string, detail: string): CheckResult => ({ name, status: 'OK', detail });
const warn = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'WARN', detail, fix });
const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'FAIL', detail, fix });

function errorCode(err: unknown): string {
  const code: unknown = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return typeof code === 'string' ? code : '';
}

function errorText(err: unknown): string {
  return sanitizeRelayText(err instanceof Error ? err.message : String(err), 160);
}

function configCheck(env: NodeJS.ProcessEnv): CheckResult {
  const path = configFilePath(env);
  try {
    const file = readConfigFile(path);
    const count = Object.keys(file.values).length;
    return ok('config', file.exists ? `${path}: ${count} setting${count === 1 ? '' : 's'}` : `${path}: none (optional)`);
  } catch (err) {
    return fail('config', sanitizeRelayText(err instanceof Error ? err.message : String(err), 400), `fix the file as the message says, or move it away; "kubepair config list" shows what is in effect`);
  }
}

interface HealthAnswer {
  readonly status: number;
  readonly date: string | undefined;
  readonly body: string;
  readonly certificate: PeerCertificate | undefined;
  readonly sentAt: number;
  readonly receivedAt: number;
}

/** GET the relay's health route once, bounded in time and size; no token is sent. */
function getHealth(endpoint: RelayEndpoint, relay: ResolvedRelay, now: () => number): Promise<HealthAnswer> {
  const target = new URL(relay.httpBase + HEALTHZ_PATH);
  const request = relay.secure ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const agent = relayAgent(endpoint, relay);
    const sentAt = now();
    const req = request(target, { method: 'GET', headers: { accept: 'application/json' }, ca: endpoint.ca, timeout: DOCTOR_NETWORK_TIMEOUT_MS, ...(agent !== undefined && { agent }) });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${DOCTOR_NETWORK_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      const receivedAt = now();
      const socket = res.socket as TLSSocket;
      const certificate = relay.secure && typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > DOCTOR_HEALTH_MAX_BYTES) res.destroy();
      });
      const done = (): void => resolve({ status: res.statusCode ?? 0, date: res.headers.date, body: body.slice(0, DOCTOR_HEALTH_MAX_BYTES), certificate, sentAt, receivedAt });
      res.on('end', done);
      res.on('close', done);
    });
    req.end();
  });
}

/**
 * True when something at host:port completes a TLS handshake. Only a probe that tells "this
 * port speaks TLS" from "it speaks plain HTTP" (for `http://` given to a TLS relay): the
 * certificate is not checked because nothing is sent and the socket is destroyed at once; the
 * real check of the relay's certificate is the /healthz request above, verified as usual.
 */
function speaksTls(relay: ResolvedRelay, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: relay.hostname.replace(/^\[|\]$/g, ''), port, rejectUnauthorized: false, servername: undefined, timeout: DOCTOR_NETWORK_TIMEOUT_MS });
    const finish = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.once('secureConnect', () => finish(true));
    socket.once('error', () => finish(false));
    socket.once('timeout', () => finish(false));
  });
}

function tlsDetail(certificate: PeerCertificate | undefined, now: number): CheckResult {
  if (certificate === undefined || certificate.valid_to === undefined) return ok('tls', 'certificate trusted');
  const expires = Date.parse(certificate.valid_to);
  const subject = sanitizeRelayText(String(certificate.subject?.CN ?? certificate.subjectaltname ?? 'the relay'), 80);
  const until = Number.isNaN(expires) ? 'unknown' : new Date(expires).toISOString();
  if (!Number.isNaN(expires) && expires - now < CERTIFICATE_EXPIRY_WARN_MS) {
    return warn('tls', `certificate of ${subject} trusted, but it expires ${until}`, 'renew the relay\'s certificate (--tls-cert) before it expires');
  }
  return ok('tls', `certificate of ${subject} trusted, valid until ${until}`);
}

function clockCheck(answer: HealthAnswer): CheckResult {
  const relayTime = answer.date === undefined ? Number.NaN : Date.parse(answer.date);
  if (Number.isNaN(relayTime)) return warn('clock', 'not checked: the relay sent no Date header', 'nothing to do unless session times look wrong');
  // The Date header has 1 s resolution; compare with the middle of the round trip.
  const local = (answer.sentAt + answer.receivedAt) / 2;
  const skewMs = local - relayTime;
  const seconds = Math.round(Math.abs(skewMs) / 1000);
  if (Math.abs(skewMs) <= DOCTOR_CLOCK_SKEW_WARN_MS) return ok('clock', `within ${Math.max(1, seconds)} s of the relay's`);
  return warn(
    'clock',
    `this machine's clock is ${seconds} s ${skewMs > 0 ? 'ahead of' : 'behind'} the relay's`,
    'synchronise the clock (Linux: timedatectl set-ntp true); expiry times and certificate checks depend on it',
  );
}

/** The relay checks: URL, reachability, TLS, clock. */
async function relayChecks(inputs: DoctorInputs): Promise<{ results: CheckResult[]; url: string | undefined }> {
  if (inputs.relay === undefined || inputs.relay === '') {
    return {
      results: [fail('relay', 'no relay configured', 'give it with --relay URL, the KUBEPAIR_RELAY environment variable, or once with: kubepair config set relay URL')],
      url: undefined,
    };
  }
  let endpoint: RelayEndpoint;
  let relay: ResolvedRelay;
  try {
    const extra = [
      ...(inputs.relayCa === undefined ? [] : [readPem(inputs.relayCa, '--relay-ca')]),
      ...(inputs.proxyCa === undefined ? [] : [readPem(inputs.proxyCa, '--proxy-ca')]),
    ];
    const proxy = proxyForRelay(inputs.relay, inputs.env);
    endpoint = { url: inputs.relay, insecure: inputs.insecure, ...(extra.length > 0 && { ca: [...rootCertificates, ...extra].join('\n') }), ...(proxy !== undefined && { proxy }) };
    relay = resolveRelay(endpoint);
  } catch (err) {
    return { results: [fail('relay', `${sanitizeRelayText(inputs.relay, 120)} (${inputs.relayOrigin}): ${errorText(err)}`, 'correct the URL where it came from (see the parenthesis)')], url: undefined };
  }
  const results: CheckResult[] = [ok('relay', `${relay.httpBase} (${inputs.relayOrigin})${endpoint.proxy === undefined ? '' : `, through the proxy ${endpoint.proxy.label}`}`)];
  const port = Number(new URL(relay.httpBase).port || (relay.secure ? 443 : 80));
  let answer: HealthAnswer;
  try {
    answer = await getHealth(endpoint, relay, inputs.now);
  } catch (err) {
    const code = errorCode(err);
    if (relay.secure && isPlainAnswerToTls(err)) {
      results.push(fail('reachable', `${relay.hostname}:${port} answers, but not in TLS`, 'see the tls line'));
      results.push(fail('tls', notTlsDetail(`${relay.hostname}:${port}`), `if the relay runs on this machine without TLS: kubepair config set relay http://${new URL(relay.httpBase).host}`));
    } else if (relay.secure && CERTIFICATE_CODES.test(code)) {
      results.push(ok('reachable', `${relay.hostname}:${port} accepts TLS connections`));
      results.push(
        fail('tls', `the relay's certificate is not trusted: ${code} (${errorText(err)})`, 'if the relay uses a private CA, trust it: --relay-ca FILE or kubepair config set relay-ca /path/ca.pem; if it expired, renew it on the relay'),
      );
    } else if (!relay.secure && (code === 'ECONNRESET' || code === 'HPE_INVALID_CONSTANT' || code === 'HPE_INVALID_STATUS') && (await speaksTls(relay, port))) {
      results.push(fail('reachable', `${relay.hostname}:${port} speaks TLS, and this URL says http://`, `use https://${new URL(relay.httpBase).host}${new URL(relay.httpBase).pathname.replace(/\/$/, '')}`));
    } else {
      results.push(
        fail('reachable', `${relay.hostname}:${port}: ${code === '' ? errorText(err) : `${code} (${errorText(err)})`}`, 'check the host and port, that the relay runs (kubepair relay), and the network in between (firewall, HTTPS_PROXY, NO_PROXY)'),
      );
    }
    return { results, url: relay.httpBase };
  }
  let healthy = false;
  try {
    healthy = answer.status === 200 && (JSON.parse(answer.body) as { status?: unknown }).status === 'ok';
  } catch {
    healthy = false;
  }
  results.push(
    healthy
      ? ok('reachable', `${HEALTHZ_PATH} answered 200 {"status":"ok"}`)
      : fail('reachable', `${HEALTHZ_PATH} answered HTTP ${answer.status}, not a kubepair relay's {"status":"ok"}`, 'check the URL: the host, the port and any path prefix the relay is served under'),
  );
  if (relay.secure) results.push(tlsDetail(answer.certificate, inputs.now()));
  else if (!isLoopbackHost(relay.hostname)) {
    results.push(warn('tls', 'none: http:// to another machine (--insecure); tokens and keys travel unencrypted', 'serve the relay over TLS and use https://'));
  } else results.push(ok('tls', 'not used: http:// to this machine'));
  results.push(clockCheck(answer));
  return { results, url: relay.httpBase };
}

/** The relay token and the keychain. */
async function tokenChecks(inputs: DoctorInputs, relayUrl: string | undefined): Promise<CheckResult[]> {
  const fromEnv = inputs.env[TOKEN_ENV];
  const envSet = fromEnv !== undefined && fromEnv !== '';
  const accepted = 'accepted by the relay: not checked (the relay has no route that checks a token without using it)';
  let keychain: CheckResult;
  let stored: string | undefined;
  if (relayUrl === undefined) {
    keychain = ok('keychain', 'not checked (no relay URL to look a token up for)');
  } else {
    const origin = relayOrigin(relayUrl);
    try {
      const store = inputs.store();
      stored = await store.get(origin);
      keychain = ok('keychain', `${store.name}: ${stored === undefined ? 'no token stored' : 'a token is stored'} for ${origin}`);
    } catch (err) {
      if (isKubepairError(err, 'KP_ERR_KEYCHAIN_UNAVAILABLE')) {
        keychain = envSet
          ? ok('keychain', `not available (not needed: ${TOKEN_ENV} is set)`)
          : warn('keychain', 'not available on this machine (no Secret Service on the D-Bus session bus)', `put the relay token in ${TOKEN_ENV}, or start a Secret Service (gnome-keyring, KWallet, KeePassXC)`);
      } else {
        keychain = warn('keychain', errorText(err), 'unlock the keychain, or put the relay token in KUBEPAIR_TOKEN');
      }
    }
  }
  let token: CheckResult;
  if (envSet) {
    token = isRelayTokenFormat(fromEnv)
      ? ok('token', `from ${TOKEN_ENV}; ${accepted}`)
      : fail('token', `${TOKEN_ENV} is set but is not a relay token (kprt_ and 43 characters)`, `set ${TOKEN_ENV} to the token "kubepair relay token create" printed, or unset it`);
  } else if (stored !== undefined) {
    token = isRelayTokenFormat(stored)
      ? ok('token', `from the OS keychain; ${accepted}`)
      : fail('token', 'the keychain entry for this relay is not a relay token', 'replace it: kubepair token set --relay URL');
  } else {
    token = warn('token', 'none: a relay that requires tokens (the default) will answer 401', `store one with "kubepair token set --relay URL", or set ${TOKEN_ENV}; skip this if the relay runs with --auth none`);
  }
  return [token, keychain];
}

/** The first executable `name` on PATH, or undefined. */
function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function kubectlCheck(env: NodeJS.ProcessEnv): Promise<CheckResult> {
  const path = onPath('kubectl', env);
  const install = 'install kubectl (https://kubernetes.io/docs/tasks/tools/) and put it on PATH; connect\'s shell and "connect -- kubectl ..." need it (share does not)';
  if (path === undefined) return Promise.resolve(warn('kubectl', 'not found on PATH', install));
  return new Promise((resolve) => {
    execFile(path, ['version', '--client', '-o', 'json'], { timeout: DOCTOR_KUBECTL_TIMEOUT_MS, maxBuffer: 64 * 1024, env }, (err, stdout) => {
      if (err !== null) {
        resolve(warn('kubectl', `${path} did not run: ${errorText(err)}`, install));
        return;
      }
      try {
        const version = (JSON.parse(stdout) as { clientVersion?: { gitVersion?: unknown } }).clientVersion?.gitVersion;
        resolve(ok('kubectl', `${typeof version === 'string' ? sanitizeRelayText(version, 40) : 'unknown version'} (${path})`));
      } catch {
        resolve(warn('kubectl', `${path} printed no version`, install));
      }
    });
  });
}

/** The kubeconfig and context `share` would use (no credential is used or shown). */
function kubeconfigCheck(inputs: DoctorInputs): CheckResult {
  const fromEnv = inputs.env['KUBECONFIG'];
  const files = inputs.kubeconfig !== undefined ? [inputs.kubeconfig] : fromEnv !== undefined && fromEnv !== '' ? fromEnv.split(delimiter).filter((f) => f !== '') : [join(inputs.env['HOME'] ?? homedir(), '.kube', 'config')];
  const present = files.filter((file) => existsSync(file));
  const forShare = 'only share needs one: pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config (inside a pod: share --in-cluster)';
  if (present.length === 0) return warn('kubeconfig', `none at ${files.join(delimiter)}`, forShare);
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(present[0] as string);
    for (const extra of present.slice(1)) {
      const more = new KubeConfig();
      more.loadFromFile(extra);
      kc.mergeConfig(more);
    }
  } catch (err) {
    return fail('kubeconfig', `${present.join(delimiter)}: ${errorText(err).split('\n')[0] ?? ''}`, 'fix the kubeconfig (kubectl config view shows what kubectl makes of it)');
  }
  const contextName = inputs.context ?? kc.getCurrentContext();
  const context = contextName === '' ? null : kc.getContextObject(contextName);
  if (context === null) {
    const known = kc.getContexts().map((c) => c.name).join(', ') || 'none';
    return fail('kubeconfig', `${present.join(delimiter)}: ${contextName === '' ? 'no current context' : `no context "${contextName}"`} (contexts: ${known})`, 'choose one: kubectl config use-context NAME, or share --context NAME');
  }
  const cluster = kc.getCluster(context.cluster);
  if (cluster === null) return fail('kubeconfig', `context "${context.name}" names cluster "${context.cluster}", which is not in the kubeconfig`, 'fix the kubeconfig');
  return ok('kubeconfig', `context "${context.name}": cluster "${cluster.name}" at ${cluster.server} (${present.join(delimiter)})`);
}

/** Run every check, in order. */
export async function runDoctorChecks(inputs: DoctorInputs): Promise<CheckResult[]> {
  const relay = await relayChecks(inputs);
  const kubectl = kubectlCheck(inputs.env);
  return [configCheck(inputs.env), ...relay.results, ...(await tokenChecks(inputs, relay.url)), await kubectl, kubeconfigCheck(inputs)];
}

/** The report: one line per check, `STATUS  name  detail`, and an indented `fix:` line. */
export function formatDoctorReport(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  return results
    .map((r) => `${r.status.padEnd(4)}  ${r.name.padEnd(width)}  ${r.detail}${r.fix === undefined ? '' : `\n${' '.repeat(width + 8)}fix: ${r.fix}`}`)
    .join('\n')
    .concat('\n');
}
