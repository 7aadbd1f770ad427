/**
 * The attacks of the differential security suite (issue 10), as raw bytes a client holding only
 * the session token sends to connect's local listener. Each one hides a request the policy must
 * never let through — delete a pod, create an object, read a Secret — behind a request the
 * policy allows (a list of ConfigMaps), using a framing trick some HTTP implementation reads
 * differently from another. `auth` is the `Host` and `Authorization` lines of the tunnel.
 */

/** The object a smuggled create makes. */
const CREATE_BODY = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'smuggled', namespace: 'default' }, data: { by: 'attacker' } });

/** What the attacker really wants executed. */
export const SMUGGLED = {
  delete: 'DELETE /api/v1/namespaces/default/pods/web-0 HTTP/1.1\r\nHost: kubernetes\r\n\r\n',
  readSecret: 'GET /api/v1/namespaces/default/secrets/db HTTP/1.1\r\nHost: kubernetes\r\n\r\n',
  create: `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: kubernetes\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(CREATE_BODY)}\r\n\r\n${CREATE_BODY}`,
  /** A create framed by Content-Length then chunked: Go reads it by its chunks (Node's parser refuses it). */
  createClTe: `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: kubernetes\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(CREATE_BODY)}`,
  /** The same with Transfer-Encoding first. */
  createTeCl: `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: kubernetes\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n${chunked(CREATE_BODY)}`,
  /** A create whose Transfer-Encoding is folded onto a continuation line: Go joins it and reads chunks. */
  createFolded: `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: kubernetes\r\nContent-Type: application/json\r\nTransfer-Encoding:\r\n chunked\r\n\r\n${chunked(CREATE_BODY)}`,
  /** A DELETE whose lines end in LF alone: Go reads it. */
  deleteBareLf: 'DELETE /api/v1/namespaces/default/pods/web-0 HTTP/1.1\nHost: kubernetes\n\n',
  /** Left unfinished: the next request the agent writes on the same connection would complete it. */
  unfinishedSecret: 'GET /api/v1/namespaces/default/secrets/db HTTP/1.1\r\nX-Pad: ',
} as const;

/** The allowed request that carries the payload. */
const READ = 'GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\n';

function chunked(payload: string): string {
  return `${Buffer.byteLength(payload, 'latin1').toString(16)}\r\n${payload}\r\n0\r\n\r\n`;
}

function withLength(payload: string): string {
  return `Content-Length: ${Buffer.byteLength(payload, 'latin1')}\r\n\r\n${payload}`;
}

export interface Attack {
  readonly id: string;
  /** The bytes, given the tunnel's Host and Authorization lines. */
  readonly bytes: (auth: string) => string;
  /** Send an ordinary allowed request afterwards on another connection (what would complete an unfinished smuggled head). */
  readonly trigger?: boolean;
}

