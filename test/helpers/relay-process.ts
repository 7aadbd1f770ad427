/**
 * Test helpers for the relay: start a REAL relay process from the compiled CLI
 * (`build/src/cli/main.js relay --listen 127.0.0.1:0 ...`), watch its JSON log lines as
 * events, talk to it over real HTTP and WebSockets, and stop it. Every wait is bounded.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { createToken } from '../../src/relay/token-file.js';
import type { TokenScope } from '../../src/relay/token-file.js';
import { repoPath } from './paths.js';
import { within } from './wait-until.js';

/** `within` moved to wait-until.ts (bounded waits); re-exported for the tests and benchmarks that import it from here. */
export { within };

export const CLI = repoPath('build/src/cli/main.js');

export type LogRecord = Record<string, unknown> & { event?: string; msg?: string; level?: string };

/** JSON log lines of a process, with bounded waits for a matching line. */
export class LogWatcher {
  readonly records: LogRecord[] = [];
  readonly raw: string[] = [];
  #waiters: Array<{ from: number; match: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }> = [];

  push(line: string): void {
    this.raw.push(line);
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      return; // not a JSON line: kept in `raw` for assertions
    }
    this.records.push(record);
    const index = this.records.length - 1;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (index >= waiter.from && waiter.match(record)) {
        waiter.resolve(record);
        return false;
      }
      return true;
    });
  }

  /** Index of the next record, to wait only for later events. */
  mark(): number {
    return this.records.length;
  }

  /** Resolve with the first record from `from` on that matches. */
  waitFor(match: (r: LogRecord) => boolean, timeoutMs = 10_000, from = 0, what = 'a log line'): Promise<LogRecord> {
    const found = this.records.slice(from).find(match);
    if (found) return Promise.resolve(found);
    return within(
      timeoutMs,
      what,
      new Promise<LogRecord>((resolve) => {
        this.#waiters.push({ from, match, resolve });
      }),
    );
  }

  /** Wait until `count` records from `from` on match. */
  async waitForCount(match: (r: LogRecord) => boolean, count: number, timeoutMs: number, from = 0, what = 'log lines'): Promise<void> {
    const seen = (): number => this.records.slice(from).filter(match).length;
    if (seen() >= count) return;
    await within(
      timeoutMs,
      `${count} × ${what} (saw ${seen()})`,
      new Promise<void>((resolve) => {
        let n = seen();
        this.#waiters.push({
          from: this.records.length,
          match: (record) => {
            if (match(record)) n++;
            return n >= count;
          },
          resolve: () => resolve(),
        });
      }),
    );
  }

  event(name: string, timeoutMs = 10_000, from = 0): Promise<LogRecord> {
    return this.waitFor((r) => r.event === name, timeoutMs, from, `log event ${name}`);
  }
}

export interface RelayTokens {
  readonly agent: string;
  readonly client: string;
  readonly metrics: string;
  readonly admin: string;
}

export interface StartedRelay {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly dir: string;
  readonly tokensFile: string;
  readonly auditLog: string;
  /** `--state-dir`: where the relay keeps the secret its session keys are MACs under. */
  readonly stateDir: string;
  readonly tokens: RelayTokens;
  readonly logs: LogWatcher;
  readonly stderr: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (or `signal`) and wait for the exit, bounded. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kill if still running and remove the temp directory (unless a restarted relay took it over). */
  dispose(): Promise<void>;
  /** A restarted relay (`restartOf`) took over the directory: `dispose` leaves it to that one. */
  handOver(): void;
}

export interface StartRelayOptions {
  readonly args?: readonly string[];
  /** Node.js flags before the CLI (the benchmarks' `--expose-gc`, `--import`). */
  readonly nodeArgs?: readonly string[];
  /** Use --auth none instead of a tokens file. */
  readonly anonymous?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly logLevel?: string;
  readonly timeoutMs?: number;
  /**
   * Start again in place of a relay that was stopped (SIGKILL or SIGTERM): same directory (tokens
   * file, audit log, state directory) and the same port. Its `dispose` then removes nothing: the
   * new relay's does.
   */
  readonly restartOf?: StartedRelay;
}

