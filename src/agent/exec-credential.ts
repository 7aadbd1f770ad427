/**
 * Running a kubeconfig's exec credential plugin (client.authentication.k8s.io, the protocol
 * kubectl uses) for the agent's own API-server credentials (docs/design.md §6, §7).
 *
 * kubepair runs the plugin itself instead of through @kubernetes/client-node because the child
 * must not inherit secret-looking variables: it is spawned from an argument array (never a
 * shell) with an environment stripped of TOKEN/SECRET/PASSWORD/CREDENTIAL variables, plus the
 * kubeconfig's own `env` entries and the names the user passed with `--pass-env`. Output is
 * bounded and validated; the credential is cached until its expirationTimestamp.
 */
import { spawn } from 'node:child_process';
import * as z from 'zod';
import { KubepairError } from '../errors/index.js';
import { childEnvironment } from '../process/child-env.js';

/** Longest a plugin may run, and the most output it may write. */
const EXEC_TIMEOUT_MS = 60_000; // 60 s
const EXEC_OUTPUT_MAX_BYTES = 1024 * 1024; // 1 MiB
/** Refresh this long before the credential expires. */
const EXPIRY_SKEW_MS = 30_000; // 30 s

const API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'] as const;

export const execConfigSchema = z.object({
  command: z.string().min(1),
  args: z.array(z.string()).nullish(),
  env: z.array(z.object({ name: z.string().min(1), value: z.string() })).nullish(),
  apiVersion: z.enum(API_VERSIONS),
  installHint: z.string().nullish(),
  provideClusterInfo: z.boolean().nullish(),
  interactiveMode: z.string().nullish(),
});
export type ExecConfig = z.infer<typeof execConfigSchema>;

const execCredentialSchema = z.object({
  kind: z.literal('ExecCredential'),
  apiVersion: z.enum(API_VERSIONS),
  status: z.object({
    token: z.string().min(1).optional(),
    clientCertificateData: z.string().min(1).optional(),
    clientKeyData: z.string().min(1).optional(),
    expirationTimestamp: z.string().optional(),
  }),
});

export interface ExecCredential {
  readonly token?: string;
  readonly clientCertificatePem?: string;
  readonly clientKeyPem?: string;
  /** Epoch ms after which the credential must be fetched again; undefined: until a 401. */
  readonly expiresAt?: number;
}

export interface ExecCredentialOptions {
  readonly config: ExecConfig;
  /** Variables to keep although they look sensitive (`share --pass-env`). */
  readonly passEnv?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Cluster info for plugins with provideClusterInfo. */
  readonly cluster?: { readonly server: string; readonly 'certificate-authority-data'?: string; readonly 'tls-server-name'?: string };
}

function runPlugin(options: ExecCredentialOptions): Promise<string> {
  const { config } = options;
  const execInfo = {
    apiVersion: config.apiVersion,
    kind: 'ExecCredential',
    spec: { interactive: false, ...(config.provideClusterInfo === true && options.cluster !== undefined && { cluster: options.cluster }) },
  };
  const extra: Record<string, string> = { KUBERNETES_EXEC_INFO: JSON.stringify(execInfo) };
  for (const entry of config.env ?? []) extra[entry.name] = entry.value;
  const env = childEnvironment(options.env ?? process.env, extra, options.passEnv ?? []);
  return new Promise((resolve, reject) => {
    const child = spawn(config.command, config.args ?? [], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: EXEC_TIMEOUT_MS });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > EXEC_OUTPUT_MAX_BYTES) child.kill('SIGKILL');
      else stdout.push(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'ENOENT' && config.installHint ? ` (${config.installHint.trim()})` : '';
      reject(new KubepairError('KP_ERR_EXEC_CREDENTIAL', `cannot run "${config.command}": ${err.code ?? err.message}${hint}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      if (code === 0 && stdoutBytes <= EXEC_OUTPUT_MAX_BYTES) {
        resolve(Buffer.concat(stdout).toString('utf8'));
        return;
      }
      const why = stdoutBytes > EXEC_OUTPUT_MAX_BYTES ? 'wrote more than 1 MiB' : signal !== null ? `was killed by ${signal}` : `exited with ${code}`;
      const firstLine = stderr.trim().split('\n')[0] ?? '';
      reject(new KubepairError('KP_ERR_EXEC_CREDENTIAL', `"${config.command}" ${why}${firstLine ? `: ${firstLine.slice(0, 200)}` : ''}`));
    });
  });
}

/** Parse and check a plugin's stdout. */
export function parseExecCredential(output: string, expectedApiVersion: string): ExecCredential {
  let json: unknown;
  try {
    json = JSON.parse(output);
  } catch (err) {
    throw new KubepairError('KP_ERR_EXEC_CREDENTIAL', 'the plugin did not print JSON', { cause: err });
  }
  const parsed = execCredentialSchema.safeParse(json);
  if (!parsed.success) throw new KubepairError('KP_ERR_EXEC_CREDENTIAL', 'the plugin printed something other than an ExecCredential');
  if (parsed.data.apiVersion !== expectedApiVersion) {
    throw new KubepairError('KP_ERR_EXEC_CREDENTIAL', `the plugin answered ${parsed.data.apiVersion}, expected ${expectedApiVersion}`);
  }
  const { token, clientCertificateData, clientKeyData, expirationTimestamp } = parsed.data.status;
  if (token === undefined && (clientCertificateData === undefined || clientKeyData === undefined)) {
    throw new KubepairError('KP_ERR_EXEC_CREDENTIAL', 'the plugin returned neither a token nor a client certificate and key');
  }
  const expiresAt = expirationTimestamp === undefined ? undefined : Date.parse(expirationTimestamp);
  if (expiresAt !== undefined && Number.isNaN(expiresAt)) throw new KubepairError('KP_ERR_EXEC_CREDENTIAL', 'bad expirationTimestamp');
  return {
    ...(token !== undefined && { token }),
    ...(clientCertificateData !== undefined && clientKeyData !== undefined && { clientCertificatePem: clientCertificateData, clientKeyPem: clientKeyData }),
    ...(expiresAt !== undefined && { expiresAt }),
  };
}

/** Fetches and caches one plugin's credential; concurrent callers share one run. */
export class ExecCredentialSource {
  readonly #options: ExecCredentialOptions;
  #cached: ExecCredential | undefined;
  #pending: Promise<ExecCredential> | undefined;

  constructor(options: ExecCredentialOptions) {
    this.#options = options;
  }

  async get(): Promise<ExecCredential> {
    const cached = this.#cached;
    if (cached !== undefined && (cached.expiresAt === undefined || cached.expiresAt - EXPIRY_SKEW_MS > Date.now())) return cached;
    this.#pending ??= runPlugin(this.#options)
      .then((output) => parseExecCredential(output, this.#options.config.apiVersion))
      .then((credential) => {
        this.#cached = credential;
        return credential;
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }

  /** Forget the cached credential (after the API server answered 401). */
  invalidate(): void {
    this.#cached = undefined;
  }
}