export const ATTACKS: readonly Attack[] = [
  { id: 'a chunked GET whose body is a DELETE (TE.0)', bytes: (auth) => `${READ}${auth}Transfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED.delete)}` },
  { id: 'a GET with a Content-Length body that is a create (CL.0)', bytes: (auth) => `${READ}${auth}${withLength(SMUGGLED.create)}` },
  { id: 'a chunked GET whose body reads a Secret', bytes: (auth) => `${READ}${auth}Transfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED.readSecret)}` },
  { id: 'CL.TE: Content-Length before Transfer-Encoding', bytes: (auth) => `${READ}${auth}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED.delete)}` },
  { id: 'TE.CL: Transfer-Encoding before Content-Length', bytes: (auth) => `${READ}${auth}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n${chunked(SMUGGLED.delete)}` },
  { id: 'transfer coding "gzip, chunked"', bytes: (auth) => `${READ}${auth}Transfer-Encoding: gzip, chunked\r\n\r\n${chunked(SMUGGLED.delete)}` },
  { id: 'transfer coding "Chunked" after a tab', bytes: (auth) => `${READ}${auth}Transfer-Encoding:\tChunked\r\n\r\n${chunked(SMUGGLED.create)}` },
  { id: 'transfer coding repeated', bytes: (auth) => `${READ}${auth}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED.delete)}` },
  { id: 'transfer coding folded (obs-fold)', bytes: (auth) => `${READ}${auth}Transfer-Encoding:\r\n chunked\r\n\r\n${chunked(SMUGGLED.delete)}` },
  { id: 'a chunked GET whose body is a create', bytes: (auth) => `${READ}${auth}Transfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED.create)}` },
  { id: 'a chunked body on a read behind Expect: 100-continue', bytes: (auth) => `${READ}${auth}Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED.delete)}` },
  { id: 'an unfinished head completed by the next request', bytes: (auth) => `${READ}${auth}Transfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED.unfinishedSecret)}`, trigger: true },
  { id: 'an unfinished head in a Content-Length body', bytes: (auth) => `${READ}${auth}${withLength(SMUGGLED.unfinishedSecret)}`, trigger: true },
  { id: 'two requests pipelined in one write', bytes: (auth) => `${READ}${auth}\r\n${SMUGGLED.delete.replace('\r\n\r\n', `\r\n${auth.replace(/^Host: [^\r]*\r\n/, '')}\r\n`)}` },
  { id: 'Connection: Upgrade on a read, a DELETE pipelined behind it', bytes: (auth) => `${READ}${auth}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n${SMUGGLED.delete}` },
  { id: 'Connection: Upgrade on a read, a Secret read pipelined behind it', bytes: (auth) => `${READ}${auth}Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n${SMUGGLED.readSecret}` },
  { id: 'HTTP/1.0 keep-alive with a chunked body', bytes: (auth) => `GET /api/v1/namespaces/default/configmaps HTTP/1.0\r\n${auth}Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED.delete)}` },
  { id: 'HTTP/1.0 keep-alive with a Content-Length body', bytes: (auth) => `GET /api/v1/namespaces/default/configmaps HTTP/1.0\r\n${auth}Connection: keep-alive\r\n${withLength(SMUGGLED.delete)}` },
  { id: 'an absolute-form target', bytes: (auth) => `GET https://kubernetes/api/v1/namespaces/default/secrets/db HTTP/1.1\r\n${auth}\r\n` },
  { id: 'a huge chunk extension', bytes: (auth) => `${READ}${auth}Transfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(SMUGGLED.delete).toString(16)};${'x'.repeat(40_000)}\r\n${SMUGGLED.delete}\r\n0\r\n\r\n` },
  { id: 'a bare LF ends the head early', bytes: (auth) => `${READ}${auth}X: y\n\n${SMUGGLED.delete}` },
  { id: 'Content-Length: 0 on a read, then a request', bytes: (auth) => `${READ}${auth}Content-Length: 0\r\n\r\n${SMUGGLED.delete}` },
  { id: 'a dot-segment path that reads a Secret as a ConfigMap', bytes: (auth) => `GET /api/v1/namespaces/default/configmaps/../secrets/db HTTP/1.1\r\n${auth}\r\n` },
  { id: 'an encoded slash that reads a Secret', bytes: (auth) => `GET /api/v1/namespaces/default/configmaps/x%2F..%2F..%2Fsecrets%2Fdb HTTP/1.1\r\n${auth}\r\n` },
  { id: 'a trailer field smuggling a header', bytes: (auth) => `${READ.replace('GET', 'POST')}${auth}Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nImpersonate-User: system:admin\r\n\r\n` },
  // Framings Node's parser refuses but Go's net/http (kube-apiserver) executes, carried where a
  // naive proxy passes bytes raw: in a chunked body it decodes and streams on unframed. Through
  // the pre-fix proxy they reach the API server as written; only a Go-faithful API server shows it.
  { id: 'CL.TE inside a chunked GET body: a create the API server reads by its chunks', bytes: (auth) => `${READ}${auth}Transfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED.createClTe)}` },
  { id: 'TE.CL inside a chunked GET body: a create the API server reads by its chunks', bytes: (auth) => `${READ}${auth}Transfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED.createTeCl)}` },
  { id: 'a folded Transfer-Encoding inside a chunked GET body: a chunked create', bytes: (auth) => `${READ}${auth}Transfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED.createFolded)}` },
  { id: 'a DELETE with bare LF line ends inside a chunked GET body', bytes: (auth) => `${READ}${auth}Transfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED.deleteBareLf)}` },
  { id: 'a chunk extension Node accepts (8 KiB) on a GET whose body is a DELETE', bytes: (auth) => `${READ}${auth}Transfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(SMUGGLED.delete).toString(16)};${'x'.repeat(8_000)}\r\n${SMUGGLED.delete}\r\n0\r\n\r\n` },
];