/** Create a 0700 temp directory. */
export async function privateTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o700);
  return dir;
}

/** Start `kubepair relay` on 127.0.0.1:0 with its own tokens file and audit log. */
export async function startRelay(options: StartRelayOptions = {}): Promise<StartedRelay> {
  const previous = options.restartOf;
  const dir = previous?.dir ?? (await privateTempDir('kubepair-relay-test-'));
  const tokensFile = join(dir, 'config', 'relay-tokens.json');
  const auditLog = join(dir, 'state', 'relay-audit.jsonl');
  const stateDir = join(dir, 'state', 'relay');
  const tokens: Record<string, string> = previous === undefined ? {} : { ...previous.tokens };
  if (options.anonymous !== true && previous === undefined) {
    for (const scope of ['agent', 'client', 'metrics', 'admin'] as TokenScope[]) {
      tokens[scope] = await createToken(tokensFile, `test-${scope}`, scope);
    }
  }
  const args = [
    ...(options.nodeArgs ?? []),
    CLI,
    'relay',
    '--listen',
    `127.0.0.1:${previous?.port ?? 0}`,
    '--audit-log',
    auditLog,
    '--state-dir',
    stateDir,
    '--log-level',
    options.logLevel ?? 'debug',
    ...(options.anonymous === true ? ['--auth', 'none'] : ['--tokens-file', tokensFile]),
    ...(options.args ?? []),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  for (const key of Object.keys(env)) if (key.startsWith('KUBEPAIR_RELAY_') && !(options.env && key in options.env)) delete env[key];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = new LogWatcher();
  const stderr: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => logs.push(line));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const listening = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      stderr.push(line);
      const match = /^kubepair relay listening on (\S+)$/.exec(line);
      if (match) resolve(match[1] as string);
    });
    void exited.then(({ code }) => reject(new Error(`relay exited (${code}) before listening:\n${stderr.join('\n')}`)));
  });
  let url: string;
  try {
    url = await within(options.timeoutMs ?? 15_000, 'the relay to listen', listening);
  } catch (err) {
    child.kill('SIGKILL');
    if (previous === undefined) await rm(dir, { recursive: true, force: true }); // else the previous relay's dispose removes it
    throw err;
  }
  if (previous !== undefined) previous.handOver();
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return within(timeoutMs, 'the relay to exit', exited);
  };
  let ownsDir = true;
  return {
    url,
    port: Number(new URL(url).port),
    child,
    dir,
    tokensFile,
    auditLog,
    stateDir,
    tokens: tokens as unknown as RelayTokens,
    logs,
    stderr,
    exited,
    stop,
    handOver() {
      ownsDir = false;
    },
    async dispose() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await within(10_000, 'the relay to die', exited);
      }
      if (ownsDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

/** One HTTP request to the relay (fetch, bounded). */
export async function api(
  relay: { url: string },
  method: string,
  path: string,
  options: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(relay.url + path, { method, headers, body, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let parsed: unknown = text;
  if ((response.headers.get('content-type') ?? '').startsWith('application/json')) parsed = JSON.parse(text) as unknown;
  return { status: response.status, body: parsed, headers: response.headers };
}

/**
 * One HTTP request to the relay from the loopback address `from` (e.g. 127.0.0.2: Linux routes
 * all of 127/8 to lo), on a fresh connection, bounded in time. For tests where another address
 * floods or is refused: each address has its own per-address budgets.
 */
export function apiFrom(
  relay: { url: string },
  from: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiAnswer> {
  const url = new URL(relay.url + path);
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  return within(
    10_000,
    `${method} ${path} from ${from}`,
    new Promise<ApiAnswer>((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method, headers, localAddress: from, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const type = String(res.headers['content-type'] ?? '');
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') responseHeaders.set(name, value);
          resolve({ status: res.statusCode ?? 0, body: type.startsWith('application/json') ? (JSON.parse(text) as unknown) : text, headers: responseHeaders });
        });
      });
      req.on('error', reject);
      req.end(body);
    }),
  );
}

