/**
 * Upgraded requests to the API server (exec, attach, port-forward, proxy; docs/design.md §6, issue
 * 10). Each one gets a fresh TLS connection that offers only HTTP/1.1 and is never pooled or
 * reused. The agent writes the request head itself (no body: an upgrade request carries none),
 * then reads the answer's head strictly (response-head.ts) and decides:
 *
 * - a `101 Switching Protocols` whose `Upgrade` names a protocol the client asked for, with
 *   `Connection: upgrade`: the connection is handed back raw, to be spliced to the client;
 * - anything else: an ordinary response, whose body is read by its own framing and passed on
 *   by the caller as an ordinary answer, after which the connection is closed. Whatever the
 *   client pipelined behind its request never reaches this connection.
 *
 * Input: the API server's bytes (trusted for content, not syntax). The request head was parsed
 * and judged by the agent.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { API_SERVER_CONNECT_TIMEOUT_MS, UPGRADE_RESPONSE_HEAD_MAX_BYTES, UPGRADE_RESPONSE_HEAD_TIMEOUT_MS, AGENT_CHUNK_LINE_MAX_BYTES, AGENT_TRAILER_MAX_BYTES } from '../../limits.js';
import { ChunkedDecoder } from '../http1/chunked-decoder.js';
import type { HeaderField } from '../http1/message-syntax.js';
import { fieldValues, listElements } from '../http1/message-syntax.js';
import { FramingRefusal } from '../http1/request-head.js';
import type { ResponseHead } from '../http1/response-head.js';
import { parseResponseHead, responseBodyFraming } from '../http1/response-head.js';
import type { UpstreamAuth, UpstreamCluster } from '../upstream-cluster.js';

export interface UpgradeRequest {
  readonly method: string;
  /** The path on the API server (a server path prefix already applied). */
  readonly path: string;
  /** End-to-end fields plus `Connection: Upgrade` and `Upgrade`. */
  readonly headers: readonly HeaderField[];
  /** The protocols the client's `Upgrade` field offered. */
  readonly upgrade: string;
}

export type UpgradeOutcome =
  | {
      readonly kind: 'switched';
      readonly head: ResponseHead;
      readonly socket: TLSSocket;
      /** Bytes of the upgraded stream that arrived with the head. */
      readonly rest: Buffer;
    }
  | {
      readonly kind: 'answered';
      readonly head: ResponseHead;
      /** The decoded body; the socket is destroyed when it ends. */
      readonly body: Readable;
      /** Its length when the server announced one. */
      readonly length: number | undefined;
      readonly socket: TLSSocket;
    };

function protocolName(element: string): string {
  return element.trim().toLowerCase();
}

/** True when the head is a 101 that switches to one of the protocols the client offered. */
export function isAcceptedSwitch(head: ResponseHead, offered: string): boolean {
  if (head.status !== 101) return false;
  const connection = fieldValues(head.headers, 'connection').flatMap(listElements).map(protocolName);
  if (!connection.includes('upgrade')) return false;
  const chosen = fieldValues(head.headers, 'upgrade');
  if (chosen.length !== 1) return false;
  const wanted = new Set(listElements(offered).map(protocolName));
  const got = listElements(chosen[0]!).map(protocolName);
  return got.length === 1 && wanted.has(got[0]!);
}

