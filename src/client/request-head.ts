/**
 * A bounded reader of the first HTTP/1.1 request head on a local connection, so the client can
 * check kubectl's bearer token before it opens a tunnel stream (docs/design.md §2, §6). Input comes
 * from any local process and is untrusted: the head is limited in size and parsed strictly
 * enough to find the Authorization header, no more; the bytes are forwarded unchanged.
 */

/** Largest request head accepted before the token check, in bytes. */
export const REQUEST_HEAD_MAX_BYTES = 32 * 1024; // 32 KiB

export interface RequestHead {
  readonly method: string;
  readonly target: string;
  /** Header values by lower-case name, in order; a name may repeat. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

/** Index just past the blank line ending the head, or -1 when it has not arrived yet. */
export function findHeadEnd(buffer: Buffer): number {
  const end = buffer.indexOf('\r\n\r\n');
  return end < 0 ? -1 : end + 4;
}

/** Parse a complete head (without the body); undefined when it is not a valid HTTP/1.x request. */
export function parseRequestHead(head: Buffer): RequestHead | undefined {
  const text = head.toString('latin1');
  const lines = text.split('\r\n');
  const requestLine = /^([A-Z]{1,16}) (\S{1,8192}) HTTP\/1\.[01]$/.exec(lines[0] ?? '');
  if (requestLine === null) return undefined;
  const headers: Array<readonly [string, string]> = [];
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return undefined;
    headers.push([name.toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return { method: requestLine[1]!, target: requestLine[2]!, headers };
}

/** The bearer token of the one Authorization header, or undefined (missing, repeated, other scheme). */
export function bearerToken(head: RequestHead): string | undefined {
  const values = head.headers.filter(([name]) => name === 'authorization').map(([, value]) => value);
  if (values.length !== 1) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/.exec(values[0]!);
  return match?.[1];
}
