/**
 * Liveness of the relay's peers with one sweep per node (src/relay/peer-connection.ts,
 * src/relay/liveness-sweep.ts; seeds/003 "deadlines"), on real WebSockets on 127.0.0.1: every
 * socket of a node is watched by the same timer, a peer that answers nothing is dropped, and a
 * peer the relay stopped reading (backpressure) is not, until the relay reads it again.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { LivenessSweep } from '../../../src/relay/liveness-sweep.js';
import { PeerConnection } from '../../../src/relay/peer-connection.js';
import type { PeerEvents, PeerIdentity } from '../../../src/relay/peer-connection.js';
import { waitUntil } from '../../helpers/wait-until.js';

const IDENTITY: PeerIdentity = { role: 'agent', sessionId: 'AAAAAAAAAAAAAAAAAAAAAA', address: '127.0.0.1', tokenName: null, clientKeyDigest: undefined };
const WAIT_MS = 15_000;

/** `count` client sockets to a WebSocket server on 127.0.0.1, each with its server side as a PeerConnection (not yet watched). */
async function sockets(count: number, events: PeerEvents): Promise<{ clients: WebSocket[]; peers: PeerConnection[]; closed: () => number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const peers: PeerConnection[] = [];
  let closed = 0;
  wss.on('connection', (ws) => {
    peers.push(new PeerConnection(ws, IDENTITY, events));
    ws.on('close', () => closed++);
  });
  const port = (wss.address() as AddressInfo).port;
  const clients: WebSocket[] = [];
  for (let i = 0; i < count; i++) {
    const client = new WebSocket(`ws://127.0.0.1:${port}/`);
    client.on('error', () => undefined);
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve());
      client.once('error', reject);
    });
  }
  await waitUntil(() => peers.length === count, WAIT_MS, `${count} accepted sockets`);
  return {
    clients,
    peers,
    closed: () => closed,
    async close() {
      for (const client of clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function eventsRecordingSilence(silent: PeerConnection[]): PeerEvents {
  return {
    message: () => undefined,
    binaryFrame: () => undefined,
    closed: () => undefined,
    error: () => undefined,
    silent: (peer) => {
      silent.push(peer);
      peer.terminate();
    },
  };
}

const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('relay peer liveness: one sweep per node', { timeout: 120_000 }, () => {
  it('many sockets, one timer: 200 watched sockets add one timer to the process, and none is left once they closed', { timeout: 60_000 }, async () => {
    const sweep = new LivenessSweep({ pingIntervalMs: 60_000, silenceMs: 180_000 });
    const set = await sockets(200, eventsRecordingSilence([]));
    try {
      const before = timers();
      for (const peer of set.peers) peer.startLiveness(sweep);
      assert.equal(sweep.watching, 200);
      assert.equal(timers(), before + 1, 'one timer for 200 sockets (a timer per socket would add 200)');
      for (const client of set.clients) client.terminate();
      await waitUntil(() => set.closed() === 200, WAIT_MS, 'every server-side socket closed');
      assert.equal(sweep.watching, 0, 'a closed socket leaves the sweep');
      assert.equal(timers(), before, 'the sweep stops its timer once it watches nobody');
    } finally {
      await set.close();
    }
  });

  it('a peer that answers no ping is dropped; a peer the relay stopped reading is kept until the relay reads it again', { timeout: 60_000 }, async () => {
    const silenceMs = 400;
    const sweep = new LivenessSweep({ pingIntervalMs: 100, silenceMs });
    const silent: PeerConnection[] = [];
    const set = await sockets(2, eventsRecordingSilence(silent));
    try {
      // Neither client reads its socket any more, so neither answers a ping.
      for (const client of set.clients) client.pause();
      const [dead, backpressured] = set.peers as [PeerConnection, PeerConnection];
      backpressured.pauseReading(); // the relay stopped reading this one: its pongs could not arrive anyway
      dead.startLiveness(sweep);
      backpressured.startLiveness(sweep);
      await waitUntil(() => silent.includes(dead), WAIT_MS, 'the peer that answers nothing to be dropped');
      // Twice the silence limit more: the backpressured peer has been silent far longer than the limit by now.
      await new Promise((resolve) => setTimeout(resolve, 2 * silenceMs));
      assert.equal(silent.includes(backpressured), false, 'not dropped while the relay does not read it');
      assert.equal(backpressured.open, true);
      backpressured.resumeReading(); // its client still reads nothing, so from now on it is silent
      await waitUntil(() => silent.includes(backpressured), WAIT_MS, 'the peer to be dropped once read again and still silent');
      assert.deepEqual(silent, [dead, backpressured], 'each reported once');
    } finally {
      await set.close();
    }
  });
});
