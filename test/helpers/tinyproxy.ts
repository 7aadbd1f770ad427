/**
 * A REAL HTTP proxy for tests: Debian's tinyproxy (installed by .ci/run), started on
 * 127.0.0.1 with a generated config (`Listen 127.0.0.1`, `Allow 127.0.0.1`, optional
 * `BasicAuth` and `ConnectPort` restrictions) and logging to a file the test reads: its
 * `Request (file descriptor N): CONNECT host:port` lines prove a tunnel went through it.
 * Readiness and log waits follow the file with fs.watch (no polling); all waits are bounded.
 */
import { watch } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagedProcess } from './managed-process.js';
import { startProcess } from './managed-process.js';
import { privateTempDir } from './relay-process.js';
import { freePort } from './tcp.js';

export interface TinyproxyOptions {
  /** Require these credentials (`BasicAuth`): CONNECT without them gets 407. */
  readonly basicAuth?: { readonly user: string; readonly password: string };
  /** Allow CONNECT only to these ports (403 otherwise). Default: every port. */
  readonly connectPorts?: readonly number[];
}

export interface Tinyproxy {
  /** `http://127.0.0.1:PORT`, without credentials. */
  readonly url: string;
  readonly port: number;
  readonly logFile: string;
  /** The `host:port` of every CONNECT request in the log so far, oldest first. */
  connects(): Promise<string[]>;
  /** Wait until the log holds at least `count` CONNECT requests (bounded). */
  waitForConnects(count: number, timeoutMs?: number): Promise<string[]>;
  stop(): Promise<void>;
}

const CONNECT_LINE = /Request \(file descriptor \d+\): CONNECT (\S+) HTTP/g;


async function readLog(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/** Resolve once `test(log text)` holds, re-checking on every change in `dir`; bounded. */
function waitForLog<T>(dir: string, file: string, test: (text: string) => T | undefined, timeoutMs: number, what: string, process?: ManagedProcess): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const watcher = watch(dir);
    const finish = (error: Error | undefined, value?: T): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watcher.close();
      if (error !== undefined) reject(error);
      else resolve(value as T);
    };
    const check = (): void => {
      readLog(file).then(
        (text) => {
          const value = test(text);
          if (value !== undefined) finish(undefined, value);
        },
        (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
      );
    };
    const timer = setTimeout(() => {
      void readLog(file).then((text) => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; tinyproxy log:\n${text.slice(-3000)}`)));
    }, timeoutMs);
    watcher.on('change', check);
    watcher.on('error', (err) => finish(err));
    void process?.exited.then(() => finish(new Error(`tinyproxy exited while waiting for ${what}: ${process.stderr().slice(-2000)}`)));
    check();
  });
}

function connectsIn(text: string): string[] {
  return [...text.matchAll(CONNECT_LINE)].map((match) => match[1]!);
}

/** Start tinyproxy on 127.0.0.1 (a free port; up to 3 tries if another process takes it first). */
export async function startTinyproxy(options: TinyproxyOptions = {}): Promise<Tinyproxy> {
  const dir = await privateTempDir('kubepair-tinyproxy-');
  const logFile = join(dir, 'tinyproxy.log');
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const config = [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 60',
      'MaxClients 100',
      'Allow 127.0.0.1',
      `LogFile "${logFile}"`,
      'LogLevel Info',
      'DisableViaHeader Yes',
      ...(options.basicAuth !== undefined ? [`BasicAuth ${options.basicAuth.user} ${options.basicAuth.password}`] : []),
      ...(options.connectPorts ?? []).map((p) => `ConnectPort ${p}`),
      '',
    ].join('\n');
    const configFile = join(dir, 'tinyproxy.conf');
    await writeFile(configFile, config, { mode: 0o600 });
    await rm(logFile, { force: true });
    const proxy = startProcess('tinyproxy', ['-d', '-c', configFile], { PATH: process.env['PATH'] ?? '/usr/bin:/bin' });
    try {
      await waitForLog(dir, logFile, (text) => (/Accepting connections/.test(text) ? true : undefined), 10_000, 'tinyproxy to listen', proxy);
    } catch (err) {
      lastError = err;
      await proxy.stop('SIGKILL', 1000);
      continue;
    }
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      logFile,
      connects: async () => connectsIn(await readLog(logFile)),
      waitForConnects: (count, timeoutMs = 10_000) =>
        waitForLog(dir, logFile, (text) => {
          const found = connectsIn(text);
          return found.length >= count ? found : undefined;
        }, timeoutMs, `${count} CONNECT requests in the tinyproxy log`),
      async stop() {
        await proxy.stop('SIGTERM', 3000);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`tinyproxy did not start: ${String(lastError)}`);
}
