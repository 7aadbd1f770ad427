/**
 * The stack the differential security suite attacks (issue 10): real relay, `kubepair share`
 * and `kubepair connect --no-shell` processes, the fixture API server, and raw TLS connections
 * to connect's local listener carrying whatever bytes an attacker with the session token likes.
 * After an attack, `executedSince` and `allowedSince` give the two sides of the invariant:
 * every request the API server executed matches exactly one allowed audit record.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { redactQuery } from '../../src/audit/redact.js';
import { readAuditRecords } from '../helpers/audit-records.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import type { JsonObject } from '../fixtures/kube-api-server/objects.js';
import type { RequestRecord } from '../fixtures/kube-api-server/server.js';

/** The secret an attacker wants to read; readonly must never let its value out. */
export const SECRET_VALUE = 'correct-horse-battery-staple-7f3a';
export const OBJECTS: JsonObject[] = [
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'default' }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'default' }, data: { mode: 'prod' } },
  { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, type: 'Opaque', data: { password: Buffer.from(SECRET_VALUE).toString('base64') } },
];

export interface SmugglingStackOptions {
  readonly policy: 'readonly' | 'guarded';
  readonly credentials: 'certificate' | 'token';
  /** Whether the fixture offers h2 (false: HTTP/1.1 only, as behind a proxy without h2). */
  readonly http2: boolean;
}

/** One allowed audit record reduced to what the API server must have seen. */
export interface AllowedRequest {
  readonly requestId: string;
  readonly key: string;
}

export interface SmugglingStack {
  readonly stack: E2EStack;
  readonly share: ManagedProcess;
  readonly connect: ManagedProcess;
  readonly auditPath: string;
  /** Send raw bytes on a new TLS connection to the listener; resolves with everything received. */
  /**
   * Send raw bytes on a new TLS connection to the listener; resolves with everything received:
   * it waits up to `firstByteMs` for a first byte, then until nothing has come for `settleMs`
   * (or the connection closed), and never longer than 15 s in all.
   */
  send(bytes: Buffer | string, options?: { readonly settleMs?: number; readonly firstByteMs?: number; readonly pieces?: number }): Promise<Buffer>;
  /** The authenticated first line pair every attack starts with: `Host` and the session token. */
  readonly auth: string;
  /** Marks for the *Since functions. */
  mark(): { readonly fixture: number; readonly audit: number };
  executedSince(mark: number): RequestRecord[];
  allowedSince(mark: number): Promise<AllowedRequest[]>;
  close(): Promise<void>;
}

/** What identifies a request on both sides: method, path and query as the API server parsed them, and who it acted as. */
export function requestKey(method: string, path: string, query: string, user: string): string {
  const url = new URL(`${path}${query === '' ? '' : `?${query}`}`, 'https://kubernetes');
  return `${method} ${url.pathname} ${redactQuery(url.search.replace(/^\?/, ''))} as ${user}`;
}

export async function startSmugglingStack(options: SmugglingStackOptions): Promise<SmugglingStack> {
  const stack = await startE2EStack({ api: { objects: OBJECTS, http2: options.http2 }, agentCredentials: options.credentials });
  try {
    const auditPath = join(stack.dir, 'agent-audit', 'audit.jsonl');
    const { process: share, code } = await stack.startShare(['--policy', options.policy, '--audit-log', auditPath]);
    const connect = stack.startConnect(['--no-shell', code]);
    const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout');
    const kubeconfig = JSON.parse(await readFile(exported[1]!, 'utf8')) as {
      clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
      users: Array<{ user: { token: string } }>;
    };
    const server = new URL(kubeconfig.clusters[0]!.cluster.server);
    const caPem = Buffer.from(kubeconfig.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString('utf8');
    const token = kubeconfig.users[0]!.user.token;
    const port = Number(server.port);
    const auth = `Host: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n`;

    const send = (bytes: Buffer | string, sendOptions: { settleMs?: number; firstByteMs?: number; pieces?: number } = {}): Promise<Buffer> =>
      new Promise((resolve) => {
        const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1');
        const received: Buffer[] = [];
        const socket = tlsConnect({ host: '127.0.0.1', port, ca: caPem });
        const settleMs = sendOptions.settleMs ?? 400;
        let idle: NodeJS.Timeout | undefined;
        // Bounded: whatever happens, the connection is closed after 15 s.
        const hard = setTimeout(() => socket.destroy(), 15_000);
        const rearm = (): void => {
          if (idle !== undefined) clearTimeout(idle);
          idle = setTimeout(() => socket.destroy(), settleMs);
        };
        socket.on('data', (chunk: Buffer) => {
          received.push(chunk);
          rearm();
        });
        socket.on('error', () => socket.destroy());
        socket.on('close', () => {
          clearTimeout(hard);
          if (idle !== undefined) clearTimeout(idle);
          resolve(Buffer.concat(received));
        });
        socket.once('secureConnect', () => {
          const pieces = Math.max(1, sendOptions.pieces ?? 1);
          const size = Math.ceil(data.length / pieces);
          for (let offset = 0; offset < data.length; offset += size) socket.write(data.subarray(offset, offset + size));
          // Nothing yet: wait for the first byte (a loaded machine may be slow), then settle.
          idle = setTimeout(() => socket.destroy(), sendOptions.firstByteMs ?? 10_000);
        });
      });

    const mark = (): { fixture: number; audit: number } => ({ fixture: stack.api.requests().at(-1)?.seq ?? 0, audit: Date.now() });

    const executedSince = (since: number): RequestRecord[] => stack.api.requests().filter((record) => record.seq > since);

    const allowedSince = (since: number): Promise<AllowedRequest[]> => {
      const byId = new Map<string, AllowedRequest>();
      for (const record of readAuditRecords(auditPath)) {
        if (record['event'] !== 'request' && record['event'] !== 'request_started') continue;
        if (record['decision'] !== 'allow' || Date.parse(String(record['time'])) < since - 1000) continue;
        const user = typeof record['impersonate_user'] === 'string' ? record['impersonate_user'] : 'fixture-admin';
        const id = String(record['request_id']);
        byId.set(id, { requestId: id, key: requestKey(String(record['method']), String(record['path']), typeof record['query'] === 'string' ? record['query'] : '', user) });
      }
      return Promise.resolve([...byId.values()]);
    };

    return {
      stack,
      share,
      connect,
      auditPath,
      send,
      auth,
      mark,
      executedSince,
      allowedSince,
      close: () => stack.close(),
    };
  } catch (err) {
    await stack.close();
    throw err;
  }
}

/**
 * The invariant: every executed request is matched by exactly one allowed audit record (each
 * record used once). Returns the executed requests that no record accounts for.
 */
export function unaccounted(executed: readonly RequestRecord[], allowed: readonly AllowedRequest[]): string[] {
  const pool = new Map<string, number>();
  for (const record of allowed) pool.set(record.key, (pool.get(record.key) ?? 0) + 1);
  const missing: string[] = [];
  for (const request of executed) {
    const key = requestKey(request.method, request.path, request.query, request.user ?? '(unauthenticated)');
    const left = pool.get(key) ?? 0;
    if (left === 0) missing.push(`${key} (${request.protocol}, status ${request.status})`);
    else pool.set(key, left - 1);
  }
  return missing;
}
