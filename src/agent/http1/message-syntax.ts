/**
 * The grammar of HTTP/1.1 message heads (RFC 9110 §5, RFC 9112 §2-§5), as strict as the agent
 * needs it to be: one job, deciding whether a line of a head is well formed, and splitting it.
 * Everything here reads bytes that came from the untrusted client (request heads) or from the
 * API server (upgrade response heads); nothing is guessed at — a line that could be read in
 * two ways is refused (RFC 9112 §2.2: a recipient MAY reject a message with bare CR or LF; the
 * agent always does, so no server behind it can read the message differently).
 */

/** RFC 9110 §5.6.2 `token`: the characters of methods, header names and protocol names. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** True when `text` is a non-empty RFC 9110 token. */
export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/**
 * True when `value` may be a field value (RFC 9110 §5.5): visible ASCII, spaces, tabs and
 * obs-text. CR, LF, NUL and the other control characters are refused: a field value with them
 * is the classic way to smuggle a header past one parser and not another.
 */
export function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if (c === 0x09 || (c >= 0x20 && c !== 0x7f && c <= 0xff)) continue;
    return false;
  }
  return true;
}

/** One field line, the name lower-cased; values are never combined or altered here. */
export type HeaderField = readonly [name: string, value: string];

/** A field line that is not `token ":" OWS value OWS`, with the reason. */
export class SyntaxProblem extends Error {}

/**
 * Split one field line (without its CRLF). RFC 9112 §5.1: no whitespace between the name and
 * the colon (a server MUST reject it); RFC 9112 §5.2: a line starting with whitespace is
 * obsolete line folding, refused here.
 */
export function parseFieldLine(line: string): HeaderField {
  if (line.startsWith(' ') || line.startsWith('\t')) throw new SyntaxProblem('obsolete line folding (a header line starting with whitespace)');
  const colon = line.indexOf(':');
  if (colon <= 0) throw new SyntaxProblem('a header line without a name and a colon');
  const name = line.slice(0, colon);
  if (!isToken(name)) throw new SyntaxProblem('a header name with characters a token cannot have (whitespace before the colon?)');
  const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
  if (!isFieldValue(value)) throw new SyntaxProblem(`a control character in the value of "${name.toLowerCase()}"`);
  return [name.toLowerCase(), value];
}

/** The comma-separated elements of a list-valued field (RFC 9110 §5.6.1), trimmed, empty ones dropped. */
export function listElements(value: string): string[] {
  return value
    .split(',')
    .map((element) => element.trim())
    .filter((element) => element !== '');
}

/** Every value of `name` in `headers`, in order. */
export function fieldValues(headers: readonly HeaderField[], name: string): string[] {
  const values: string[] = [];
  for (const [field, value] of headers) if (field === name) values.push(value);
  return values;
}
