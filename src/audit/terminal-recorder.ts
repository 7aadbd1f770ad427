/**
 * Records one exec/attach session from the bytes the agent splices (docs/audit.md "Recorded
 * sessions"; issue 14): both directions are read as WebSocket frames (websocket-frames.ts), each
 * message as the Kubernetes channel protocol (`channel.k8s.io` .. `v5.channel.k8s.io`: the first
 * byte of a message names its channel: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize, 255 close
 * in v5), and written to a SessionRecording:
 *
 * - stdout and stderr become output events (`o`), decoded as UTF-8 as a stream (a character
 *   split across frames stays whole; bytes that are not UTF-8 become U+FFFD);
 * - resize messages (`{"Width":W,"Height":H}`, at most RECORDING_RESIZE_MESSAGE_MAX_BYTES) become
 *   `r` events;
 * - stdin becomes input events (`i`) only when the sharer asked for it, one typed line per event,
 *   passed through the one redaction module (redact.ts) first; a line longer than
 *   RECORDING_INPUT_LINE_MAX_CHARS is redacted and recorded in pieces of that size. A line whose
 *   first keystroke comes while the last output line is a password prompt (password-prompt.ts)
 *   is recorded as PASSWORD_LINE_REDACTED, written at that first keystroke, and its line end;
 *   its text is never held. Such a line ends at CR or LF, or at Ctrl-C or Ctrl-D (which end a
 *   password read too); the next line is judged afresh, so one typed while the prompt is still
 *   the last output line is redacted too;
 * - the error channel (the exit Status), the v5 close channel and control frames are not terminal
 *   content and are not recorded.
 *
 * The first failure — a frame that breaks RFC 6455, the size bound, a write that fails — stops
 * the recording, is reported once through `onFailure`, and is named in a last marker event when
 * the file can still take one; what the caller does then (end the session, or go on unrecorded
 * with --recording-fail-open) is its choice. Untrusted input: every byte from both sides.
 */
import { KubepairError, toKubepairError } from '../errors/index.js';
import { RECORDING_INPUT_LINE_MAX_CHARS, RECORDING_RESIZE_MESSAGE_MAX_BYTES, RECORDING_TERMINAL_MAX_CELLS } from '../limits.js';
import { PASSWORD_LINE_REDACTED, PromptWatcher } from './password-prompt.js';
import { redactString } from './redact.js';
import type { RecordingSummary, SessionRecording } from './session-recording.js';
import type { FrameDirection } from './websocket-frames.js';
import { WebSocketFrameReader } from './websocket-frames.js';

/** The WebSocket subprotocols whose messages are a channel byte and raw data (base64 forms are not recorded). */
export const RECORDED_CHANNEL_PROTOCOLS: ReadonlySet<string> = new Set(['channel.k8s.io', 'v2.channel.k8s.io', 'v3.channel.k8s.io', 'v4.channel.k8s.io', 'v5.channel.k8s.io']);

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const RESIZE = 4;

/** Where the first keystroke that ends a line typed at a password prompt is (CR, LF, Ctrl-C, Ctrl-D), or -1. */
function promptLineEnd(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0x03 || c === 0x04) return i;
  }
  return -1;
}

/** Where the typed text is: between lines, in an ordinary line (held), or in a line typed at a password prompt (dropped). */
type TypedLine = 'between' | 'ordinary' | 'prompt';

export interface TerminalRecorderOptions {
  /** Record what the client types (redacted), not only what the terminal shows. */
  readonly input: boolean;
  /** The first failure; called once, after which nothing more is recorded. */
  readonly onFailure?: (error: KubepairError) => void;
}

/** The recording's outcome, for the audit record. */
export interface TerminalRecordingResult extends RecordingSummary {
  /** Why recording stopped before the session ended, when it did. */
  readonly error?: KubepairError;
}

