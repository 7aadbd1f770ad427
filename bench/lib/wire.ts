/**
 * What the benchmark's clients and its target server (bench/target-server.ts) say to each
 * other: the download request line, the fixed HTTP/1.1 request and its 1 KiB JSON answer, and
 * the bounds both sides enforce.
 */

/** Longest download request line (`<bytes>\n`). */
export const SOURCE_REQUEST_MAX_BYTES = 32;
/** Largest download one request may ask for: 4 GiB. */
export const SOURCE_MAX_BYTES = 4 * 1024 * 1024 * 1024;
/** Longest request head the HTTP server buffers: 8 KiB. */
export const HTTP_REQUEST_HEAD_MAX_BYTES = 8 * 1024;
/** Size of the JSON body of every answer: 1 KiB. */
export const JSON_BODY_BYTES = 1024;

/** The request every HTTP workload sends (keep-alive is HTTP/1.1's default). */
export const HTTP_REQUEST = Buffer.from('GET /api/v1/namespaces/bench/items/one HTTP/1.1\r\nHost: bench\r\nAccept: application/json\r\n\r\n', 'latin1');

/** A 1 KiB JSON object, padded to exactly JSON_BODY_BYTES. */
export function jsonBody(): Buffer {
  const base = { kind: 'Item', apiVersion: 'bench/v1', metadata: { name: 'one', namespace: 'bench', resourceVersion: '1' }, data: { note: '' } };
  const empty = Buffer.byteLength(JSON.stringify(base));
  base.data.note = 'x'.repeat(JSON_BODY_BYTES - empty);
  const body = Buffer.from(JSON.stringify(base));
  if (body.length !== JSON_BODY_BYTES) throw new Error(`JSON body is ${body.length} bytes, not ${JSON_BODY_BYTES}`);
  return body;
}

/** The complete answer: status line, headers, 1 KiB JSON body. */
export function jsonResponse(): Buffer {
  const body = jsonBody();
  const head = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}
