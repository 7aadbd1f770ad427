/**
 * The asciicast v2 format (https://docs.asciinema.org/manual/asciicast/v2/), which `asciinema
 * play` and asciinema-player read: newline-delimited JSON, a header object on the first line
 * (`version` 2, `width`, `height`, optional `timestamp` and `title`), then one event per line,
 * `[seconds since the start, code, data]`, with codes `o` (output), `i` (input), `r` (resize,
 * data `COLSxROWS`) and `m` (marker). Used to write recordings (session-recording.ts) and to read
 * them back (`kubepair audit play`).
 *
 * Untrusted input when reading: every line of the file. Lines are parsed as JSON only after the
 * caller bounded their length; anything that is not the shape above is refused with a reason.
 */

/** The event codes of asciicast v2. */
export type AsciicastCode = 'o' | 'i' | 'r' | 'm';

export interface AsciicastHeader {
  readonly version: 2;
  readonly width: number;
  readonly height: number;
  /** Unix time of the start, in whole seconds. */
  readonly timestamp?: number;
  readonly title?: string;
  /** Longest pause a player should show between events, in seconds. */
  readonly idle_time_limit?: number;
}

export interface AsciicastEvent {
  /** Seconds since the start of the recording. */
  readonly time: number;
  readonly code: AsciicastCode;
  readonly data: string;
}

const CODES: ReadonlySet<string> = new Set(['o', 'i', 'r', 'm']);

/** The header as its line (with the newline). */
export function headerLine(header: AsciicastHeader): string {
  return `${JSON.stringify(header)}\n`;
}

/** One event as its line (with the newline); the time is written with microsecond precision. */
export function eventLine(seconds: number, code: AsciicastCode, data: string): string {
  return `[${seconds.toFixed(6)},${JSON.stringify(code)},${JSON.stringify(data)}]\n`;
}

function parseJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

function isDimension(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** Read the header line; returns why it is not an asciicast v2 header. */
export function parseHeader(line: string): AsciicastHeader | { readonly problem: string } {
  const parsed = parseJson(line);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { problem: 'the first line is not a JSON object' };
  const header = parsed as Record<string, unknown>;
  if (header['version'] !== 2) return { problem: `the header says version ${JSON.stringify(header['version'])}, not 2` };
  if (!isDimension(header['width']) || !isDimension(header['height'])) return { problem: 'the header has no positive integer width and height' };
  const idle = header['idle_time_limit'];
  return {
    version: 2,
    width: header['width'],
    height: header['height'],
    ...(typeof header['timestamp'] === 'number' && { timestamp: header['timestamp'] }),
    ...(typeof header['title'] === 'string' && { title: header['title'] }),
    ...(typeof idle === 'number' && Number.isFinite(idle) && idle >= 0 && { idle_time_limit: idle }),
  };
}

/** Read one event line; returns why it is not an asciicast v2 event. */
export function parseEvent(line: string): AsciicastEvent | { readonly problem: string } {
  const parsed = parseJson(line);
  if (!Array.isArray(parsed) || parsed.length !== 3) return { problem: 'not a JSON array of three elements' };
  const [time, code, data] = parsed as unknown[];
  if (typeof time !== 'number' || !Number.isFinite(time) || time < 0) return { problem: 'the time is not a non-negative number' };
  if (typeof code !== 'string' || !CODES.has(code)) return { problem: `unknown event code ${JSON.stringify(code).slice(0, 20)}` };
  if (typeof data !== 'string') return { problem: 'the data is not a string' };
  return { time, code: code as AsciicastCode, data };
}
