/**
 * Reading a secret the user gives `kubepair token set`: from a prompt that does not echo when
 * standard input is a terminal, else from standard input (a pipe or a file: `kubepair token set
 * < token.txt`, `pass kubepair | kubepair token set`). Either way the input is bounded
 * (TOKEN_INPUT_MAX_BYTES), surrounding blanks and line ends are dropped, and nothing of it is
 * ever written back. The secret never comes from an argument, so it stays out of `ps` and shell
 * history. Untrusted input: the bytes read (validated by the caller).
 */
import { KubepairError } from '../errors/index.js';
import { TOKEN_INPUT_MAX_BYTES } from '../limits.js';

/** The terminal side of standard input that a hidden prompt needs. */
export interface SecretTerminal extends NodeJS.EventEmitter {
  readonly isTTY?: boolean | undefined;
  setRawMode(mode: boolean): unknown;
  resume(): unknown;
  pause(): unknown;
}

const ENTER = new Set(['\r', '\n']);
const CTRL_C = '\u0003';
const CTRL_D = '\u0004';
const BACKSPACE = new Set(['\u007f', '\b']);

/**
 * Prompt on `output` and read one line from the terminal `input` without echo. Backspace
 * edits; Ctrl-C aborts (KP_ERR_ABORTED); Enter or Ctrl-D ends the line.
 */
export function promptHidden(input: SecretTerminal, output: NodeJS.WritableStream, prompt: string, maxChars = TOKEN_INPUT_MAX_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    let line = '';
    output.write(prompt);
    input.setRawMode(true);
    input.resume();
    const finish = (error: KubepairError | undefined): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (error === undefined) resolve(line.trim());
      else reject(error);
    };
    const onEnd = (): void => finish(undefined);
    const onData = (chunk: Buffer | string): void => {
      for (const char of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ENTER.has(char) || char === CTRL_D) {
          finish(undefined);
          return;
        }
        if (char === CTRL_C) {
          finish(new KubepairError('KP_ERR_ABORTED', 'no token was stored'));
          return;
        }
        if (BACKSPACE.has(char)) line = line.slice(0, -1);
        else if (char >= ' ') line += char;
        if (line.length > maxChars) {
          finish(new KubepairError('KP_ERR_INVALID_ARGUMENT', `the input is longer than ${maxChars} characters; a relay token is 48`));
          return;
        }
      }
    };
    input.on('data', onData);
    input.on('end', onEnd);
  });
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
