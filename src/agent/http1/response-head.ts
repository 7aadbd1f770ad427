/**
 * A strict reader of one HTTP/1.1 response head (RFC 9112 §4), for the agent's upgrade
 * connections to the API server: the agent splices an upgraded stream only after it has read a
 * complete `101 Switching Protocols` head itself, so it must know exactly where the head ends.
 * The same grammar as request heads (message-syntax.ts): CRLF line ends only, no folding,
 * bounded size.
 *
 * Input: bytes from the API server (trusted for content, not for syntax).
 */
import { FramingRefusal } from './request-head.js';
import type { HeaderField } from './message-syntax.js';
import { fieldValues, listElements, parseFieldLine } from './message-syntax.js';
import type { ResponseBodyFraming } from './response-writer.js';

export interface ResponseHead {
  readonly status: number;
  readonly headers: readonly HeaderField[];
}

/** The result of feeding bytes: undefined while the head is incomplete. */
export interface ParsedResponseHead {
  readonly head: ResponseHead;
  /** Bytes after the head (the start of the body or of the upgraded stream). */
  readonly rest: Buffer;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * Parse a response head from the start of `buffer`; undefined when the blank line has not
 * arrived yet. Throws FramingRefusal (502) when the head is malformed or over `maxBytes`.
 */
export function parseResponseHead(buffer: Buffer, maxBytes: number): ParsedResponseHead | undefined {
  const end = buffer.indexOf(HEAD_END);
  if (end === -1) {
    if (buffer.length > maxBytes) throw new FramingRefusal(502, 'the API server sent a response head that is too large');
    return undefined;
  }
  if (end + HEAD_END.length > maxBytes) throw new FramingRefusal(502, 'the API server sent a response head that is too large');
  const lines = buffer.toString('latin1', 0, end).split('\r\n');
  const statusLine = /^HTTP\/1\.1 (\d{3})(?: [\t\x20-\x7e\x80-\xff]*)?$/.exec(lines[0] ?? '');
  if (statusLine === null) throw new FramingRefusal(502, 'the API server sent a malformed status line');
  const headers: HeaderField[] = [];
  for (const line of lines.slice(1)) {
    if (line.includes('\n') || line.includes('\r')) throw new FramingRefusal(502, 'the API server sent a bare CR or LF');
    try {
      headers.push(parseFieldLine(line));
    } catch (err) {
      throw new FramingRefusal(502, `the API server sent a malformed header: ${(err as Error).message}`);
    }
  }
  return { head: { status: Number(statusLine[1]), headers }, rest: buffer.subarray(end + HEAD_END.length) };
}

/**
 * How the body of a (non-101) response is delimited, RFC 9112 §6.3: none for 1xx/204/304,
 * chunked, a Content-Length, or — for an HTTP/1.1 response with neither — until the connection
 * closes (`close`). Ambiguous framing is refused.
 */
export function responseBodyFraming(head: ResponseHead): ResponseBodyFraming | { readonly kind: 'close' } {
  if (head.status < 200 || head.status === 204 || head.status === 304) return { kind: 'none' };
  const te = fieldValues(head.headers, 'transfer-encoding');
  const cl = fieldValues(head.headers, 'content-length');
  if (te.length > 0 && cl.length > 0) throw new FramingRefusal(502, 'the API server sent both Content-Length and Transfer-Encoding');
  if (te.length > 0) {
    const codings = te.flatMap(listElements).map((coding) => coding.toLowerCase());
    if (codings.length !== 1 || codings[0] !== 'chunked') throw new FramingRefusal(502, 'the API server used a transfer coding other than chunked');
    return { kind: 'chunked' };
  }
  if (cl.length > 0) {
    const values = new Set(cl.flatMap(listElements));
    const [value = ''] = values;
    if (values.size !== 1 || !/^\d{1,15}$/.test(value)) throw new FramingRefusal(502, 'the API server sent an invalid Content-Length');
    return { kind: 'length', length: Number(value) };
  }
  return { kind: 'close' };
}
