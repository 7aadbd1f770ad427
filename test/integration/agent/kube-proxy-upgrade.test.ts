/**
 * Upgrades through the agent's proxy against an API server that answers as it likes (a raw TLS
 * server recording every byte it receives): the agent splices only after a verified `101`
 * whose `Upgrade` matches what the client asked for; any other answer is relayed as an
 * ordinary response and both connections close, and nothing the client sent behind its
 * request head ever reaches the API server (issue 10, "Connection: Upgrade ... piped raw after
 * whatever head the API server answers").
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { CertificateAuthority } from '../../../src/tls/index.js';
import type { ProxyFront } from '../../helpers/test-upstream.js';
import { startProxyFront, upstreamAt } from '../../helpers/test-upstream.js';

const EXEC = 'GET /api/v1/namespaces/default/pods/web-0/exec?command=sh&stdin=true HTTP/1.1\r\nHost: k\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
const WS_FIELDS = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
const POD_PROXY_WS = `GET /api/v1/namespaces/default/pods/web-0/proxy/ws HTTP/1.1\r\nHost: k\r\n${WS_FIELDS}`;
const SERVICE_PROXY_WS = `GET /api/v1/namespaces/default/services/http:web:80/proxy/ws HTTP/1.1\r\nHost: k\r\n${WS_FIELDS}`;
const PIPELINED = 'DELETE /api/v1/namespaces/default/pods/web-0 HTTP/1.1\r\nHost: k\r\n\r\n';

describe('Security: the agent splices an upgrade only after a verified 101', () => {
  let ca: CertificateAuthority;
  let upstreamServer: TlsServer;
  let upstreamPort = 0;
  /** What the fake API server answers to the next upgrade request head. */
  let answer = '';
  let receivedUpstream = '';
  let front: ProxyFront;
  let frontPort = 0;

  before(async () => {
    ca = await CertificateAuthority.create({ commonName: 'upgrade test CA' });
    const serving = await ca.issueServerCertificate({ dnsNames: ['kubernetes'] });
    upstreamServer = createTlsServer({ key: serving.keyPem, cert: serving.certPem, ALPNProtocols: ['http/1.1'] }, (socket: TLSSocket) => {
      let head = '';
      socket.on('data', (chunk: Buffer) => {
        receivedUpstream += chunk.toString('latin1');
        head += chunk.toString('latin1');
        if (head.includes('\r\n\r\n') && answer !== '') {
          socket.write(answer);
          answer = '';
        }
      });
      socket.on('error', () => socket.destroy());
    });
    upstreamServer.listen(0, '127.0.0.1');
    await once(upstreamServer, 'listening');
    upstreamPort = (upstreamServer.address() as AddressInfo).port;
    front = await startProxyFront(upstreamAt(upstreamPort, ca.certPem));
    frontPort = front.port;
  });
  after(async () => {
    await front.close();
    await new Promise<void>((resolve) => upstreamServer.close(() => resolve()));
  });

  /** Send `bytes` to the proxy; resolves with everything received until the proxy closes (bounded). */
  async function exchange(bytes: string, then?: (socket: Socket, received: () => string) => Promise<void>): Promise<string> {
    const socket = tcpConnect({ host: '127.0.0.1', port: frontPort });
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const closed = once(socket, 'close');
    const bound = setTimeout(() => socket.destroy(), 5_000);
    socket.write(bytes);
    await then?.(socket, () => received);
    await closed;
    clearTimeout(bound);
    return received;
  }

  it('a 200 instead of a 101 is relayed as an ordinary answer; the pipelined request never reaches the API server', async () => {
    receivedUpstream = '';
    answer = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"kind":"x"}\n';
    const got = await exchange(EXEC + PIPELINED);
    assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(got, /\r\nconnection: close\r\n/i);
    assert.ok(got.endsWith('{"kind":"x"}\n'), got);
    assert.equal(got.match(/HTTP\/1\.1/g)?.length, 1, 'one answer only');
    assert.ok(!receivedUpstream.includes('DELETE'), `the API server saw only the upgrade request: ${receivedUpstream}`);
    assert.equal(receivedUpstream.match(/ HTTP\/1\.1\r\n/g)?.length, 1);
  });

  it('a chunked 400 instead of a 101 is decoded and relayed; both connections close', async () => {
    receivedUpstream = '';
    answer = 'HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
    const got = await exchange(EXEC + PIPELINED);
    assert.match(got, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.ok(got.endsWith('5\r\nhello\r\n0\r\n\r\n'), got);
    assert.ok(!receivedUpstream.includes('DELETE'));
  });

  it('a 101 to another protocol than the client asked for is refused with 502', async () => {
    receivedUpstream = '';
    answer = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n';
    const got = await exchange(EXEC + PIPELINED);
    assert.match(got, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.ok(!receivedUpstream.includes('DELETE'));
  });

  it('a 101 without Connection: upgrade is not a switch', async () => {
    receivedUpstream = '';
    answer = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n';
    const got = await exchange(EXEC + PIPELINED);
    assert.match(got, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.ok(!receivedUpstream.includes('DELETE'));
  });

  it('a verified 101 (after a 100) is spliced: the bytes behind the head then flow raw both ways', async () => {
    receivedUpstream = '';
    answer = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nserver-bytes';
    const got = await exchange(EXEC + 'client-bytes', async (socket, received) => {
      for (let i = 0; i < 250 && !received().endsWith('server-bytes'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      socket.end();
    });
    assert.match(got, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.ok(got.endsWith('\r\n\r\nserver-bytes'), got);
    assert.ok(receivedUpstream.endsWith('\r\n\r\nclient-bytes'), receivedUpstream);
    assert.match(receivedUpstream, /\r\nconnection: Upgrade\r\nupgrade: websocket\r\n/);
    assert.match(receivedUpstream, /\r\nauthorization: Bearer agent\r\n/);
  });

  it('a pods/proxy WebSocket upgrade keeps its Upgrade upstream and is spliced after a verified 101', async () => {
    receivedUpstream = '';
    answer = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nfrom-pod';
    const got = await exchange(POD_PROXY_WS + 'to-pod', async (socket, received) => {
      for (let i = 0; i < 250 && !received().endsWith('from-pod'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      socket.end();
    });
    assert.match(got, /^HTTP\/1\.1 101 Switching Protocols\r\n/, got);
    assert.ok(got.endsWith('\r\n\r\nfrom-pod'), got);
    assert.match(receivedUpstream, /^GET \/api\/v1\/namespaces\/default\/pods\/web-0\/proxy\/ws HTTP\/1\.1\r\n/, receivedUpstream);
    assert.match(receivedUpstream, /\r\nconnection: Upgrade\r\nupgrade: websocket\r\n/, receivedUpstream);
    assert.ok(receivedUpstream.endsWith('\r\n\r\nto-pod'), receivedUpstream);
  });

  it('Security: a services/proxy upgrade answered 200 is relayed as an ordinary answer; the pipelined request never reaches the API server', async () => {
    receivedUpstream = '';
    answer = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot a ws\n';
    const got = await exchange(SERVICE_PROXY_WS + PIPELINED);
    assert.match(got, /^HTTP\/1\.1 200 OK\r\n/, got);
    assert.match(got, /\r\nconnection: close\r\n/i);
    assert.ok(got.endsWith('\r\n\r\nnot a ws\n'), got);
    assert.equal(got.match(/HTTP\/1\.1/g)?.length, 1, 'one answer only');
    assert.match(receivedUpstream, /\r\nupgrade: websocket\r\n/, 'the upgrade went upstream as one');
    assert.ok(!receivedUpstream.includes('DELETE'), `the API server saw only the upgrade request: ${receivedUpstream}`);
    assert.equal(receivedUpstream.match(/ HTTP\/1\.1\r\n/g)?.length, 1);
  });

  it('Upgrade on a list is dropped: the request goes upstream as an ordinary one, without the client\'s Connection or Upgrade', async () => {
    receivedUpstream = '';
    answer = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    const got = await exchange('GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: k\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\r\n');
    assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
    assert.doesNotMatch(receivedUpstream, /\r\nupgrade:/i, receivedUpstream);
    assert.doesNotMatch(receivedUpstream, /\r\nconnection:[^\r]*(upgrade|close)/i, `only the agent's own connection field: ${receivedUpstream}`);
  });
});
