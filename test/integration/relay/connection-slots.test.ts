/**
 * Connection slots against a real relay process (issue 10: one address holding partial request
 * heads took every `--max-connections` slot, so `/healthz` and a legitimate `share` got
 * nothing). The attacker is 127.0.0.1; the honest client binds 127.0.0.2 (Linux routes all of
 * 127/8 to lo), so the two are different TCP peers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { apiFrom, metric, startRelay, within } from '../../helpers/relay-process.js';
import { repoPath } from '../../helpers/paths.js';

const MAX_CONNECTIONS = 16;
const PER_ADDRESS = 4;

interface Slowloris {
  readonly socket: Socket;
  /** Everything the relay sent on this connection. */
  received: string;
  readonly closed: Promise<void>;
}

/** Open a connection from `from` and send an unfinished head (no blank line), then nothing. */
async function slowloris(port: number, from: string, head: string): Promise<Slowloris> {
  const socket = connect({ host: '127.0.0.1', port, localAddress: from });
  const conn: Slowloris = { socket, received: '', closed: new Promise((resolve) => socket.once('close', () => resolve())) };
  socket.on('data', (chunk: Buffer) => (conn.received += chunk.toString('latin1')));
  socket.on('error', () => undefined); // a reset is one of the outcomes under test
  await within(5_000, 'a TCP connection', new Promise<void>((resolve) => socket.once('connect', () => resolve())));
  socket.write(head);
  return conn;
}

describe('Security: connection slots', { timeout: 300_000 }, () => {
  it('one address holding partial heads cannot take every slot; its connections are closed within --head-timeout', { timeout: 60_000 }, async () => {
    const relay = await startRelay({
      args: [
        '--max-connections', String(MAX_CONNECTIONS),
        '--max-connections-per-ip', String(PER_ADDRESS),
        '--head-timeout', '1s',
        '--request-timeout', '2s',
        '--rate-limit', '1000',
      ],
    });
    const attack: Slowloris[] = [];
    try {
      // As many connections as the relay has slots, all from 127.0.0.1, each with an unfinished
      // head: the first a WebSocket upgrade, the others API requests, one header line each.
      const sessionId = randomBytes(16).toString('base64url');
      attack.push(await slowloris(relay.port, '127.0.0.1', `GET /ws/v1/agent/${sessionId} HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`));
      for (let i = 1; i < MAX_CONNECTIONS; i++) {
        attack.push(await slowloris(relay.port, '127.0.0.1', `POST /api/v1/sessions HTTP/1.1\r\nHost: relay\r\nX-Forwarded-For: 10.0.${i}.1\r\n`));
      }

      // Another address still gets answers: health, and a session for a legitimate share.
      const health = await apiFrom(relay, '127.0.0.2', 'GET', '/healthz');
      assert.equal(health.status, 200, '/healthz from another address');
      const created = await apiFrom(relay, '127.0.0.2', 'POST', '/api/v1/sessions', { token: relay.tokens.agent, body: { protocol: 'kubepair/1' } });
      assert.equal(created.status, 201, `a share from another address creates its session: ${JSON.stringify(created.body)}`);

      // Every attacking connection is closed by the relay: those over the cap at once, without a
      // byte; those admitted when --head-timeout (1 s) runs out, with a 408. Bounded wait: 15 s.
      await within(15_000, 'the relay to close every partial-head connection', Promise.all(attack.map((conn) => conn.closed)));
      const timedOut = attack.filter((conn) => conn.received.startsWith('HTTP/1.1 408 '));
      const refused = attack.filter((conn) => conn.received === '');
      assert.equal(timedOut.length, PER_ADDRESS, 'the connections admitted under the cap end with 408 at the head timeout');
      assert.ok(timedOut.includes(attack[0] as Slowloris), 'the unfinished WebSocket upgrade head too');
      assert.equal(refused.length, MAX_CONNECTIONS - PER_ADDRESS, 'the rest were refused by the cap (X-Forwarded-For does not change the TCP peer)');
      assert.equal(await metric(relay, 'kubepair_relay_limit_hits_total', '{limit="connections_per_address"}', '127.0.0.2'), MAX_CONNECTIONS - PER_ADDRESS);

      // The slots are free again: the attacker's address itself is served normally.
      assert.equal((await apiFrom(relay, '127.0.0.1', 'GET', '/healthz')).status, 200);
    } finally {
      for (const conn of attack) conn.socket.destroy();
      await relay.dispose();
    }
  });

  it('a TLS connection that never starts its handshake is closed within --head-timeout too', { timeout: 60_000 }, async () => {
    const relay = await startRelay({
      args: [
        '--tls-cert', repoPath('test/fixtures/relay-tls/loopback.crt'),
        '--tls-key', repoPath('test/fixtures/relay-tls/loopback.key'),
        '--head-timeout', '1s',
        '--request-timeout', '2s',
      ],
    });
    let silent: Slowloris | undefined;
    try {
      assert.match(relay.url, /^https:/);
      silent = await slowloris(relay.port, '127.0.0.1', '');
      // Node's own default would hold it for 120 s.
      await within(15_000, 'the relay to close a connection without a ClientHello', silent.closed);
      assert.equal(silent.received, '', 'nothing is sent to a client that never spoke TLS');
    } finally {
      silent?.socket.destroy();
      await relay.dispose();
    }
  });
});
