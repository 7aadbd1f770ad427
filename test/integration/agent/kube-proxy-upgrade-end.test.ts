/**
 * How an upgraded stream ends through the agent's proxy and the real tunnel mux (MuxServer ⇄
 * MuxClient over paired secure channels), against an API server that answers `101` and sends
 * more than the client's stream window holds while the client is not reading, so the agent
 * still holds bytes for the client when the API server's connection ends:
 *
 * - a clean end (TLS close_notify and FIN) reaches the client as a clean end (END_STREAM,
 *   no reset), after every byte;
 * - a reset (TCP RST) still passes on every byte the agent had read. Before, the agent
 *   destroyed the stream at once and what it still held was lost. The stream then ends as a
 *   clean one does (it did before too): a reset with an error code would make the client's
 *   Node HTTP/2 stream drop what it holds unread, so the bytes come first.
 *
 * The API server is a raw TCP server with TLS on top, so a test can reset the TCP connection
 * under the TLS session.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { ClientHttp2Stream } from 'node:http2';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TLSSocket } from 'node:tls';
import { KubeProxy } from '../../../src/agent/kube-proxy.js';
import { RequestPolicy } from '../../../src/agent/policy/index.js';
import type { RequestAuditRecord } from '../../../src/audit/record.js';
import { MuxClient, MuxServer } from '../../../src/mux/index.js';
import { CertificateAuthority } from '../../../src/tls/index.js';
import { pairedChannels } from '../../helpers/channel-pair.js';
import type { SecureChannel } from '../../helpers/channel-pair.js';
import { waitUntil } from '../../helpers/wait-until.js';
import { upstreamAt } from '../../helpers/test-upstream.js';

const EXEC = 'GET /api/v1/namespaces/default/pods/web-0/exec?command=cat&stdout=true HTTP/1.1\r\nHost: k\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n';
/** The tunnel's per-stream window: small, so the agent holds bytes while the client does not read. */
const STREAM_WINDOW_BYTES = 65_535;
/** What the API server sends after the 101: far more than the window. */
const PAYLOAD_BYTES = 4 * 1024 * 1024;
/** NGHTTP2_NO_ERROR: the stream ended cleanly. */
const NO_ERROR = 0;
const WAIT_MS = 10_000;
/** How long the agent is given to act on the API server's end before the client reads again, in ms (it acts within a few). */
const SETTLE_MS = 1_000;

type UpstreamEnd = 'clean' | 'reset';

describe('an upgraded stream ends through the tunnel only after every byte the agent read from the API server', { timeout: 120_000 }, () => {
  let ca: CertificateAuthority;
  let upstreamServer: Server;
  /** How the API server ends the next upgraded connection once the test says so. */
  let ending: UpstreamEnd = 'clean';
  let endUpstream: (() => void) | undefined;
  let proxy: KubeProxy;
  let channels: { agent: SecureChannel; client: SecureChannel };
  let muxServer: MuxServer;
  let mux: MuxClient;
  const records: RequestAuditRecord[] = [];

  before(async () => {
    ca = await CertificateAuthority.create({ commonName: 'upgrade end test CA' });
    const serving = await ca.issueServerCertificate({ dnsNames: ['kubernetes'] });
    upstreamServer = createTcpServer((raw: Socket) => {
      raw.on('error', () => raw.destroy());
      const tls = new TLSSocket(raw, { isServer: true, key: serving.keyPem, cert: serving.certPem, ALPNProtocols: ['http/1.1'] });
      tls.on('error', () => tls.destroy());
      let head = '';
      tls.on('data', (chunk: Buffer) => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        head = '';
        tls.write(Buffer.concat([Buffer.from(SWITCH, 'latin1'), Buffer.alloc(PAYLOAD_BYTES, 0x61)]));
        const how = ending;
        endUpstream = () => (how === 'reset' ? raw.resetAndDestroy() : tls.end());
      });
    });
    upstreamServer.listen(0, '127.0.0.1');
    await once(upstreamServer, 'listening');
    const port = (upstreamServer.address() as AddressInfo).port;
    const upstream = upstreamAt(port, ca.certPem);
    proxy = new KubeProxy({ upstream, policy: RequestPolicy.create({ mode: 'open' }), audit: undefined, session: 's', client: 'c', http2: false, onRequest: (record) => records.push(record) });
    channels = await pairedChannels();
    muxServer = new MuxServer(channels.agent, { streamWindowBytes: STREAM_WINDOW_BYTES, targets: new Map([['kube-apiserver', (stream) => proxy.handle(stream)]]) });
    mux = new MuxClient(channels.client, { streamWindowBytes: STREAM_WINDOW_BYTES });
  });
  after(async () => {
    mux.close();
    muxServer.close();
    await proxy.close();
    channels.agent.close();
    channels.client.close();
    await new Promise<void>((resolve) => upstreamServer.close(() => resolve()));
  });

  /**
   * Upgrade through the tunnel without reading, let the API server end its connection `how`
   * while the agent holds bytes for the client, then read everything. Resolves with the bytes
   * after the 101 head, how the client's stream ended, and the agent's record.
   */
  async function upgradeThenEnd(how: UpstreamEnd): Promise<{ received: number; rstCode: number | undefined; errored: boolean; record: RequestAuditRecord }> {
    ending = how;
    endUpstream = undefined;
    const from = records.length;
    const stream: ClientHttp2Stream = await mux.openStream('kube-apiserver');
    let errored = false;
    stream.on('error', () => (errored = true));
    stream.on('end', () => stream.end()); // as a client does once the other side ended
    const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    stream.pause();
    stream.write(EXEC);
    // The window is full: the client holds a window's worth, the agent holds more behind it.
    await waitUntil(() => endUpstream !== undefined && stream.readableLength >= STREAM_WINDOW_BYTES - SWITCH.length, WAIT_MS, 'the client stream window to fill');
    endUpstream!();
    // Give the agent time to act on the end before the client reads again: nothing the client
    // can see tells when it did (the paused stream shows neither an end nor a reset yet).
    await delay(SETTLE_MS);
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.resume();
    await closed;
    await waitUntil(() => records.length > from, WAIT_MS, 'the agent to record the upgrade');
    const body = Buffer.concat(chunks);
    const headEnd = body.indexOf('\r\n\r\n') + 4;
    assert.ok(headEnd > 4 && body.subarray(0, headEnd).toString('latin1').startsWith('HTTP/1.1 101 '), 'the client got the 101');
    return { received: body.length - headEnd, rstCode: stream.rstCode, errored, record: records[from]! };
  }

  it('a clean end of the API server connection: every byte, then a clean end (no reset)', async () => {
    const got = await upgradeThenEnd('clean');
    assert.equal(got.received, PAYLOAD_BYTES, 'every byte the API server sent');
    assert.equal(got.record.bytes_out, PAYLOAD_BYTES);
    assert.equal(got.rstCode, NO_ERROR, 'ended with END_STREAM, not reset');
    assert.equal(got.errored, false);
  });

  it('a reset of the API server connection: every byte the agent read still reaches the client', async () => {
    const got = await upgradeThenEnd('reset');
    assert.ok(got.record.bytes_out > STREAM_WINDOW_BYTES, `the agent held bytes beyond the window (${got.record.bytes_out})`);
    assert.equal(got.received, got.record.bytes_out, 'what the agent read from the API server, all of it');
    assert.equal(got.errored, false, 'no reset that would drop what the client holds unread');
  });
});
