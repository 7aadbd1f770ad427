/**
 * `ControlServer`: the local control socket a running `share` or `connect` listens on (issue 14;
 * docs/usage.md "Session control"), in this user's private control directory
 * (control-socket-path.ts). Commands are registered by the front end with a zod schema for
 * their arguments; `status`, the session commands and the approval commands all use it.
 *
 * Wire (control-message.ts): one connection carries one request line and gets one answer line,
 * then the server closes it. Every way a request can be wrong is answered with a coded error,
 * never a crash: a line that is not UTF-8 JSON of the request shape, an unknown command,
 * arguments the command's schema refuses, a handler that throws (a KubepairError answers its
 * code and message; anything else KP_ERR_INTERNAL, without details).
 *
 * Security: the socket's input is untrusted (any local process of this user can connect, and
 * may be hostile or broken). Every resource a connection takes is bounded before it is taken:
 * the request line (CONTROL_REQUEST_MAX_BYTES, refused as soon as it is exceeded, not after
 * buffering), the time to send it (CONTROL_REQUEST_TIMEOUT_MS, so a slow writer cannot hold a
 * slot), the life of the connection (CONTROL_CONNECTION_TIMEOUT_MS, so a reader that never
 * reads its answer is cut) and the connections served at once (CONTROL_MAX_CONNECTIONS; one more
 * is answered KP_ERR_CONTROL_BUSY). The socket is bound under umask 0177, so it is 0600 from the
 * moment it exists, inside a 0700 directory: other users cannot connect at any time.
 */
import { lstat, unlink } from 'node:fs/promises';
import { unlinkSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { createServer } from 'node:net';
import type { z } from 'zod';
import { KubepairError, toKubepairError } from '../errors/index.js';
import {
  CONTROL_CONNECTION_TIMEOUT_MS,
  CONTROL_MAX_CONNECTIONS,
  CONTROL_REQUEST_MAX_BYTES,
  CONTROL_REQUEST_TIMEOUT_MS,
} from '../limits.js';
import { parseWith } from '../protocol/validate.js';
import type { ControlResponse } from './control-message.js';
import { ControlCommandNameSchema, ControlRequestSchema } from './control-message.js';
import type { ControlRole } from './control-socket-path.js';
import { controlDirectory, controlSocketPath, removeIfStale } from './control-socket-path.js';

/** The bounds a server enforces (tests may shorten the timers; the defaults are src/limits.ts). */
export interface ControlServerLimits {
  readonly requestMaxBytes: number;
  readonly requestTimeoutMs: number;
  readonly connectionTimeoutMs: number;
  readonly maxConnections: number;
}

export const CONTROL_SERVER_LIMITS: ControlServerLimits = {
  requestMaxBytes: CONTROL_REQUEST_MAX_BYTES,
  requestTimeoutMs: CONTROL_REQUEST_TIMEOUT_MS,
  connectionTimeoutMs: CONTROL_CONNECTION_TIMEOUT_MS,
  maxConnections: CONTROL_MAX_CONNECTIONS,
};

export interface ControlServerOptions {
  readonly role: ControlRole;
  /** The environment that decides the runtime directory (default process.env; tests pass a private XDG_RUNTIME_DIR). */
  readonly env?: NodeJS.ProcessEnv;
  readonly limits?: Partial<ControlServerLimits>;
}

interface RegisteredCommand {
  readonly args: z.ZodType;
  readonly handler: (args: never) => unknown;
}

/** Only the owner may read and write the socket: bind under this umask (0777 & ~0177 = 0600). */
const SOCKET_UMASK = 0o177;

/** Bind `server` to `path` under SOCKET_UMASK. Node binds and listens synchronously inside listen(). */
function listenPrivately(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    const previous = process.umask(SOCKET_UMASK);
    try {
      server.listen(path, () => {
        server.off('error', onError);
        resolve();
      });
    } finally {
      process.umask(previous);
    }
  });
}

