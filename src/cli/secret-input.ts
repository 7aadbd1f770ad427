/**
 * Reading a secret the user types or pipes in: the relay token of `kubepair token set` and the
 * pairing code of `kubepair connect`. From a prompt when standard input is a terminal (in raw
 * mode: the token is not echoed, the code is, in printable ASCII only), else from standard input
 * (a pipe or a file: `kubepair token set < token.txt`, `echo CODE | kubepair connect`). Either
 * way the input is bounded, surrounding blanks and line ends are dropped, and nothing of it is
 * ever written back except the echoed code. The secret never comes from an argument, so it
 * stays out of `ps` and shell history.
 *
 * The prompt ends on Enter, Ctrl-D or end of input (resolving with what was typed, maybe
 * nothing), on Ctrl-C or Ctrl-\ (KP_ERR_INTERRUPTED: raw mode turns them into bytes, not signals),
 * or when the caller's AbortSignal fires (a real signal); the terminal is restored in every
 * case. Untrusted input: the bytes read (validated by the caller).
 */
import { KubepairError, toKubepairError } from '../errors/index.js';
import { TOKEN_INPUT_MAX_BYTES } from '../limits.js';

/** The terminal side of standard input that a prompt needs. */
export interface SecretTerminal extends NodeJS.EventEmitter {
  readonly isTTY?: boolean | undefined;
  setRawMode(mode: boolean): unknown;
  resume(): unknown;
  pause(): unknown;
}

export interface PromptOptions {
  /** Longest input, in characters (default TOKEN_INPUT_MAX_BYTES). */
  readonly maxChars?: number;
  /** Show what is typed, printable ASCII only (the pairing code); default: show nothing. */
  readonly echo?: boolean;
  /** Stop reading (restoring the terminal) and reject with the signal's reason. */
  readonly signal?: AbortSignal;
  /** What an over-long input is, for the error message. */
  readonly what?: string;
}

const ENTER = new Set(['\r', '\n']);
const CTRL_D = '\u0004';
/**
 * Keys the terminal would turn into signals in canonical mode; raw mode delivers them as bytes,
 * so the prompt ends as the signal would have ended it (Ctrl-\ used to be dropped silently).
 */
const SIGNAL_KEYS: ReadonlyMap<string, PromptSignal> = new Map([
  ['\u0003', 'SIGINT'],
  ['\u001c', 'SIGQUIT'],
]);

const QUIT_DETAIL = 'Ctrl-\\ at the prompt';

/** A signal a key at the prompt stands for. */
export type PromptSignal = 'SIGINT' | 'SIGQUIT';

/** The signal a prompt's KP_ERR_INTERRUPTED stands for (SIGINT unless it was Ctrl-\). */
export function promptSignal(error: KubepairError): PromptSignal {
  return error.message.endsWith(QUIT_DETAIL) ? 'SIGQUIT' : 'SIGINT';
}
const BACKSPACE = new Set(['\u007f', '\b']);

function abortReason(signal: AbortSignal): KubepairError {
  return toKubepairError(signal.reason, 'KP_ERR_ABORTED');
}

/**
 * Prompt on `output` and read one line from the terminal `input` in raw mode. Backspace edits;
 * Ctrl-C and Ctrl-\ reject with KP_ERR_INTERRUPTED (promptSignal says which); Enter, Ctrl-D or
 * the end of input end the line.
 */
