/** HTTP/2 CONNECT multiplexing over the secure channel (docs/design.md §5). */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { Duplex } from 'node:stream';
import { isKubepairError } from '../../../src/errors/index.js';
import type { GateVerdict, StreamGate, StreamOutcome, TargetHandler } from '../../../src/mux/index.js';
import { performServerHandshake } from 'node:http2';
import { MuxClient, MuxServer, STREAM_REFUSAL_HEADER } from '../../../src/mux/index.js';
import { pairedChannels, within } from '../../helpers/channel-pair.js';
import { waitUntil } from '../../helpers/wait-until.js';

const echo: TargetHandler = (stream) => {
  stream.pipe(stream);
};

async function setup(targets: Record<string, TargetHandler>, gate?: StreamGate) {
  const { agent, client } = await within(pairedChannels(), 5000, 'pairing');
  const server = new MuxServer(agent, { targets: new Map(Object.entries(targets)), ...(gate !== undefined && { gate }) });
  const mux = new MuxClient(client);
  const close = (): void => {
    mux.close();
    server.close();
    agent.close();
    client.close();
  };
  return { agent, client, server, mux, close };
}

async function readAll(stream: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(stream, 'end');
  return Buffer.concat(chunks);
}

describe('mux: CONNECT streams over the secure channel', () => {
  it('opens a stream to an offered target and carries bytes both ways', async () => {
    const t = await setup({ 'kube-apiserver': echo });
    const stream = await within(t.mux.openStream('kube-apiserver'), 5000, 'open');
    const payload = randomBytes(2 * 1024 * 1024);
    const received = readAll(stream);
    stream.end(payload);
    assert.ok((await within(received, 10_000, 'echo')).equals(payload), 'echoed bytes are identical');
    t.close();
  });

  it('Security: a target the agent did not offer is refused before anything is dialled', async () => {
    let dialled = 0;
    const t = await setup({
      'kube-apiserver': () => {
        dialled++;
      },
    });
    const refused: string[] = [];
    t.server.on('refused', (info) => refused.push(`${info.method} ${info.target} ${info.status}`));
    await assert.rejects(t.mux.openStream('redis'), (err) => isKubepairError(err, 'KP_ERR_MUX_TARGET_UNKNOWN'));
    await assert.rejects(t.mux.openStream('Kube-Apiserver'), (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'));
    assert.equal(dialled, 0);
    assert.deepEqual(refused, ['CONNECT redis 404']);
    t.close();
  });

  it('50 parallel streams each get their own bytes back', async () => {
    const t = await setup({ 'kube-apiserver': echo });
    const results = await within(
      Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const stream = await t.mux.openStream('kube-apiserver');
          const payload = Buffer.from(`stream ${i} `.repeat(1000 + i));
          const received = readAll(stream);
          stream.end(payload);
          return (await received).equals(payload);
        }),
      ),
      15_000,
      '50 streams',
    );
    assert.ok(results.every(Boolean), 'every stream echoed exactly its own payload');
    t.close();
  });

  it('half-close: the client ends its side and still receives the agent\'s reply', async () => {
    const t = await setup({
      'kube-apiserver': (stream) => {
        const hash = createHash('sha256');
        stream.on('data', (chunk: Buffer) => hash.update(chunk));
        stream.on('end', () => stream.end(`sha256=${hash.digest('hex')}`));
      },
    });
    const stream = await t.mux.openStream('kube-apiserver');
    const payload = randomBytes(100_000);
    const received = readAll(stream);
    stream.end(payload);
    assert.equal((await within(received, 5000, 'reply after half-close')).toString(), `sha256=${createHash('sha256').update(payload).digest('hex')}`);
    t.close();
  });

  it('a stream whose reader stops does not stall the others (per-stream flow control)', async () => {
    const t = await setup({
      // The agent side floods every stream with 16 MiB.
      'kube-apiserver': (stream) => {
        const chunk = Buffer.alloc(64 * 1024, 7);
        let left = 256;
        const pump = (): void => {
          while (left > 0) {
            left--;
            if (!stream.write(chunk)) {
              stream.once('drain', pump);
              return;
            }
          }
          stream.end();
        };
        pump();
      },
    });
    const stalled = await t.mux.openStream('kube-apiserver');
    stalled.pause(); // never read
    const others = await within(
      Promise.all(
        Array.from({ length: 3 }, async () => {
          const stream = await t.mux.openStream('kube-apiserver');
          return (await readAll(stream)).length;
        }),
      ),
      20_000,
      'other streams complete while one is stalled',
    );
    assert.deepEqual(others, [16 * 1024 * 1024, 16 * 1024 * 1024, 16 * 1024 * 1024]);
    stalled.destroy();
    t.close();
  });

  it('PING measures a round trip; a closed channel fails new streams with KP_ERR_MUX_CLOSED', async () => {
    const t = await setup({ 'kube-apiserver': echo });
    assert.ok((await within(t.mux.ping(), 5000, 'ping')) >= 0);
    t.client.close();
    await t.client.closed;
    await assert.rejects(t.mux.openStream('kube-apiserver'), (err) => isKubepairError(err, 'KP_ERR_MUX_CLOSED'));
    t.close();
  });

  it('Security: a channel that closes before HTTP/2 has connected ends both ends quietly, with no uncaught exception', async () => {
    // A peer or the relay hanging up right after the session was established: this once threw
    // from the HTTP/2 'connect' handler and ended the share process.
    const { agent, client } = await within(pairedChannels(), 5000, 'pairing');
    const server = new MuxServer(agent, { targets: new Map([['kube-apiserver', echo]]) });
    const serverClosed = once(server, 'close');
    const mux = new MuxClient(client);
    agent.close();
    client.close();
    await within(serverClosed, 5000, 'the server side to close');
    // Let every event HTTP/2 had queued run: a throwing 'connect' handler would surface here.
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(mux.openStream('kube-apiserver'), (err) => isKubepairError(err, 'KP_ERR_MUX_CLOSED'));
  });
});

