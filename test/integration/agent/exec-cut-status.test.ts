/**
 * What the agent adds when it cuts a spliced exec or attach (docs/audit.md "Cut sessions"),
 * byte for byte, against an API server that answers as the test likes (a raw TLS server that
 * records every byte it receives), with the session's policy narrowed under the running
 * upgrade: a Status on the error channel and a close frame only where the bytes passed on to
 * the client end a whole frame outside a fragmented message, in a binary channel protocol of an
 * exec or attach; otherwise exactly what the API server sent, then the end. In every case the
 * API server's connection is gone at the cut, and nothing the client sends after it reaches the
 * API server.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect as tcpConnect } from 'node:net';
import { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { KubeProxy } from '../../../src/agent/kube-proxy.js';
import type { RequestAuditRecord } from '../../../src/audit/record.js';
import { PolicyHolder, RequestPolicy } from '../../../src/agent/policy/index.js';
import { UPGRADE_CUT_FLUSH_TIMEOUT_MS } from '../../../src/limits.js';
import { channelFailureBytes } from '../../../src/protocol/channel-status.js';
import { CertificateAuthority } from '../../../src/tls/index.js';
import type { ProxyFront } from '../../helpers/test-upstream.js';
import { startProxyFront, upstreamAt } from '../../helpers/test-upstream.js';
import { waitUntil } from '../../helpers/wait-until.js';

const WAIT_MS = 5_000;
const WS_FIELDS = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const EXEC_PATH = '/api/v1/namespaces/default/pods/web-0/exec?command=sh&stdin=true&stdout=true';
const ATTACH_PATH = '/api/v1/namespaces/default/pods/web-0/attach?stdin=true&stdout=true';
const PORTFORWARD_PATH = '/api/v1/namespaces/default/pods/web-0/portforward?ports=80';
const POLICY_MESSAGE = 'kubepair: the session\'s policy changed and now refuses this exec (--deny "create pods/exec")';

/** An unmasked server frame with a short payload. */
function frame(fin: boolean, opcode: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, payload.length]), payload]);
}
const STDOUT_HI = frame(true, 2, Buffer.from('\x01hi\n', 'latin1'));

/** A tunnel stream whose client stops reading when told: writes are then never acknowledged. */
class StallingStream extends Duplex {
  readonly written: Buffer[] = [];
  stalled = false;
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.stalled) return; // never acknowledged: the bytes do not leave
    this.written.push(chunk);
    callback();
  }
}