export function promptLine(input: SecretTerminal, output: NodeJS.WritableStream, prompt: string, options: PromptOptions = {}): Promise<string> {
  const maxChars = options.maxChars ?? TOKEN_INPUT_MAX_BYTES;
  const echo = options.echo === true;
  const signal = options.signal;
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(abortReason(signal));
      return;
    }
    let line = '';
    // Raw mode before the prompt shows: a key typed as soon as it shows must be read raw. Set
    // after it, a Ctrl-D that wins the race meets the terminal still in canonical mode, which
    // takes it as an end-of-file mark that a raw read never delivers (checked on Linux), and
    // the prompt waits for good (seen under load in test/e2e/connect-signals).
    input.setRawMode(true);
    output.write(prompt);
    input.resume();
    const finish = (error: KubepairError | undefined): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      signal?.removeEventListener('abort', onAbort);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (error === undefined) resolve(line.trim());
      else reject(error);
    };
    const onEnd = (): void => finish(undefined);
    const onAbort = (): void => finish(abortReason(signal!));
    const onData = (chunk: Buffer | string): void => {
      for (const char of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ENTER.has(char) || char === CTRL_D) {
          finish(undefined);
          return;
        }
        const signalled = SIGNAL_KEYS.get(char);
        if (signalled !== undefined) {
          finish(new KubepairError('KP_ERR_INTERRUPTED', signalled === 'SIGQUIT' ? QUIT_DETAIL : 'Ctrl-C at the prompt'));
          return;
        }
        if (BACKSPACE.has(char)) {
          if (echo && line.length > 0) output.write('\b \b');
          line = line.slice(0, -1);
        } else if (echo ? char >= ' ' && char <= '~' : char >= ' ') {
          line += char;
          if (echo) output.write(char);
        }
        if (line.length > maxChars) {
          finish(new KubepairError('KP_ERR_INVALID_ARGUMENT', `the input is longer than ${maxChars} characters${options.what !== undefined ? `; ${options.what}` : ''}`));
          return;
        }
      }
    };
    input.on('data', onData);
    input.on('end', onEnd);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Prompt for a relay token without echo. Ctrl-C aborts (KP_ERR_ABORTED: nothing is stored);
 * Enter or Ctrl-D ends the line.
 */
export async function promptHidden(input: SecretTerminal, output: NodeJS.WritableStream, prompt: string, maxChars = TOKEN_INPUT_MAX_BYTES): Promise<string> {
  try {
    return await promptLine(input, output, prompt, { maxChars, what: 'a relay token is 48' });
  } catch (err) {
    if (err instanceof KubepairError && err.code === 'KP_ERR_INTERRUPTED') throw new KubepairError('KP_ERR_ABORTED', 'no token was stored', { cause: err });
    throw err;
  }
}

/** Read all of a non-terminal `input` (at most `maxBytes`), trimmed. */
export async function readSecretStream(input: AsyncIterable<Buffer | string>, maxBytes = TOKEN_INPUT_MAX_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    size += buffer.length;
    if (size > maxBytes) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `standard input is longer than ${maxBytes} bytes; a relay token is 48 characters`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8').trim();
}

/**
 * Read the first line of a non-terminal `input` (a pipe, a file), trimmed: up to the first line
 * feed or the end of input, at most `maxBytes`. Reading stops there; the stream is paused, not
 * closed, so the file descriptor stays what it was for a child that inherits it.
 */
export function readFirstLine(input: NodeJS.ReadableStream, options: { readonly maxBytes: number; readonly signal?: AbortSignal; readonly what: string }): Promise<string> {
  const signal = options.signal;
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(abortReason(signal));
      return;
    }
    let buffered = Buffer.alloc(0);
    const finish = (result: { line: Buffer } | { error: KubepairError }): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      input.pause();
      if ('error' in result) reject(result.error);
      else resolve(result.line.toString('utf8').trim());
    };
    const onData = (chunk: Buffer | string): void => {
      buffered = Buffer.concat([buffered, typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk]);
      const end = buffered.indexOf(0x0a);
      if (end >= 0 && end <= options.maxBytes) finish({ line: buffered.subarray(0, end) });
      else if (buffered.length > options.maxBytes) {
        finish({ error: new KubepairError('KP_ERR_INVALID_ARGUMENT', `the first line of standard input is longer than ${options.maxBytes} bytes; ${options.what}`) });
      }
    };
    const onEnd = (): void => finish({ line: buffered });
    const onError = (err: Error): void => finish({ error: new KubepairError('KP_ERR_INVALID_ARGUMENT', 'standard input cannot be read', { cause: err }) });
    const onAbort = (): void => finish({ error: abortReason(signal!) });
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    input.resume();
  });
}