describe('mux: the gate every stream to every target passes before it is answered', () => {
  /** A gate that admits or refuses by target and records what it was told. */
  function recordingGate(refuse: ReadonlySet<string>): StreamGate & { admitted: string[]; ended: Array<[string, StreamOutcome]> } {
    const admitted: string[] = [];
    const ended: Array<[string, StreamOutcome]> = [];
    return {
      admitted,
      ended,
      admit(info): Promise<GateVerdict> {
        if (refuse.has(info.target)) return Promise.resolve({ admitted: false, reason: 'audit-unavailable' });
        admitted.push(`${info.target}#${info.streamId}`);
        return Promise.resolve({ admitted: true, end: (outcome) => ended.push([`${info.target}#${info.streamId}`, outcome]) });
      },
    };
  }

  it('Security: a refused stream never reaches its handler, and the client gets the reason\'s own error', async () => {
    let served = 0;
    const gate = recordingGate(new Set(['redis']));
    const t = await setup(
      {
        'kube-apiserver': echo,
        redis: () => {
          served++;
        },
      },
      gate,
    );
    const refused: string[] = [];
    t.server.on('refused', (info) => refused.push(`${info.method} ${info.target} ${info.status} ${info.reason ?? ''}`));
    await assert.rejects(t.mux.openStream('redis'), (err) => isKubepairError(err, 'KP_ERR_MUX_AUDIT_UNAVAILABLE') && err.message === 'the agent cannot write its audit log, so it refuses new connections (fail closed)');
    assert.equal(served, 0, 'the handler never ran');
    assert.deepEqual(refused, ['CONNECT redis 503 audit-unavailable']);
    const stream = await t.mux.openStream('kube-apiserver');
    const received = readAll(stream);
    stream.end('through the gate');
    assert.equal((await within(received, 5000, 'echo')).toString(), 'through the gate', 'other targets still pass');
    await waitUntil(() => gate.ended.length === 1, 5000, 'the admitted stream to end');
    assert.deepEqual(gate.admitted, [gate.ended[0]?.[0]], 'the admitted stream is ended once');
    t.close();
  });

  it('a handler\'s resolved outcome ends the stream at the gate; a handler without one is ended when the stream closes', async () => {
    const gate = recordingGate(new Set());
    const t = await setup(
      {
        counted: (stream) =>
          new Promise<StreamOutcome>((resolve) => {
            let bytes = 0;
            stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
            stream.on('end', () => {
              stream.end();
              resolve({ bytesIn: bytes, bytesOut: 0 });
            });
          }),
        'kube-apiserver': echo,
      },
      gate,
    );
    const counted = await t.mux.openStream('counted');
    const countedDone = readAll(counted);
    counted.end(Buffer.alloc(1234));
    await within(countedDone, 5000, 'counted stream');
    const plain = await t.mux.openStream('kube-apiserver');
    const plainDone = readAll(plain);
    plain.end('x');
    await within(plainDone, 5000, 'plain stream');
    await waitUntil(() => gate.ended.length === 2, 5000, 'both streams to end');
    const byTarget: Record<string, StreamOutcome> = Object.fromEntries(gate.ended.map(([name, outcome]): [string, StreamOutcome] => [name.split('#')[0] ?? '', outcome]));
    assert.deepEqual(byTarget, { counted: { bytesIn: 1234, bytesOut: 0 }, 'kube-apiserver': {} });
    t.close();
  });

  it('a stream the client leaves while the gate decides is ended at the gate and never served', async () => {
    let served = 0;
    let release: () => void = () => undefined;
    const decided = new Promise<void>((resolve) => (release = resolve));
    const ended: StreamOutcome[] = [];
    let asked = false;
    const gate: StreamGate = {
      async admit() {
        asked = true;
        await decided;
        return { admitted: true, end: (outcome) => ended.push(outcome) };
      },
    };
    const t = await setup(
      {
        'kube-apiserver': () => {
          served++;
        },
      },
      gate,
    );
    const controller = new AbortController();
    const opening = t.mux.openStream('kube-apiserver', { signal: controller.signal });
    opening.catch(() => undefined);
    await waitUntil(() => asked, 5000, 'the gate to be asked');
    controller.abort();
    await assert.rejects(opening);
    // HTTP/2 frames arrive in order: once a PING sent after the reset comes back, the agent has
    // processed the reset.
    await within(t.mux.ping(), 5000, 'ping after the reset');
    release();
    await waitUntil(() => ended.length === 1, 5000, 'the abandoned stream to end at the gate');
    assert.equal(served, 0, 'never handed to the target');
    assert.match(ended[0]?.error?.message ?? '', /the client left before the stream was answered/);
    t.close();
  });

  it('Security: a refusal reason the client does not know is reported by status only, never with the agent\'s text', async () => {
    const { agent, client } = await within(pairedChannels(), 5000, 'pairing');
    const session = performServerHandshake(agent.mux);
    session.on('stream', (stream) => {
      stream.respond({ ':status': 503, [STREAM_REFUSAL_HEADER]: 'x\u001b]52;c;ZXZpbA==\u0007' }, { endStream: true });
    });
    const mux = new MuxClient(client);
    await assert.rejects(
      mux.openStream('kube-apiserver'),
      (err) => isKubepairError(err, 'KP_ERR_MUX_STREAM_FAILED') && err.message === 'a tunnelled connection failed: the agent answered 503 for "kube-apiserver"',
    );
    mux.close();
    session.destroy();
    agent.close();
    client.close();
  });
});
