/**
 * The client side of the local control socket (docs/usage.md "Session control"): find the
 * sockets of this user's running `share` and `connect` processes, pick one (the only one, or the
 * one `--pid` names), send it one command and read its one answer (control-message.ts).
 *
 * Untrusted input: the answer line (bounded by CONTROL_RESPONSE_MAX_BYTES and the timeout,
 * checked against the answer schema; an error code this release does not know is reported as
 * KP_ERR_CONTROL_BAD_RESPONSE) and the control directory's entries (control-socket-path.ts).
 * The caller prints any text from an answer through inertText.
 */
import { basename } from 'node:path';
import { connect } from 'node:net';
import type { ErrorCode } from '../errors/index.js';
import { ERRORS, KubepairError } from '../errors/index.js';
import { CONTROL_CLIENT_TIMEOUT_MS, CONTROL_RESPONSE_MAX_BYTES } from '../limits.js';
import { parseWith } from '../protocol/validate.js';
import { CONTROL_WIRE_VERSION, ControlResponseSchema } from './control-message.js';
import type { ControlRole, ControlSocketEntry } from './control-socket-path.js';
import { findControlSockets, parseControlSocketName, removeIfStale } from './control-socket-path.js';

export type { ControlRole, ControlSocketEntry } from './control-socket-path.js';
export { findControlSockets } from './control-socket-path.js';

export interface SendControlOptions {
  /** How long to wait for the answer (default CONTROL_CLIENT_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

/** The error an answer carries, as a KubepairError of the same code (its detail kept). */
function answeredError(code: string, message: string): KubepairError {
  if (!Object.hasOwn(ERRORS, code)) return new KubepairError('KP_ERR_CONTROL_BAD_RESPONSE', `unknown error code ${code}: ${message}`);
  const summary = ERRORS[code as ErrorCode].message;
  if (message === summary) return new KubepairError(code as ErrorCode);
  const detail = message.startsWith(`${summary}: `) ? message.slice(summary.length + 2) : message;
  return new KubepairError(code as ErrorCode, detail);
}

/**
 * Send `command` with `args` to the control socket at `path` and resolve with the answer's
 * `result`; an error answer rejects with a KubepairError of its code. A socket nobody listens on
 * is removed (stale) and reported as KP_ERR_CONTROL_UNREACHABLE.
 */
export function sendControlCommand(path: string, command: string, args: Record<string, unknown> = {}, options: SendControlOptions = {}): Promise<unknown> {
  const timeoutMs = options.timeoutMs ?? CONTROL_CLIENT_TIMEOUT_MS;
  return new Promise<unknown>((resolve, reject) => {
    const socket = connect(path);
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (error: KubepairError | undefined, result?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolve(result);
    };
    const timer = setTimeout(() => finish(new KubepairError('KP_ERR_CONTROL_TIMEOUT', `no answer from ${path} within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      socket.end(`${JSON.stringify({ v: CONTROL_WIRE_VERSION, command, args })}\n`);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      const unreachable = new KubepairError('KP_ERR_CONTROL_UNREACHABLE', `${path}: ${err.code ?? err.message}`, { cause: err });
      const named = parseControlSocketName(basename(path));
      if (err.code === 'ECONNREFUSED' && named !== undefined) {
        void removeIfStale(path, named.pid).finally(() => finish(unreachable));
      } else {
        finish(unreachable);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      const newline = chunk.indexOf(0x0a);
      const part = newline < 0 ? chunk : chunk.subarray(0, newline);
      if (size + part.length > CONTROL_RESPONSE_MAX_BYTES) {
        finish(new KubepairError('KP_ERR_CONTROL_BAD_RESPONSE', `an answer longer than ${CONTROL_RESPONSE_MAX_BYTES} bytes`));
        return;
      }
      chunks.push(part);
      size += part.length;
      if (newline >= 0) settle();
    });
    socket.on('end', () => settle());
    function settle(): void {
      if (settled) return;
      try {
        let json: unknown;
        try {
          json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)));
        } catch {
          throw new KubepairError('KP_ERR_CONTROL_BAD_RESPONSE', 'the answer is not one line of UTF-8 JSON');
        }
        const response = parseWith(ControlResponseSchema, json, 'KP_ERR_CONTROL_BAD_RESPONSE');
        if (response.ok) finish(undefined, response.result);
        else finish(answeredError(response.error.code, response.error.message));
      } catch (err) {
        finish(err instanceof KubepairError ? err : new KubepairError('KP_ERR_CONTROL_BAD_RESPONSE', undefined, { cause: err }));
      }
    }
  });
}

export interface ChooseControlSocketOptions {
  /** Only processes of this role. */
  readonly role?: ControlRole;
  /** The process the user named with `--pid`. */
  readonly pid?: number;
  readonly env?: NodeJS.ProcessEnv;
}

function describeEntry(entry: ControlSocketEntry): string {
  return `${entry.role} (pid ${entry.pid})`;
}

/**
 * The control socket to talk to: the one `pid` names, or the only running process (of `role`).
 * None: KP_ERR_CONTROL_NOT_RUNNING; several and no pid: KP_ERR_CONTROL_AMBIGUOUS naming them.
 */
export async function chooseControlSocket(options: ChooseControlSocketOptions = {}): Promise<ControlSocketEntry> {
  const found = await findControlSockets({ ...(options.role !== undefined && { role: options.role }), ...(options.env !== undefined && { env: options.env }) });
  const what = options.role === undefined ? 'share or connect' : options.role;
  if (options.pid !== undefined) {
    const entry = found.find((candidate) => candidate.pid === options.pid);
    if (entry === undefined) throw new KubepairError('KP_ERR_CONTROL_NOT_RUNNING', `no ${what} with pid ${options.pid}`);
    return entry;
  }
  const [only, ...others] = found;
  if (only === undefined) throw new KubepairError('KP_ERR_CONTROL_NOT_RUNNING', `no ${what} is running (started by this user, with this runtime directory)`);
  if (others.length > 0) throw new KubepairError('KP_ERR_CONTROL_AMBIGUOUS', found.map(describeEntry).join(', '));
  return only;
}

/** Send `command` to the process chooseControlSocket picks (the only one of `role`, or `pid`). */
export async function sendToRunning(target: { readonly role?: ControlRole | undefined; readonly pid?: number | undefined }, command: string, args: Record<string, unknown>): Promise<unknown> {
  const socket = await chooseControlSocket({ ...(target.role !== undefined && { role: target.role }), ...(target.pid !== undefined && { pid: target.pid }) });
  return sendControlCommand(socket.path, command, args);
}