export class ControlServer {
  /** The socket's path (`<control dir>/<role>-<pid>.sock`). */
  readonly path: string;
  readonly #server: Server;
  readonly #limits: ControlServerLimits;
  readonly #commands = new Map<string, RegisteredCommand>();
  /** Every open connection (cut by close()). */
  readonly #connections = new Set<Socket>();
  /** Connections being served (busy ones answered at once do not count). */
  #slots = 0;
  readonly #removeOnExit: () => void;
  #closing: Promise<void> | undefined;

  private constructor(path: string, server: Server, limits: ControlServerLimits) {
    this.path = path;
    this.#server = server;
    this.#limits = limits;
    // A process that exits without close() (process.exit after an error) still removes its socket.
    this.#removeOnExit = () => {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    };
    process.once('exit', this.#removeOnExit);
    server.on('connection', (socket) => this.#accept(socket));
  }

  /**
   * Listen on this process's socket in the control directory (created 0700 if missing, refused
   * with KP_ERR_CONTROL_DIR_INSECURE if not private). A stale socket of the same name (a process
   * with this pid that died) is removed first; a live one is KP_ERR_CONTROL_LISTEN.
   */
  static async listen(options: ControlServerOptions): Promise<ControlServer> {
    const limits = { ...CONTROL_SERVER_LIMITS, ...options.limits };
    const directory = await controlDirectory(options.env);
    const path = controlSocketPath(directory, options.role, process.pid);
    if (!(await removeIfStale(path, process.pid))) {
      throw new KubepairError('KP_ERR_CONTROL_LISTEN', `${path} is in use by another process`);
    }
    const server = createServer({ allowHalfOpen: true });
    try {
      await listenPrivately(server, path);
    } catch (err) {
      throw new KubepairError('KP_ERR_CONTROL_LISTEN', `${path}: ${(err as Error).message}`, { cause: err });
    }
    const info = await lstat(path);
    if ((info.mode & 0o777) !== 0o600) {
      // Defence in depth: a platform that ignored the umask for sockets.
      server.close();
      throw new KubepairError('KP_ERR_CONTROL_LISTEN', `${path} was created with mode ${(info.mode & 0o777).toString(8)}, not 0600`);
    }
    return new ControlServer(path, server, limits);
  }

  /**
   * Offer `command`: a request naming it has its `args` checked against `args` (a refusal is
   * answered KP_ERR_CONTROL_REQUEST_INVALID) and handed to `handler`, whose result (JSON) is the
   * answer. A command is registered once.
   */
  register<S extends z.ZodType>(command: string, args: S, handler: (args: z.infer<S>) => unknown): void {
    if (!ControlCommandNameSchema.safeParse(command).success) throw new KubepairError('KP_ERR_INTERNAL', `invalid control command name ${JSON.stringify(command)}`);
    if (this.#commands.has(command)) throw new KubepairError('KP_ERR_INTERNAL', `control command ${command} is registered twice`);
    this.#commands.set(command, { args, handler });
  }

  /** Stop listening, cut every open connection, remove the socket (idempotent). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      process.off('exit', this.#removeOnExit);
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const socket of this.#connections) socket.destroy();
      await closed;
      await unlink(this.path).catch(() => undefined); // libuv may have removed it already
    })();
    return this.#closing;
  }

  #accept(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    const busy = this.#slots >= this.#limits.maxConnections || this.#closing !== undefined;
    this.#connections.add(socket);
    socket.once('close', () => this.#connections.delete(socket));
    if (busy) {
      // Answered at once, its input dropped; it holds no slot but is cut like any other when it lingers.
      socket.resume();
      socket.end(`${JSON.stringify(errorAnswer(new KubepairError('KP_ERR_CONTROL_BUSY', `at most ${this.#limits.maxConnections} at once`)))}\n`);
      const cut = setTimeout(() => socket.destroy(), this.#limits.requestTimeoutMs);
      socket.once('close', () => clearTimeout(cut));
      return;
    }
    this.#slots += 1;
    socket.once('close', () => (this.#slots -= 1));
    const chunks: Buffer[] = [];
    let size = 0;
    let state: 'reading' | 'handling' | 'answered' = 'reading';
    const answer = (response: ControlResponse): void => {
      if (state === 'answered' || socket.destroyed) return;
      state = 'answered';
      clearTimeout(readTimer);
      let line: string;
      try {
        line = JSON.stringify(response);
      } catch {
        line = JSON.stringify(errorAnswer(new KubepairError('KP_ERR_INTERNAL', 'the answer cannot be serialized')));
      }
      socket.end(`${line}\n`);
    };
    const readTimer = setTimeout(() => {
      answer(errorAnswer(new KubepairError('KP_ERR_CONTROL_TIMEOUT', `no complete request line within ${this.#limits.requestTimeoutMs} ms`)));
    }, this.#limits.requestTimeoutMs);
    const lifeTimer = setTimeout(() => socket.destroy(), this.#limits.connectionTimeoutMs);
    socket.once('close', () => {
      clearTimeout(readTimer);
      clearTimeout(lifeTimer);
    });
    socket.on('data', (chunk: Buffer) => {
      if (state !== 'reading') return; // one request per connection: anything after the line is ignored
      const newline = chunk.indexOf(0x0a);
      const part = newline < 0 ? chunk : chunk.subarray(0, newline);
      // Counted before it is kept: an over-long line is refused at the first byte too many.
      if (size + part.length + (newline < 0 ? 0 : 1) > this.#limits.requestMaxBytes) {
        answer(errorAnswer(new KubepairError('KP_ERR_CONTROL_REQUEST_TOO_LARGE', `at most ${this.#limits.requestMaxBytes} bytes`)));
        return;
      }
      chunks.push(part);
      size += part.length;
      if (newline < 0) return;
      state = 'handling';
      clearTimeout(readTimer);
      void this.#dispatch(Buffer.concat(chunks)).then(answer);
    });
    socket.on('end', () => {
      if (state === 'reading') answer(errorAnswer(new KubepairError('KP_ERR_CONTROL_REQUEST_INVALID', 'the connection ended before the request line did')));
    });
  }

  /** Answer one request line; never throws. */
  async #dispatch(line: Buffer): Promise<ControlResponse> {
    try {
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(line), refusePrototypeKeys);
      } catch (err) {
        throw err instanceof KubepairError ? err : new KubepairError('KP_ERR_CONTROL_REQUEST_INVALID', 'the request line is not UTF-8 JSON');
      }
      const request = parseWith(ControlRequestSchema, json, 'KP_ERR_CONTROL_REQUEST_INVALID');
      const command = this.#commands.get(request.command);
      if (command === undefined) throw new KubepairError('KP_ERR_CONTROL_COMMAND_UNKNOWN', request.command);
      const args = parseWith(command.args, request.args ?? {}, 'KP_ERR_CONTROL_REQUEST_INVALID', request.command);
      const result: unknown = await command.handler(args as never);
      return { ok: true, result: result ?? null };
    } catch (err) {
      return errorAnswer(toKubepairError(err));
    }
  }
}

/**
 * JSON.parse reviver: refuse `__proto__` anywhere in a request. JSON.parse makes it a plain own
 * key, and zod's strict objects pass it by without calling it unknown, so a request could carry
 * a key that some later spread or merge would treat as the prototype.
 */
function refusePrototypeKeys(key: string, value: unknown): unknown {
  if (key === '__proto__') throw new KubepairError('KP_ERR_CONTROL_REQUEST_INVALID', 'a request may not use the key __proto__');
  return value;
}

/** The answer for `error`: its code and message (an internal error says no more than the registry's summary). */
function errorAnswer(error: KubepairError): ControlResponse {
  const message = error.code === 'KP_ERR_INTERNAL' ? new KubepairError('KP_ERR_INTERNAL').message : error.message;
  return { ok: false, error: { code: error.code, message } };
}