describe('Security: a cut exec is told why only where its protocol allows it; nothing reaches the API server after the cut', () => {
  let ca: CertificateAuthority;
  let upstreamServer: TlsServer;
  const holder = new PolicyHolder(RequestPolicy.create({ mode: 'open' }));
  let front: ProxyFront;
  /** What the fake API server answers to the next upgrade: the 101's subprotocol and the bytes behind it. */
  let answer: { protocol: string | undefined; bytes: Buffer } = { protocol: undefined, bytes: Buffer.alloc(0) };
  let upstream: { received: number; closed: boolean } = { received: 0, closed: false };
  const records: RequestAuditRecord[] = [];

  before(async () => {
    ca = await CertificateAuthority.create({ commonName: 'cut test CA' });
    const serving = await ca.issueServerCertificate({ dnsNames: ['kubernetes'] });
    upstreamServer = createTlsServer({ key: serving.keyPem, cert: serving.certPem, ALPNProtocols: ['http/1.1'] }, (socket: TLSSocket) => {
      const state = { received: 0, closed: false };
      upstream = state;
      let head = '';
      let answered = false;
      socket.on('data', (chunk: Buffer) => {
        state.received += chunk.length;
        head += chunk.toString('latin1');
        if (!answered && head.includes('\r\n\r\n')) {
          answered = true;
          const protocol = answer.protocol === undefined ? '' : `Sec-WebSocket-Protocol: ${answer.protocol}\r\n`;
          socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n${protocol}\r\n`);
          socket.write(answer.bytes);
        }
      });
      socket.on('close', () => (state.closed = true));
      socket.on('error', () => socket.destroy());
    });
    upstreamServer.listen(0, '127.0.0.1');
    await once(upstreamServer, 'listening');
    front = await startProxyFront(upstreamAt((upstreamServer.address() as AddressInfo).port, ca.certPem), holder, (record) => records.push(record));
  });
  after(async () => {
    await front.close();
    await new Promise<void>((resolve) => upstreamServer.close(() => resolve()));
  });

  /**
   * Upgrade `path` offering `protocol`, wait for the API server's `bytes` behind the 101, narrow
   * the policy, then type more: resolves with what the client received after the 101 head.
   */
  async function cutSession(path: string, protocol: string | undefined, bytes: Buffer): Promise<Buffer> {
    holder.replace(RequestPolicy.create({ mode: 'open' }));
    answer = { protocol, bytes };
    // Half-open allowed: the client keeps its side open after the agent's end, until the test ends it.
    const socket = tcpConnect({ host: '127.0.0.1', port: front.port, allowHalfOpen: true });
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const closed = once(socket, 'close');
    const bound = setTimeout(() => socket.destroy(), 2 * WAIT_MS);
    const offer = protocol === undefined ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`;
    socket.write(`GET ${path} HTTP/1.1\r\nHost: k\r\n${WS_FIELDS}${offer}\r\n`);
    const afterHead = (): Buffer | undefined => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      return end < 0 ? undefined : all.subarray(end + 4);
    };
    await waitUntil(() => (afterHead()?.length ?? -1) >= bytes.length, WAIT_MS, 'the 101 and the API server\'s bytes at the client');
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 101 /);
    const state = upstream;
    const received = state.received;
    holder.replace(RequestPolicy.create({ mode: 'open', deny: ['create pods/exec', 'create pods/attach', 'create pods/portforward'] }));
    if (!socket.destroyed) socket.write(frame(true, 2, Buffer.from('\x00typed after the cut', 'latin1')));
    // Security: the API server's connection goes at the cut, not when the client lets go of its own.
    await waitUntil(() => state.closed, WAIT_MS, 'the API server\'s connection to be closed while the client holds its own');
    socket.end();
    await closed;
    clearTimeout(bound);
    assert.equal(state.received, received, 'nothing the client sent after the cut reached the API server');
    return afterHead() ?? Buffer.alloc(0);
  }

  it('v5.channel.k8s.io at a frame boundary: the API server\'s bytes, then a Forbidden Status on the error channel and a 1000 close', async () => {
    const got = await cutSession(EXEC_PATH, 'v5.channel.k8s.io', STDOUT_HI);
    assert.deepEqual(got, Buffer.concat([STDOUT_HI, channelFailureBytes('v5.channel.k8s.io', 403, POLICY_MESSAGE)]));
    // After the API server's frame: a 16-bit length header (4 bytes), the channel byte, the JSON; then the 4-byte close frame.
    assert.deepEqual([...got.subarray(STDOUT_HI.length, STDOUT_HI.length + 2)], [0x82, 126], 'a final binary frame, 16-bit length');
    const status = JSON.parse(got.subarray(STDOUT_HI.length + 5, got.length - 4).toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(
      { kind: status['kind'], apiVersion: status['apiVersion'], status: status['status'], reason: status['reason'], code: status['code'], message: status['message'] },
      { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: POLICY_MESSAGE },
    );
    // The record's bytes and hash are of what the client was sent after the 101, the agent's Status included.
    await waitUntil(() => records.some((r) => r.cut_by_policy !== undefined && r.subresource === 'exec'), WAIT_MS, 'the cut exec\'s record');
    const record = records.find((r) => r.cut_by_policy !== undefined && r.subresource === 'exec')!;
    assert.equal(record.bytes_out, got.length);
    assert.equal(record.response_sha256, createHash('sha256').update(got).digest('hex'));
  });

  it('attach over v4.channel.k8s.io before any output: the Status alone', async () => {
    const got = await cutSession(ATTACH_PATH, 'v4.channel.k8s.io', Buffer.alloc(0));
    const message = POLICY_MESSAGE.replace('this exec (--deny "create pods/exec")', 'this attach (--deny "create pods/attach")');
    assert.deepEqual(got, channelFailureBytes('v4.channel.k8s.io', 403, message));
  });

  it('channel.k8s.io (no subprotocol chosen): the reason as text on the error channel', async () => {
    const got = await cutSession(EXEC_PATH, undefined, STDOUT_HI);
    assert.deepEqual(got, Buffer.concat([STDOUT_HI, channelFailureBytes('channel.k8s.io', 403, POLICY_MESSAGE)]));
  });

  const untouched: Array<[string, string, string | undefined, Buffer]> = [
    ['mid-frame (a header announcing 10 bytes, 3 of them passed)', EXEC_PATH, 'v5.channel.k8s.io', Buffer.concat([STDOUT_HI, Buffer.from([0x82, 10, 1, 0x61, 0x62])])],
    ['mid-header (2 of a 16-bit length header passed)', EXEC_PATH, 'v5.channel.k8s.io', Buffer.concat([STDOUT_HI, Buffer.from([0x82, 126])])],
    ['inside a fragmented message (its first fragment passed whole)', EXEC_PATH, 'v5.channel.k8s.io', frame(false, 2, Buffer.from('\x01par', 'latin1'))],
    ['after the API server\'s own close frame', EXEC_PATH, 'v5.channel.k8s.io', Buffer.concat([STDOUT_HI, frame(true, 8, Buffer.from([0x03, 0xe8]))])],
    ['a base64 channel protocol', EXEC_PATH, 'base64.channel.k8s.io', frame(true, 1, Buffer.from('1aGkK', 'latin1'))],
    ['port-forward (not a terminal session)', PORTFORWARD_PATH, 'v4.channel.k8s.io', frame(true, 2, Buffer.from([0, 80, 0]))],
  ];
  it(`a client that stops reading: the tunnel stream is destroyed ${UPGRADE_CUT_FLUSH_TIMEOUT_MS} ms after the cut, not left open`, async () => {
    holder.replace(RequestPolicy.create({ mode: 'open' }));
    answer = { protocol: 'v5.channel.k8s.io', bytes: STDOUT_HI };
    const proxy = new KubeProxy({ upstream: upstreamAt((upstreamServer.address() as AddressInfo).port, ca.certPem), policy: holder, audit: undefined, session: 's', client: 'c', http2: false });
    const stream = new StallingStream();
    try {
      proxy.handle(stream);
      stream.push(`GET ${EXEC_PATH} HTTP/1.1\r\nHost: k\r\n${WS_FIELDS}Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n`);
      await waitUntil(() => Buffer.concat(stream.written).includes(STDOUT_HI), WAIT_MS, 'the API server\'s bytes written to the tunnel stream');
      stream.stalled = true;
      const closed = once(stream, 'close');
      const cutAt = Date.now();
      holder.replace(RequestPolicy.create({ mode: 'open', deny: ['create pods/exec'] }));
      await waitUntil(() => stream.destroyed, UPGRADE_CUT_FLUSH_TIMEOUT_MS + 2_000, 'the stalled tunnel stream to be destroyed');
      await closed;
      const elapsed = Date.now() - cutAt;
      assert.ok(elapsed >= UPGRADE_CUT_FLUSH_TIMEOUT_MS - 100, `not before the flush bound (${elapsed} ms)`);
      await waitUntil(() => upstream.closed, WAIT_MS, 'the API server\'s connection to be closed');
    } finally {
      stream.destroy();
      await proxy.close();
    }
  });

  for (const [name, path, protocol, bytes] of untouched) {
    it(`${name}: exactly what the API server sent, then the end; nothing added`, async () => {
      const got = await cutSession(path, protocol, bytes);
      assert.deepEqual(got, bytes, name);
    });
  }
});