export interface SessionInfo {
  readonly session_id: string;
  readonly nameplate: string;
  readonly agent_key: string;
  readonly expires_at: string;
}
export interface PairInfo {
  readonly session_id: string;
  readonly client_key: string;
  readonly expires_at: string;
}

export async function createSessionViaApi(relay: StartedRelay, token = relay.tokens.agent): Promise<SessionInfo> {
  const answer = await api(relay, 'POST', '/api/v1/sessions', { token, body: { protocol: 'kubepair/1' } });
  if (answer.status !== 201) throw new Error(`create session: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body as SessionInfo;
}

export async function pairViaApi(relay: StartedRelay, nameplate: string, token = relay.tokens.client): Promise<PairInfo> {
  const answer = await api(relay, 'POST', '/api/v1/pair', { token, body: { nameplate } });
  if (answer.status !== 200) throw new Error(`pair: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body as PairInfo;
}

/** The `error.code` of a relay error body. */
export function errorCode(answer: ApiAnswer): string | undefined {
  const body = answer.body as { error?: { code?: string } };
  return body.error?.code;
}

export interface PeerOptions {
  readonly origin?: string;
  readonly protocols?: readonly string[];
  readonly query?: string;
  readonly authorization?: string | null;
  readonly maxPayload?: number;
  /** Connect from this loopback address (127.0.0.2 ...), which has its own per-address budgets. */
  readonly localAddress?: string;
}

/** A raw test WebSocket to the relay that records control messages and binary frames. */
export class TestPeer {
  readonly ws: WebSocket;
  readonly controls: Array<Record<string, unknown>> = [];
  readonly frames: Buffer[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: Array<() => void> = [];

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data, isBinary) => {
      if (isBinary) this.frames.push(data as Buffer);
      else this.controls.push(JSON.parse((data as Buffer).toString('utf8')) as Record<string, unknown>);
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
    ws.on('error', () => undefined);
  }

  /** Wait until `check` holds (re-checked on every message), bounded. */
  async until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (check()) return;
    await within(
      timeoutMs,
      what,
      new Promise<void>((resolve) => {
        const wake = (): void => {
          if (check()) resolve();
          else this.#waiters.push(wake);
        };
        this.#waiters.push(wake);
      }),
    );
  }

  /** Wait for a control message of `type` (the nth one, counting from 1). */
  async control(type: string, nth = 1, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    await this.until(() => this.controls.filter((c) => c.type === type).length >= nth, `control message ${type}`, timeoutMs);
    return this.controls.filter((c) => c.type === type)[nth - 1] as Record<string, unknown>;
  }

  async closedWithin(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    return within(timeoutMs, 'the socket to close', this.closed);
  }
}

/** Open a raw WebSocket; resolves with the peer or rejects with `{status, body}` of a refused upgrade. */
export function openPeer(relay: { url: string }, role: 'agent' | 'client', sessionId: string, key: string, options: PeerOptions = {}): Promise<TestPeer> {
  const base = relay.url.replace(/^http/, 'ws');
  const headers: Record<string, string> = {};
  if (options.authorization !== null) headers['authorization'] = options.authorization ?? `Bearer ${key}`;
  if (options.origin !== undefined) headers['origin'] = options.origin;
  const ws = new WebSocket(`${base}/ws/v1/${role}/${sessionId}${options.query ?? ''}`, [...(options.protocols ?? ['kubepair.v1'])], {
    headers,
    perMessageDeflate: false,
    maxPayload: options.maxPayload ?? 64 * 1024 * 1024,
    ...(options.localAddress !== undefined && { localAddress: options.localAddress }),
  });
  const peer = new TestPeer(ws);
  return within(
    10_000,
    `${role} socket to open`,
    new Promise<TestPeer>((resolve, reject) => {
      ws.once('open', () => resolve(peer));
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            body = text; // keep the raw text for the assertion message
          }
          ws.terminate();
          reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body }));
        });
      });
      ws.once('error', (err) => reject(err));
    }),
  );
}

