/**
 * SessionBroker shutdown against a socket whose attach is still in flight in the session store
 * (src/relay/session-broker.ts, docs/design.md §3 "Shutdown"): a socket the store had not yet
 * attached when shutdown began is waited for like the sockets already there and hears `expiring`
 * as they did; one whose attach outlasts the grace is closed with 4503 like them. A store whose `attach` waits at a gate makes the
 * interleaving certain (with Redis the window is a round trip; CI hit it). Real WebSockets on
 * 127.0.0.1 into a real broker, memory store, audit log and metrics.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { MemorySessionStore } from '../../../src/relay/memory-session-store.js';
import { RelayAudit } from '../../../src/relay/relay-audit.js';
import { createRelayLogger } from '../../../src/relay/relay-log.js';
import { RelayMetrics } from '../../../src/relay/relay-metrics.js';
import { DEFAULT_RELAY_LIMITS } from '../../../src/relay/relay-options.js';
import { newSessionId } from '../../../src/relay/secrets.js';
import { SessionBroker } from '../../../src/relay/session-broker.js';
import type { SessionRecord } from '../../../src/relay/session-store.js';
import { privateTempDir } from '../../helpers/relay-process.js';
import { TEST_KEY_EXPIRY, TEST_SESSION_POLICY, actor, digest } from '../../helpers/session-store-fixture.js';
import { within } from '../../helpers/wait-until.js';

/** A memory store whose attach waits until the test opens the gate. */
class GatedStore extends MemorySessionStore {
  #gate: Promise<void> = Promise.resolve();
  #open: () => void = () => undefined;
  attaching = 0;

  hold(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }

  release(): void {
    this.#open();
  }

  override async attach(...args: Parameters<MemorySessionStore['attach']>): ReturnType<MemorySessionStore['attach']> {
    this.attaching++;
    await this.#gate;
    return super.attach(...args);
  }
}

const ANSWER_MS = 10_000;
/** Far from the session's own expiry (TEST_SESSION_POLICY: 60 s unpaired), so the two `expiring` times differ. */
const GRACE_MS = 600_000;
/** A grace the gated attach outlasts. */
const SHORT_GRACE_MS = 200;

describe('Security: a socket attaching while the relay shuts down', { timeout: 60_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await privateTempDir('kubepair-broker-shutdown-');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A broker over a gated store, a WebSocket server that admits every socket as the agent of one session, and a client socket. */
  async function setUp(name: string): Promise<{ store: GatedStore; broker: SessionBroker; client: WebSocket; controls: Array<Record<string, unknown>>; closed: Promise<number>; admitted: Promise<unknown>; close(): Promise<void> }> {
    const store = new GatedStore(TEST_SESSION_POLICY);
    const log = createRelayLogger('silent');
    const audit = await RelayAudit.open({ path: join(dir, `${name}.audit.jsonl`), logger: log, backlog: 64 });
    const metrics = new RelayMetrics({ sessionCounts: () => store.counts(), openSockets: () => ({ agent: 0, client: 0 }), queuedBytes: () => 0, clusterLinks: () => ({ out: 0, in: 0 }) });
    const broker = new SessionBroker({ store, metrics, audit, log, limits: DEFAULT_RELAY_LIMITS, durableKeys: false });
    const agentKey = digest();
    const session: SessionRecord = await store.create({ id: newSessionId(), agentKeyDigest: agentKey, keyExpiresAt: TEST_KEY_EXPIRY, creator: actor });
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    let admit: (value: unknown) => void = () => undefined;
    const admitted = new Promise((resolve) => (admit = resolve));
    wss.on('connection', (ws) => {
      admit(broker.admit(ws, { role: 'agent', session, address: '127.0.0.1', tokenName: null, keyDigest: agentKey }));
    });
    store.hold();
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`);
    const controls: Array<Record<string, unknown>> = [];
    client.on('message', (data: Buffer, isBinary) => {
      if (!isBinary) controls.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>);
    });
    const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve());
      client.once('error', reject);
    });
    return {
      store,
      broker,
      client,
      controls,
      closed,
      admitted,
      async close() {
        client.terminate();
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        await store.close();
        await audit.close();
      },
    };
  }

  async function attachStarted(store: GatedStore): Promise<void> {
    const deadline = Date.now() + ANSWER_MS;
    while (store.attaching === 0) {
      if (Date.now() > deadline) throw new Error('the broker never asked the store to attach the socket');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('a socket attached after shutdown began, the only one, is waited for, told expiring at the end of the grace and kept', async () => {
    const set = await setUp('told');
    const { store, broker, client, controls, admitted } = set;
    try {
      await attachStarted(store);
      const began = Date.now();
      const shutdown = broker.shutdown(GRACE_MS);
      store.release();
      await within(ANSWER_MS, 'the admission', admitted);
      await within(ANSWER_MS, 'expiring', (async () => {
        while (!controls.some((c) => c['type'] === 'expiring')) await new Promise((resolve) => setTimeout(resolve, 10));
      })());
      const expiring = controls.find((c) => c['type'] === 'expiring')!;
      assert.ok(Date.parse(String(expiring['at'])) >= began + GRACE_MS - 1_000, `expiring at the end of the grace: ${String(expiring['at'])}`);
      assert.equal(client.readyState, WebSocket.OPEN, 'kept for the grace');
      let shutDown = false;
      void shutdown.then(() => (shutDown = true));
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(shutDown, false, 'the shutdown waits for the socket');
      client.close(1000);
      await within(ANSWER_MS, 'the shutdown once the socket left', shutdown);
    } finally {
      await set.close();
    }
  });

  it('a socket whose attach outlasts the grace is closed with 4503 like the others', async () => {
    const set = await setUp('closed');
    const { store, broker, closed, admitted } = set;
    try {
      await attachStarted(store);
      // The attach outlasts a short grace: the broker has closed what is left when it completes.
      const shutdown = broker.shutdown(SHORT_GRACE_MS);
      await new Promise((resolve) => setTimeout(resolve, 2 * SHORT_GRACE_MS));
      store.release();
      await within(ANSWER_MS, 'the admission', admitted);
      assert.equal(await within(ANSWER_MS, 'the close', closed), 4503);
      await within(ANSWER_MS, 'the shutdown', shutdown);
    } finally {
      await set.close();
    }
  });
});
