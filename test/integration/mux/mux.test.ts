/** HTTP/2 CONNECT multiplexing over the secure channel (DESIGN §5). */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { Duplex } from 'node:stream';
import { isKubepairError } from '../../../src/errors/index.js';
import type { TargetHandler } from '../../../src/mux/index.js';
import { MuxClient, MuxServer } from '../../../src/mux/index.js';
import { pairedChannels, within } from '../../helpers/channel-pair.js';

const echo: TargetHandler = (stream) => stream.pipe(stream);

async function setup(targets: Record<string, TargetHandler>) {
  const { agent, client } = await within(pairedChannels(), 5000, 'pairing');
  const server = new MuxServer(agent, { targets: new Map(Object.entries(targets)) });
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
    const t = await setup({ 'kube-apiserver': () => dialled++ });
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

});