function serializeRequestHead(request: UpgradeRequest, authority: string, auth: UpstreamAuth): string {
  const lines = [`${request.method} ${request.path} HTTP/1.1`, `host: ${authority}`];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  for (const [name, value] of Object.entries(auth.headers)) lines.push(`${name.toLowerCase()}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Open a fresh HTTP/1.1 connection, send the upgrade request, and read the answer's head. */
export async function dialUpgrade(upstream: UpstreamCluster, auth: UpstreamAuth, authority: string, request: UpgradeRequest): Promise<UpgradeOutcome> {
  const socket = tlsConnect({
    host: upstream.host,
    port: upstream.port,
    ALPNProtocols: ['http/1.1'],
    servername: upstream.serverName,
    ...(upstream.caPem !== undefined && { ca: upstream.caPem }),
    ...(auth.certPem !== undefined && { cert: auth.certPem }),
    ...(auth.keyPem !== undefined && { key: auth.keyPem }),
  });
  socket.on('error', () => socket.destroy());
  const connectTimer = setTimeout(() => socket.destroy(Object.assign(new Error('timed out connecting'), { code: 'ETIMEDOUT' })), API_SERVER_CONNECT_TIMEOUT_MS);
  try {
    await once(socket, 'secureConnect');
  } finally {
    clearTimeout(connectTimer);
  }
  socket.write(serializeRequestHead(request, authority, auth), 'latin1');
  const { head, rest } = await readHead(socket);
  if (isAcceptedSwitch(head, request.upgrade)) return { kind: 'switched', head, socket, rest };
  if (head.status === 101) {
    socket.destroy();
    throw new FramingRefusal(502, 'the API server switched to a protocol the client did not ask for');
  }
  return { kind: 'answered', head, ...answeredBody(socket, head, rest), socket };
}

/** Read one response head, bounded in size and time; 1xx heads other than 101 are skipped. */
function readHead(socket: TLSSocket): Promise<{ head: ResponseHead; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new FramingRefusal(504, 'the API server did not answer the upgrade in time')), UPGRADE_RESPONSE_HEAD_TIMEOUT_MS);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const fail = (err: Error): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      try {
        for (;;) {
          const parsed = parseResponseHead(buffered, UPGRADE_RESPONSE_HEAD_MAX_BYTES);
          if (parsed === undefined) return;
          if (parsed.head.status >= 100 && parsed.head.status < 200 && parsed.head.status !== 101) {
            buffered = parsed.rest;
            continue;
          }
          cleanup();
          socket.pause();
          resolve(parsed);
          return;
        }
      } catch (err) {
        fail(err as Error);
      }
    };
    const onClose = (): void => fail(new FramingRefusal(502, 'the API server closed the connection without answering'));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** The body of a non-101 answer, decoded by its framing. */
function answeredBody(socket: TLSSocket, head: ResponseHead, rest: Buffer): { body: Readable; length: number | undefined } {
  const framing = responseBodyFraming(head);
  const body = new PassThrough();
  const finish = (): void => {
    socket.off('data', onData);
    body.end();
    socket.destroy();
  };
  let remaining = framing.kind === 'length' ? framing.length : 0;
  const decoder = framing.kind === 'chunked' ? new ChunkedDecoder({ lineMaxBytes: AGENT_CHUNK_LINE_MAX_BYTES, trailerMaxBytes: AGENT_TRAILER_MAX_BYTES }) : undefined;
  const onData = (chunk: Buffer): void => {
    try {
      if (framing.kind === 'none') return;
      if (framing.kind === 'close') {
        if (!body.write(chunk)) socket.pause();
        return;
      }
      if (framing.kind === 'length') {
        const take = Math.min(remaining, chunk.length);
        if (!body.write(chunk.subarray(0, take))) socket.pause();
        remaining -= take;
        if (remaining === 0) finish();
        return;
      }
      decoder!.decode(chunk, (data) => {
        if (!body.write(data)) socket.pause();
      });
      if (decoder!.done) finish();
    } catch (err) {
      socket.destroy();
      body.destroy(err as Error);
    }
  };
  body.on('drain', () => socket.resume());
  body.on('close', () => socket.destroy());
  socket.on('close', () => {
    if (framing.kind === 'close') body.end();
    else if (!body.writableEnded) body.destroy(new Error('the API server closed the connection inside the response body'));
  });
  if (framing.kind === 'none' || (framing.kind === 'length' && remaining === 0)) {
    queueMicrotask(finish);
  } else {
    socket.on('data', onData);
    if (rest.length > 0) onData(rest);
    socket.resume();
  }
  return { body, length: framing.kind === 'length' ? framing.length : framing.kind === 'none' ? 0 : undefined };
}
