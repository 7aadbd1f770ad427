/**
 * Replaying a session recording in the terminal (`kubepair audit play`; docs/audit.md "Recorded
 * sessions"; issue 14). The file is read as a stream of lines (each at most
 * RECORDING_LINE_MAX_BYTES, valid UTF-8), the first must be an asciicast v2 header, and every
 * output event (`o`) is written in order, waiting the recorded time between events: divided by
 * `speed`, and never longer than `idleLimitS`. Markers (`m`) — a recording that stopped says
 * why in one — are reported to `notice`; input (`i`) and resize (`r`) events are not replayed.
 *
 * Untrusted input: the whole file. The output events are what the container printed, so they
 * reach the terminal as they are (like `cat` of a file someone else wrote: escape sequences do
 * what they do); with `inert` every event is shown through src/terminal/inert-text.ts instead,
 * line by line, so nothing in it can act on the terminal.
 */
import { createReadStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubepairError } from '../errors/index.js';
import { RECORDING_LINE_MAX_BYTES, RECORDING_PLAY_DEFAULT_IDLE_LIMIT_S } from '../limits.js';
import { inertText } from '../terminal/inert-text.js';
import { parseEvent, parseHeader } from './asciicast.js';

export interface ReplayOptions {
  /** Playback speed factor (> 0); 2 plays twice as fast. */
  readonly speed: number;
  /** Longest pause between two events, in seconds (>= 0); undefined: the header's idle_time_limit, else RECORDING_PLAY_DEFAULT_IDLE_LIMIT_S. */
  readonly idleLimitS: number | undefined;
  /** Show the output made inert instead of raw. */
  readonly inert: boolean;
  /** Where output goes. */
  readonly write: (text: string) => void;
  /** Markers in the recording (why it stopped, ...). */
  readonly notice: (seconds: number, text: string) => void;
  readonly signal?: AbortSignal;
}

const NEWLINE = 0x0a;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The lines of a file, each bounded, as text; throws KP_ERR_RECORDING_INVALID on a line too long or not UTF-8. */
async function* lines(path: string): AsyncGenerator<{ text: string; number: number; partial: boolean }> {
  let carry: Buffer = Buffer.alloc(0);
  let number = 0;
  const stream = createReadStream(path, { highWaterMark: 64 * 1024 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let data = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
      let newline = data.indexOf(NEWLINE);
      // Each round consumes one line of the chunk.
      while (newline >= 0) {
        number++;
        yield { text: decodeLine(data.subarray(0, newline), number), number, partial: false };
        data = data.subarray(newline + 1);
        newline = data.indexOf(NEWLINE);
      }
      if (data.length > RECORDING_LINE_MAX_BYTES) throw invalid(`line ${number + 1} is longer than ${RECORDING_LINE_MAX_BYTES} bytes`);
      carry = Buffer.from(data);
    }
  } catch (err) {
    if (err instanceof KubepairError) throw err;
    const code = err instanceof Error && 'code' in err ? String(err.code) : 'unknown error';
    throw new KubepairError('KP_ERR_RECORDING_INVALID', `${path} cannot be read (${code})`, { cause: err });
  } finally {
    stream.destroy();
  }
  // A last line without its newline: a recording cut while it was written (a full disk).
  if (carry.length > 0) yield { text: carry.toString('utf8'), number: number + 1, partial: true };
}

function decodeLine(bytes: Buffer, number: number): string {
  if (bytes.length > RECORDING_LINE_MAX_BYTES) throw invalid(`line ${number} is longer than ${RECORDING_LINE_MAX_BYTES} bytes`);
  try {
    return UTF8.decode(bytes);
  } catch {
    throw invalid(`line ${number} is not valid UTF-8`);
  }
}

function invalid(detail: string): KubepairError {
  return new KubepairError('KP_ERR_RECORDING_INVALID', detail);
}

/** Terminal output made inert, keeping its line structure (CRLF and LF end a line). */
function inertOutput(data: string): string {
  return data
    .split(/\r\n|\n/)
    .map((line) => inertText(line, { maxChars: Number.MAX_SAFE_INTEGER }))
    .join('\n');
}

/** Replay `path`; resolves after the last event. Throws KP_ERR_RECORDING_INVALID for a file that is not asciicast v2. */
export async function replayRecording(path: string, options: ReplayOptions): Promise<{ events: number; seconds: number }> {
  let idleLimit: number | undefined = options.idleLimitS;
  let previous = 0;
  let events = 0;
  let sawHeader = false;
  for await (const line of lines(path)) {
    if (!sawHeader) {
      const header = parseHeader(line.text);
      if ('problem' in header) throw invalid(`line 1: ${header.problem}`);
      idleLimit ??= header.idle_time_limit ?? RECORDING_PLAY_DEFAULT_IDLE_LIMIT_S;
      sawHeader = true;
      continue;
    }
    if (line.text === '') continue;
    const event = parseEvent(line.text);
    if ('problem' in event) {
      if (line.partial) {
        options.notice(previous, `line ${line.number} is cut off: the recording was cut while it was written (the audit record says why)`);
        break;
      }
      throw invalid(`line ${line.number}: ${event.problem}`);
    }
    if (event.code !== 'o' && event.code !== 'm') continue;
    const gap = Math.max(0, event.time - previous);
    previous = Math.max(previous, event.time);
    const wait = Math.min(gap, idleLimit ?? RECORDING_PLAY_DEFAULT_IDLE_LIMIT_S) / options.speed;
    if (wait > 0) await sleep(wait * 1000, undefined, options.signal !== undefined ? { signal: options.signal } : {});
    if (event.code === 'm') options.notice(event.time, event.data);
    else options.write(options.inert ? inertOutput(event.data) : event.data);
    events++;
  }
  if (!sawHeader) throw invalid('the file is empty');
  return { events, seconds: previous };
}