/** Splits one direction's messages into (channel, bytes). */
class ChannelMessages {
  #channel: number | undefined;
  #started = false;
  constructor(readonly deliver: (channel: number, bytes: Buffer) => void, readonly end: (channel: number) => void) {}
  messageStart(): void {
    this.#started = true;
    this.#channel = undefined;
  }
  data(bytes: Buffer): void {
    if (!this.#started) return;
    let rest = bytes;
    if (this.#channel === undefined) {
      this.#channel = rest[0]!;
      rest = rest.subarray(1);
    }
    if (rest.length > 0) this.deliver(this.#channel, rest);
  }
  messageEnd(): void {
    if (this.#channel !== undefined) this.end(this.#channel);
    this.#started = false;
    this.#channel = undefined;
  }
}

export class TerminalRecorder {
  readonly #recording: SessionRecording;
  readonly #options: TerminalRecorderOptions;
  readonly #fromClient: WebSocketFrameReader;
  readonly #fromServer: WebSocketFrameReader;
  readonly #stdout = new TextDecoder('utf-8');
  readonly #stderr = new TextDecoder('utf-8');
  readonly #stdin = new TextDecoder('utf-8');
  /** Typed text not yet recorded: the current line, until its end (bounded). */
  #typed = '';
  #line: TypedLine = 'between';
  /** Follows the output to tell a password prompt (only when input is recorded). */
  readonly #prompt: PromptWatcher | undefined;
  /** The resize message being collected, or undefined when it grew past its bound. */
  #resize: Buffer[] | undefined = [];
  #resizeBytes = 0;
  #error: KubepairError | undefined;

  constructor(recording: SessionRecording, options: TerminalRecorderOptions) {
    this.#recording = recording;
    this.#options = options;
    this.#prompt = options.input ? new PromptWatcher() : undefined;
    this.#fromClient = this.#reader('client', new ChannelMessages((channel, bytes) => this.#clientData(channel, bytes), (channel) => this.#clientEnd(channel)));
    this.#fromServer = this.#reader('server', new ChannelMessages((channel, bytes) => this.#serverData(channel, bytes), () => undefined));
  }

  #reader(direction: FrameDirection, messages: ChannelMessages): WebSocketFrameReader {
    return new WebSocketFrameReader(direction, {
      messageStart: () => messages.messageStart(),
      data: (bytes) => messages.data(bytes),
      messageEnd: () => messages.messageEnd(),
      error: (reason) => this.#fail(new KubepairError('KP_ERR_RECORDING_STREAM', `the ${direction}'s stream: ${reason}`)),
    });
  }

  /** Why recording stopped, when it did. */
  get error(): KubepairError | undefined {
    return this.#error;
  }

  /** Bytes the client sent, as they pass. */
  fromClient(chunk: Buffer): void {
    if (this.#error === undefined) this.#fromClient.push(chunk);
  }

  /** Bytes the API server sent, as they pass. */
  fromServer(chunk: Buffer): void {
    if (this.#error === undefined) this.#fromServer.push(chunk);
  }

  /** Record any typed text still held, close the file, and say what it holds. */
  finish(): TerminalRecordingResult {
    if (this.#error === undefined) {
      this.#record('o', this.#stdout.decode() + this.#stderr.decode());
      if (this.#options.input) {
        // The rest of a line typed at a prompt is dropped: its marker is already recorded.
        const rest = this.#stdin.decode();
        if (this.#line !== 'prompt') this.#typed += rest;
        if (this.#typed !== '') this.#record('i', redactString(this.#typed));
        this.#typed = '';
      }
    }
    const summary = this.#recording.finish();
    return { ...summary, ...(this.#error !== undefined && { error: this.#error }) };
  }

  #fail(error: KubepairError): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    try {
      this.#recording.marker(`recording stopped: ${error.message}`);
    } catch {
      // The disk refused the marker too: the audit record still names the failure.
    }
    this.#options.onFailure?.(error);
  }

  #record(code: 'o' | 'i' | 'r', data: string): void {
    if (this.#error !== undefined || data === '') return;
    try {
      this.#recording.event(code, data);
    } catch (err) {
      this.#fail(toKubepairError(err, 'KP_ERR_RECORDING_WRITE'));
    }
  }

  #serverData(channel: number, bytes: Buffer): void {
    let text: string;
    if (channel === STDOUT) text = this.#stdout.decode(bytes, { stream: true });
    else if (channel === STDERR) text = this.#stderr.decode(bytes, { stream: true });
    else return;
    this.#record('o', text);
    this.#prompt?.output(text);
  }

  #clientData(channel: number, bytes: Buffer): void {
    if (channel === STDIN && this.#options.input) this.#typedText(this.#stdin.decode(bytes, { stream: true }));
    else if (channel === RESIZE && this.#resize !== undefined) {
      this.#resizeBytes += bytes.length;
      if (this.#resizeBytes > RECORDING_RESIZE_MESSAGE_MAX_BYTES) this.#resize = undefined;
      else this.#resize.push(bytes);
    }
  }

  #clientEnd(channel: number): void {
    if (channel !== RESIZE) return;
    const parts = this.#resize;
    this.#resize = [];
    this.#resizeBytes = 0;
    if (parts === undefined) return;
    const size = terminalSize(Buffer.concat(parts).toString('utf8'));
    if (size !== undefined) this.#record('r', `${size.width}x${size.height}`);
  }

  /**
   * Record each typed line once it ends (redacted as a whole line), holding the rest, bounded;
   * a line begun at a password prompt is recorded as PASSWORD_LINE_REDACTED at once, its text dropped.
   */
  #typedText(text: string): void {
    let rest = text;
    // Each round removes at least one character from `rest`, or returns.
    while (rest !== '') {
      let data = '';
      if (this.#line === 'between') {
        // The line's first keystroke: judged by what the terminal shows now. A bare line end reveals nothing.
        const first = rest.charCodeAt(0);
        const atPrompt = first !== 0x0a && first !== 0x0d && this.#prompt?.atPrompt() === true;
        this.#line = atPrompt ? 'prompt' : 'ordinary';
        if (atPrompt) data = PASSWORD_LINE_REDACTED;
      }
      if (this.#line === 'prompt') {
        const end = promptLineEnd(rest);
        if (end < 0) {
          this.#record('i', data);
          return;
        }
        this.#record('i', data + rest[end]!);
        this.#line = 'between';
        rest = rest.slice(end + 1);
        continue;
      }
      const end = rest.search(/[\r\n]/);
      if (end >= 0) {
        this.#record('i', redactString(this.#typed + rest.slice(0, end + 1)));
        this.#typed = '';
        this.#line = 'between';
        rest = rest.slice(end + 1);
        continue;
      }
      this.#typed += rest;
      // Each round removes RECORDING_INPUT_LINE_MAX_CHARS characters; the line goes on.
      while (this.#typed.length >= RECORDING_INPUT_LINE_MAX_CHARS) {
        this.#record('i', redactString(this.#typed.slice(0, RECORDING_INPUT_LINE_MAX_CHARS)));
        this.#typed = this.#typed.slice(RECORDING_INPUT_LINE_MAX_CHARS);
      }
      return;
    }
  }
}

/** A resize message's size, or undefined when it is not one kubectl would send. */
function terminalSize(text: string): { width: number; height: number } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const { Width: width, Height: height } = parsed as Record<string, unknown>;
  const valid = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 0 && n <= RECORDING_TERMINAL_MAX_CELLS;
  return valid(width) && valid(height) ? { width, height } : undefined;
}