/** Expect an upgrade to be refused; returns the status and error code. */
export async function refusedUpgrade(promise: Promise<TestPeer>): Promise<{ status: number; code: string | undefined }> {
  try {
    const peer = await promise;
    peer.ws.terminate();
  } catch (err) {
    const e = err as { status?: number; body?: { error?: { code?: string } } };
    if (e.status === undefined) throw err;
    return { status: e.status, code: e.body?.error?.code };
  }
  throw new Error('the upgrade was accepted');
}

/** A paired session with both sockets open and `peer_connected` seen on both. */
export async function connectPair(relay: StartedRelay): Promise<{ session: SessionInfo; pairing: PairInfo; agent: TestPeer; client: TestPeer }> {
  const session = await createSessionViaApi(relay);
  const agent = await openPeer(relay, 'agent', session.session_id, session.agent_key);
  const pairing = await pairViaApi(relay, session.nameplate);
  const client = await openPeer(relay, 'client', session.session_id, pairing.client_key);
  await agent.control('peer_connected');
  await client.control('peer_connected');
  return { session, pairing, agent, client };
}

/** The `k="v"` pairs of a label text such as `{state="waiting",node="http://..."}`. */
function labelPairs(text: string): string[] {
  return text === '' ? [] : (text.slice(1, -1).match(/[a-zA-Z_]+="(?:[^"\\]|\\.)*"/g) ?? []);
}

/**
 * Scrape /metrics and return the value of `name` summed over the samples whose labels include
 * `labels` (a filter as `{k="v",...}` text; labels not named, such as a cluster node's `node`, may
 * be anything), or undefined when no sample matches.
 * `from`: scrape from that loopback address (when 127.0.0.1 used up its failure budget).
 */
export async function metric(relay: StartedRelay, name: string, labels = '', from?: string): Promise<number | undefined> {
  const token = relay.tokens.metrics ?? undefined;
  const answer = from === undefined ? await api(relay, 'GET', '/metrics', { token }) : await apiFrom(relay, from, 'GET', '/metrics', { token });
  const wanted = labelPairs(labels);
  let sum: number | undefined;
  for (const line of String(answer.body).split('\n')) {
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (sample === null || sample[1] !== name) continue;
    const have = labelPairs(sample[2] ?? '');
    if (wanted.every((pair) => have.includes(pair))) sum = (sum ?? 0) + Number(sample[3]);
  }
  return sum;
}

/**
 * Arguments of `kubepair relay` for runCli, for a relay expected to stop before it serves (a
 * refused option, a store it cannot reach): anonymous, on 127.0.0.1:0, with a fresh audit log and
 * the state directory in `dir`, then `extra`.
 */
export function anonymousRelayArgs(dir: string, ...extra: string[]): string[] {
  return ['relay', '--listen', '127.0.0.1:0', '--auth', 'none', '--audit-log', join(dir, `audit-${randomBytes(6).toString('hex')}.jsonl`), '--state-dir', join(dir, 'state'), ...extra];
}

/** Run the CLI to completion (bounded) and collect its output. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const key of Object.keys(childEnv)) if (key.startsWith('KUBEPAIR_RELAY_') && !(key in env)) delete childEnv[key];
  const child = spawn(process.execPath, [CLI, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return within(
    timeoutMs,
    `kubepair ${args.join(' ')}`,
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr }))),
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
}
