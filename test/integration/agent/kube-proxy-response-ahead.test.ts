/**
 * How far the agent's kube proxy reads an answer ahead of its client (src/agent/kube-proxy.ts
 * #relayBody; docs/performance.md "kubectl get through proxy mode"). The agent hands the API
 * server's body to the client's tunnel stream until AGENT_RESPONSE_AHEAD_MAX_BYTES wait there,
 * not only up to the stream's own 16 KiB mark (which paused a 143 KB list page three times),
 * and no further: a client that does not read holds at most that much of an answer in the
 * agent, the rest waits in the API server's flow-control window.
 *
 * The API server is an HTTP/2 server of the test's own that answers with 8 MiB; the client's
 * tunnel stream is a Duplex that accepts bytes and completes no write until the test lets it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Http2SecureServer, ServerHttp2Stream } from 'node:http2';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { KubeProxy } from '../../../src/agent/kube-proxy.js';
import { RequestPolicy } from '../../../src/agent/policy/index.js';
import type { RequestAuditRecord } from '../../../src/audit/record.js';
import { AGENT_RESPONSE_AHEAD_MAX_BYTES } from '../../../src/limits.js';
import { CertificateAuthority } from '../../../src/tls/index.js';
import { upstreamAt } from '../../helpers/test-upstream.js';
import { waitUntil } from '../../helpers/wait-until.js';

/** The answer's body: far more than the read-ahead bound and the agent's HTTP/2 window together. */
const BODY_BYTES = 8 * 1024 * 1024;
/** The API server writes its body in pieces of this size, as kube-apiserver's frames arrive. */
const PIECE_BYTES = 16 * 1024;
/** Slack over the bound: the last piece read before the source paused, and the response head. */
const SLACK_BYTES = 256 * 1024;
/** How many times the held buffer is looked at while the client does not read. */
const HELD_CHECKS = 25;
const WAIT_MS = 20_000;

const BODY = Buffer.alloc(BODY_BYTES);
for (let i = 0; i < BODY_BYTES; i++) BODY[i] = (i * 7 + (i >>> 11)) & 0xff;

/** A client's tunnel stream: takes what the agent writes, completes a write only once `release()` was called. */
class HeldClientStream extends Duplex {
  readonly received: Buffer[] = [];
  #released = false;
  readonly #held: Array<(error?: Error | null) => void> = [];

  get receivedBytes(): number {
    return this.received.reduce((sum, chunk) => sum + chunk.length, 0);
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.received.push(chunk);
    if (this.#released) callback();
    else this.#held.push(callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    for (const { chunk } of chunks) this.received.push(chunk);
    if (this.#released) callback();
    else this.#held.push(callback);
  }

  release(): void {
    this.#released = true;
    for (const callback of this.#held.splice(0)) callback();
  }
}

/** Write `body` to an HTTP/2 response in pieces, waiting for 'drain' as the stream asks. */
async function answerInPieces(stream: ServerHttp2Stream, body: Buffer): Promise<void> {
  stream.respond({ ':status': 200, 'content-type': 'application/json', 'content-length': String(body.length) });
  // Each round writes one piece, so at most body.length / PIECE_BYTES rounds.
  for (let offset = 0; offset < body.length && !stream.destroyed; offset += PIECE_BYTES) {
    if (!stream.write(body.subarray(offset, offset + PIECE_BYTES))) await once(stream, 'drain').catch(() => undefined);
  }
  stream.end();
}

describe('Security: a client that does not read holds at most AGENT_RESPONSE_AHEAD_MAX_BYTES of an answer in the agent', { timeout: 120_000 }, () => {
  let server: Http2SecureServer;
  let proxy: KubeProxy;
  const records: RequestAuditRecord[] = [];

  before(async () => {
    const ca = await CertificateAuthority.create({ commonName: 'response ahead test CA' });
    const serving = await ca.issueServerCertificate({ dnsNames: ['kubernetes'] });
    server = createSecureServer({ key: serving.keyPem, cert: serving.certPem, allowHTTP1: false });
    server.on('stream', (stream) => {
      stream.on('error', () => stream.destroy());
      void answerInPieces(stream, BODY);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const upstream = upstreamAt((server.address() as AddressInfo).port, ca.certPem);
    proxy = new KubeProxy({ upstream, policy: RequestPolicy.create({ mode: 'open' }), audit: undefined, session: 's', client: 'c', onRequest: (record) => records.push(record) });
  });
  after(async () => {
    await proxy.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('reads ahead up to the bound while the client does not read, stops there, and passes every byte on once it does', async () => {
    const client = new HeldClientStream();
    proxy.handle(client);
    client.push('GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: kubernetes\r\n\r\n');
    // Before: the agent paused the API server's answer at the stream's own 16 KiB mark.
    await waitUntil(() => client.writableLength > AGENT_RESPONSE_AHEAD_MAX_BYTES, WAIT_MS, `more than ${AGENT_RESPONSE_AHEAD_MAX_BYTES} bytes handed to the client's stream`);
    for (let check = 0; check < HELD_CHECKS; check++) {
      assert.ok(
        client.writableLength <= AGENT_RESPONSE_AHEAD_MAX_BYTES + SLACK_BYTES,
        `check ${check}: ${client.writableLength} bytes wait for the client, at most ${AGENT_RESPONSE_AHEAD_MAX_BYTES} + ${SLACK_BYTES}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(records.length, 0, 'the answer has not ended while the client does not read');
    client.release();
    await waitUntil(() => records.length === 1, WAIT_MS, 'the request record');
    const received = Buffer.concat(client.received);
    const headEnd = received.indexOf('\r\n\r\n');
    assert.match(received.subarray(0, headEnd).toString('latin1'), /^HTTP\/1\.1 200 /, 'the status line');
    assert.match(received.subarray(0, headEnd).toString('latin1'), new RegExp(`\r\ncontent-length: ${BODY_BYTES}(\r\n|$)`), 'the length framing');
    const body = received.subarray(headEnd + 4);
    assert.equal(body.length, BODY_BYTES, 'every byte of the body');
    assert.ok(body.equals(BODY), 'the body as the API server sent it');
    const record = records[0]!;
    assert.equal(record.status, 200, 'record: status');
    assert.equal(record.bytes_out, BODY_BYTES, 'record: bytes out');
    assert.equal(record.response_sha256, createHash('sha256').update(BODY).digest('hex'), 'record: the hash of the body as passed on');
    client.destroy();
  });
});
