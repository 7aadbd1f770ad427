/**
 * Security: header fields that carry authority at or in front of the API server (issue 10, "headers
 * with authority"). A client holding the session token sends, through the agent's proxy, the
 * fields a front proxy speaks with (`X-Remote-User`, `X-Remote-Group`, `X-Remote-Extra-*`: the
 * request-header authentication an authenticating proxy trusts), the ones kube-apiserver writes
 * into its own audit log (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`), and an upgrade of an
 * exec to `h2c` (which would hand it a connection carrying the agent's credentials to
 * multiplex any request over). The API server is a raw TLS server that records every byte it
 * receives and switches protocols whenever asked, as the worst server behind the agent would.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { CertificateAuthority } from '../../src/tls/index.js';
import type { ProxyFront } from '../helpers/test-upstream.js';
import { startProxyFront, upstreamAt } from '../helpers/test-upstream.js';

const SPOOFED = [
  'X-Remote-User: system:admin',
  'X-Remote-Group: system:masters',
  'X-Remote-Extra-Scopes: all',
  'X-Forwarded-For: 10.66.0.1',
  'X-Forwarded-Host: kubernetes.default',
  'X-Forwarded-Proto: https',
  'Forwarded: for=10.66.0.1',
  'X-Real-IP: 10.66.0.1',
].join('\r\n');
const SPOOFED_NAMES = /\r\n(x-remote-|x-forwarded-|forwarded:|x-real-ip:)/i;

describe('Security: fields that carry authority in front of the API server never come from the client', () => {
  let upstreamServer: TlsServer;
  let received = '';
  let front: ProxyFront;
  let frontPort = 0;

  before(async () => {
    const ca = await CertificateAuthority.create({ commonName: 'authority headers test CA' });
    const serving = await ca.issueServerCertificate({ dnsNames: ['kubernetes'] });
    upstreamServer = createTlsServer({ key: serving.keyPem, cert: serving.certPem, ALPNProtocols: ['http/1.1'] }, (socket: TLSSocket) => {
      let pending = '';
      let switched = false;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (switched) return;
        pending += chunk.toString('latin1');
        for (let end = pending.indexOf('\r\n\r\n'); end >= 0 && !switched; end = pending.indexOf('\r\n\r\n')) {
          const head = pending.slice(0, end);
          pending = pending.slice(end + 4);
          const upgrade = /\r\nupgrade: ([^\r\n]+)/i.exec(head)?.[1];
          if (upgrade !== undefined) {
            // The worst server: it switches to whatever was offered first.
            switched = true;
            socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${upgrade.split(',')[0]!.trim()}\r\n\r\n`);
          } else {
            socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
          }
        }
      });
      socket.on('error', () => socket.destroy());
    });
    upstreamServer.listen(0, '127.0.0.1');
    await once(upstreamServer, 'listening');
    const port = (upstreamServer.address() as AddressInfo).port;
    front = await startProxyFront(upstreamAt(port, ca.certPem));
    frontPort = front.port;
  });
  after(async () => {
    await front.close();
    await new Promise<void>((resolve) => upstreamServer.close(() => resolve()));
  });

  /** Send one request head; resolves with what came back once `done` says so or the proxy closes (bounded). */
  async function send(head: string, done: (got: string) => boolean): Promise<string> {
    const socket = tcpConnect({ host: '127.0.0.1', port: frontPort });
    await once(socket, 'connect');
    let got = '';
    const closed = once(socket, 'close');
    const bound = setTimeout(() => socket.destroy(), 5_000);
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      if (done(got)) socket.destroy();
    });
    socket.write(head);
    await closed;
    clearTimeout(bound);
    return got;
  }

  it('an ordinary request: X-Remote-*, X-Forwarded-*, Forwarded and X-Real-IP stop at the agent', async () => {
    received = '';
    const got = await send(`GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: k\r\nX-Test-Marker: arrived\r\n${SPOOFED}\r\n\r\n`, (text) => text.endsWith('{}'));
    assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(received, /\r\nx-test-marker: arrived\r\n/i, 'the request reached the API server');
    assert.doesNotMatch(received, SPOOFED_NAMES, received);
  });

  it('an exec upgrade: the same fields stop at the agent', async () => {
    received = '';
    const got = await send(
      `GET /api/v1/namespaces/default/pods/web-0/exec?command=sh HTTP/1.1\r\nHost: k\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Test-Marker: arrived\r\n${SPOOFED}\r\n\r\n`,
      (text) => text.includes('\r\n\r\n'),
    );
    assert.match(got, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(received, /\r\nx-test-marker: arrived\r\n/i);
    assert.doesNotMatch(received, SPOOFED_NAMES, received);
  });

  for (const offered of ['h2c', 'websocket, h2c', 'TLS/1.2', 'SPDY/3.1, h2c']) {
    it(`an exec upgrade to "${offered}" is refused (400) before the API server is dialled`, async () => {
      received = '';
      const got = await send(
        `GET /api/v1/namespaces/default/pods/web-0/exec?command=sh HTTP/1.1\r\nHost: k\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: ${offered}\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n`,
        () => false,
      );
      assert.match(got, /^HTTP\/1\.1 400 Bad Request\r\n/, got);
      assert.match(got, /upgrades only to websocket or SPDY\/3\.1/);
      assert.equal(received, '', 'nothing reached the API server');
    });
  }
});
