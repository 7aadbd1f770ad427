/**
 * The agent's client for the API server (issue 10): HTTP/2 when the server offers it, else
 * HTTP/1.1 with framing the agent writes. The HTTP/1.1 server here is a raw TLS socket that
 * records every byte it receives, so the tests see exactly what went on the wire: a body goes
 * upstream only inside framing the agent wrote, and nothing follows a request on its
 * connection until its response ended.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Http2SecureServer } from 'node:http2';
import { ApiServerClient } from '../../../src/agent/api-server/api-server-client.js';
import type { BodyFraming } from '../../../src/agent/http1/request-head.js';
import type { UpstreamAuth } from '../../../src/agent/upstream-cluster.js';
import { CertificateAuthority } from '../../../src/tls/index.js';
import { upstreamAt as testUpstreamAt } from '../../helpers/test-upstream.js';

const AUTH: UpstreamAuth = { headers: { Authorization: 'Bearer agent-token' } };

function upstreamAt(port: number, caPem: string, prefix = '') {
  return testUpstreamAt(port, caPem, { prefix, auth: AUTH });
}

function body(framing: BodyFraming, text: string): Readable {
  return framing.kind === 'none' ? Readable.from([], { objectMode: false }) : Readable.from([Buffer.from(text)]);
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

let ca: CertificateAuthority;
let serving: { certPem: string; keyPem: string };
before(async () => {
  ca = await CertificateAuthority.create({ commonName: 'api-server-client test CA' });
  serving = await ca.issueServerCertificate({ dnsNames: ['kubernetes'] });
});

describe('API server client over HTTP/2', () => {
  let server: Http2SecureServer;
  let port = 0;
  const seen: Array<{ method: string; path: string; headers: Record<string, unknown>; body: string }> = [];
  before(async () => {
    server = createSecureServer({ key: serving.keyPem, cert: serving.certPem, allowHTTP1: true }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        seen.push({ method: req.method, path: req.url, headers: { ...req.headers }, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`${req.httpVersion} ${req.method} ${req.url}`);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('negotiates h2, sends the agent\'s credentials and the path under the server prefix', async () => {
    const client = new ApiServerClient(upstreamAt(port, ca.certPem, '/k8s/clusters/c1/'));
    try {
      assert.equal(await client.protocol(AUTH), 'h2');
      const response = await client.send(AUTH, { method: 'GET', target: '/api/v1/pods?limit=1', headers: [['accept', 'application/json']], framing: { kind: 'none' }, body: body({ kind: 'none' }, '') });
      assert.equal(response.protocol, 'h2');
      assert.equal(response.status, 200);
      assert.equal(await readAll(response.body), '2.0 GET /k8s/clusters/c1/api/v1/pods?limit=1');
      const last = seen.at(-1)!;
      assert.equal(last.headers['authorization'], 'Bearer agent-token');
      assert.equal(last.headers['accept'], 'application/json');
    } finally {
      client.close();
    }
  });

  it('one multiplexed connection carries concurrent requests, bodies framed per stream', async () => {
    const client = new ApiServerClient(upstreamAt(port, ca.certPem));
    let connections = 0;
    const count = (): void => void (connections += 1);
    server.on('secureConnection', count);
    try {
      const texts = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const framing: BodyFraming = i % 2 === 0 ? { kind: 'length', length: `body-${i}`.length } : { kind: 'chunked' };
          const response = await client.send(AUTH, { method: 'POST', target: `/p/${i}`, headers: [], framing, body: body(framing, `body-${i}`) });
          return readAll(response.body);
        }),
      );
      assert.equal(texts.length, 20);
      assert.equal(connections, 1, 'one TLS connection for all of them');
      for (let i = 0; i < 20; i++) assert.ok(seen.some((s) => s.path === `/p/${i}` && s.body === `body-${i}`), `request ${i} arrived whole`);
    } finally {
      server.off('secureConnection', count);
      client.close();
    }
  });
});

/** A raw HTTP/1.1-only TLS server that records every byte and answers each request head it sees. */
describe('Security: API server client over HTTP/1.1 writes every body inside its own framing', () => {
  let server: TlsServer;
  let port = 0;
  let received = '';
  before(async () => {
    server = createTlsServer({ key: serving.keyPem, cert: serving.certPem, ALPNProtocols: ['http/1.1'] }, (socket: TLSSocket) => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        // Answer once per complete message this simple server can recognise (bodies here are short and end the chunk).
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const CASES: ReadonlyArray<readonly [string, string, BodyFraming, string, RegExp]> = [
    ['GET without a body', 'GET', { kind: 'none' }, '', /^GET \/x HTTP\/1\.1\r\n(?![\s\S]*(?:content-length|transfer-encoding))[\s\S]*\r\n\r\n$/i],
    ['DELETE without a body says Content-Length: 0', 'DELETE', { kind: 'none' }, '', /^DELETE \/x HTTP\/1\.1\r\n[\s\S]*content-length: 0\r\n[\s\S]*\r\n\r\n$/i],
    ['POST with a length', 'POST', { kind: 'length', length: 5 }, 'hello', /^POST \/x HTTP\/1\.1\r\n[\s\S]*content-length: 5\r\n[\s\S]*\r\n\r\nhello$/i],
    ['PATCH with a chunked body is chunked again', 'PATCH', { kind: 'chunked' }, 'hello', /^PATCH \/x HTTP\/1\.1\r\n[\s\S]*transfer-encoding: chunked\r\n[\s\S]*\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/i],
  ];
  for (const [id, method, framing, text, wire] of CASES) {
    it(id, async () => {
      const client = new ApiServerClient(upstreamAt(port, ca.certPem));
      try {
        assert.equal(await client.protocol(AUTH), 'http/1.1');
        received = '';
        const response = await client.send(AUTH, { method, target: '/x', headers: [['accept', '*/*']], framing, body: body(framing, text) });
        assert.equal(await readAll(response.body), 'ok');
        assert.match(received, wire, `on the wire: ${JSON.stringify(received)}`);
        assert.equal(received.match(/ HTTP\/1\.1\r\n/g)?.length, 1, 'exactly one request on the wire');
        assert.match(received, /\r\nhost: 127\.0\.0\.1:\d+\r\n/i);
        assert.match(received, /\r\nauthorization: Bearer agent-token\r\n/i);
      } finally {
        client.close();
      }
    });
  }
});
